"""Alembic environment: migrate the connection handed over by :func:`cbec.store.db.upgrade`.

When Alembic is run from the command line (``python -m cbec.store …``) no connection is handed over and
one is opened with :func:`cbec.store.db.connect`, so the same SQLite PRAGMAs and transaction handling apply.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from cbec.store.db import connect, database_url
from cbec.store.schema import metadata

# pg_advisory_xact_lock key ("cbec" in ASCII): serialises processes that migrate the same PostgreSQL
# database at start-up.  The lock is taken inside the migrating transaction and released at its end.
_PG_MIGRATION_LOCK = 0x63626563


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table instead
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        context.run_migrations()


def _online() -> None:
    handed_over = context.config.attributes.get("connection")
    if handed_over is not None:
        _migrate(handed_over)
        return
    engine = connect(context.config.get_main_option("sqlalchemy.url") or database_url(), create=False)
    try:
        with engine.begin() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


def _offline() -> None:
    """Emit the SQL instead of running it (``--sql``), for a DBA to review and apply."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url") or database_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _offline()
else:
    _online()
