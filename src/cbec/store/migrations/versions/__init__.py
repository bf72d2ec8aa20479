"""Alembic revisions, oldest first: ``rev_<id>_<slug>.py``.  Alembic skips this file."""
