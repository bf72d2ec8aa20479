"""Alembic scripts for the cbec store; run through :func:`cbec.store.db.upgrade`, no alembic.ini needed."""
