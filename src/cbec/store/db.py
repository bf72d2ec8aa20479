"""Opening the database: URL, engine with the right SQLite settings, migrations to head.

SQLite is the zero-setup default; PostgreSQL is selected by URL alone.  Everything that makes SQLite safe
for several processes lives here, in one place:

* WAL, so readers never block the writer and a crash loses at most uncommitted work;
* ``synchronous=NORMAL`` by default (durable across application crashes, may lose the last transactions on
  power loss; set ``CBEC_SQLITE_SYNCHRONOUS=FULL`` where that matters more than throughput);
* ``foreign_keys=ON`` (off by default in SQLite) and a 10 s ``busy_timeout`` so concurrent writers queue
  instead of failing;
* SQLAlchemy, not the ``sqlite3`` module, decides where transactions begin.  The module's legacy mode
  starts a transaction only at the first INSERT/UPDATE/DELETE, so SELECTs and DDL escape the transaction,
  and a transaction that read first and writes later can fail with "database is locked" without waiting.
  Transactions therefore start with ``BEGIN IMMEDIATE`` (take the write lock up front, wait for it under
  ``busy_timeout``).  Read-only work can use :func:`reader` to begin DEFERRED and not queue behind writers.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

log = logging.getLogger(__name__)

ENV_DATABASE_URL = "CBEC_DATABASE_URL"
ENV_SQLITE_SYNCHRONOUS = "CBEC_SQLITE_SYNCHRONOUS"

#: Execution option naming how a SQLite transaction begins: ``IMMEDIATE`` (default), ``DEFERRED`` or
#: ``EXCLUSIVE``.  Ignored on other databases.
SQLITE_BEGIN = "cbec_sqlite_begin"

#: Execution option: take SQLite's write lock by polling every millisecond (see ``_begin_polling``).
SQLITE_POLL_LOCK = "cbec_sqlite_poll_lock"

BUSY_TIMEOUT_MS = 10_000
MIN_SQLITE = (3, 35, 0)  # INSERT … RETURNING
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA", "0", "1", "2", "3"}
_BEGIN_MODES = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}


def database_url() -> str:
    """``$CBEC_DATABASE_URL``, else a SQLite file ``var/cbec.db`` under the current directory."""
    url = os.environ.get(ENV_DATABASE_URL)
    if url:
        return url
    path = Path.cwd() / "var" / "cbec.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory or ``file:`` URI database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def beside_database(main_url: str, suffix: str) -> Path | None:
    """A side file of a SQLite database file (``<db><suffix>``: the intake spool, the gate journal); None for
    PostgreSQL or an in-memory database, which need none."""
    url = make_url(main_url)
    if url.get_backend_name() != "sqlite":
        return None
    file = sqlite_file(url)
    return None if file is None else file.with_name(file.name + suffix)


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """The database driver's own cursor, in the connection's transaction, closed after use.

    For statements on a hot path (acknowledgements, the gate, bulk inserts): SQLAlchemy's statement building,
    execution context and result wrapper cost several times what the database takes to run them.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def fetch_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """The rows of one read on the driver's own cursor (:func:`driver_cursor`), in the connection's
    transaction.

    ``exec_driver_sql`` would give the same rows (driver SQL gets no type processing either way), but its
    execution context, events and result wrapper cost several times what SQLite takes to answer an indexed
    look-up: this is for reads on a hot path (the gate, once per statement and vehicle; clearance's key
    look-ups, once per batch)."""
    with driver_cursor(conn) as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


ENV_SQLITE_CACHE_MB = "CBEC_SQLITE_CACHE_MB"


def _cache_kib() -> int:
    """Page cache per connection, in KiB (``$CBEC_SQLITE_CACHE_MB``, default 256 MiB)."""
    value = os.environ.get(ENV_SQLITE_CACHE_MB, "256").strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV_SQLITE_CACHE_MB}={value!r}: expected a whole number of megabytes (≥ 1)")
    return int(value) * 1024


def _synchronous() -> str:
    value = os.environ.get(ENV_SQLITE_SYNCHRONOUS, "NORMAL").strip().upper()
    if value not in _SYNCHRONOUS:
        raise ValueError(f"{ENV_SQLITE_SYNCHRONOUS}={value!r}: expected one of OFF, NORMAL, FULL, EXTRA")
    return value


def _install_sqlite_hooks(engine: Engine, synchronous: str, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to SQLAlchemy (see module docstring), then set the per-connection
        # PRAGMAs.  busy_timeout goes first so that switching to WAL waits for other connections.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal" and not in_memory:
                log.warning("SQLite refused WAL (journal_mode=%s); concurrent readers will block", mode)
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
            # SQLite's default page cache is 2 MiB: once the unique indexes (random guids) outgrow it, every
            # insert reads pages back through the OS.  A larger cache keeps them in memory.
            cursor.execute(f"PRAGMA cache_size = -{_cache_kib()}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        mode = str(options.get(SQLITE_BEGIN, "IMMEDIATE")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{SQLITE_BEGIN}={mode!r}: expected one of {sorted(_BEGIN_MODES)}")
        if mode != "DEFERRED" and options.get(SQLITE_POLL_LOCK):
            _begin_polling(conn, mode)
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")


def _begin_polling(conn: Connection, mode: str) -> None:
    """Take the write lock by trying every millisecond instead of through SQLite's busy handler.

    The busy handler sleeps in growing steps (up to 100 ms), so a writer that waits for a 30 ms
    transaction may wake up long after the lock is free.  Short, latency-sensitive transactions (the
    service's inbox writes) poll instead, for at most the usual busy timeout.
    """
    raw = conn.connection.dbapi_connection
    assert raw is not None
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.exec_driver_sql(f"BEGIN {mode}")
                return
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.001)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def connect(
    url: str | URL | None = None,
    *,
    create: bool = True,
    background_checkpoints: bool = False,
    **engine_options: Any,
) -> Engine:
    """An engine for ``url`` (default :func:`database_url`), migrated to head when ``create``.

    ``engine_options`` go to :func:`sqlalchemy.create_engine` (``echo``, pool sizes, …).  Migrating on
    connect is safe with several processes starting at once: SQLite serialises the migrating transactions
    with ``BEGIN IMMEDIATE`` and PostgreSQL with an advisory lock (see ``migrations/env.py``).

    ``background_checkpoints`` (SQLite): commits no longer copy the write-ahead log into the database file
    (SQLite does that, with an fsync, in whichever commit crosses 1,000 pages, while holding the write
    lock); the caller runs :class:`cbec.store.checkpoints.Checkpointer` instead, which does it beside the
    writers.  The service uses this so that its inbox writes do not wait behind a checkpoint.
    """
    parsed = make_url(url if url is not None else database_url())
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} is too old: cbec.store needs "
                f"{'.'.join(map(str, MIN_SQLITE))}+ for INSERT … RETURNING"
            )
        file = sqlite_file(parsed)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        elif "poolclass" not in engine_options and (not parsed.database or parsed.database == ":memory:"):
            # One private in-memory database per connection is useless; share one (tests, demos).
            engine_options["poolclass"] = StaticPool
            engine_options.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(parsed, **engine_options)
        _install_sqlite_hooks(engine, _synchronous(), in_memory=file is None)
        if background_checkpoints:

            @event.listens_for(engine, "connect")
            def _no_autocheckpoint(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
                dbapi_connection.execute("PRAGMA wal_autocheckpoint = 0")

    elif backend == "postgresql":
        engine_options.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, **engine_options)
    else:
        raise ValueError(f"unsupported database {backend!r}: cbec.store runs on sqlite or postgresql")
    if create:
        upgrade(engine)
    return engine


def reader(engine: Engine) -> Engine:
    """The same engine, but SQLite transactions begin DEFERRED: for read-only work (console, statistics).

    A deferred transaction that later writes may fail with "database is locked" instead of waiting, so
    use this only where nothing is written.  Shares the connection pool with ``engine``.
    """
    return engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration built in code (no alembic.ini): the scripts shipped inside the package.

    ``url`` is used only when Alembic opens the database itself (command line, offline SQL); the
    programmatic path passes a connection in ``config.attributes["connection"]``.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Revision files are importable module names (mypy and ruff check them like any module).
    cfg.set_main_option("file_template", "rev_%%(rev)s_%%(slug)s")
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision`` in one transaction: a failed migration leaves the database as it was."""
    _migrate(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate down to ``revision`` (``"base"`` drops every table); for tests and rollbacks."""
    _migrate(engine, lambda cfg: command.downgrade(cfg, revision))


def _migrate(engine: Engine, run: Callable[[Config], None]) -> None:
    """Run Alembic on one connection, in one transaction.

    SQLite changes most constraints only by rebuilding a table (copy, drop, rename).  Dropping a table that
    other tables' rows refer to fails while foreign keys are enforced, and enforcement cannot be switched off
    inside a transaction.  So, as SQLite's documentation prescribes for such changes, it is switched off
    before the transaction begins, the references are checked (``PRAGMA foreign_key_check``) before it
    commits — a migration that broke one is rolled back — and it is switched on again afterwards.
    """
    cfg = alembic_config()
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys = OFF")  # no transaction is open yet (isolation_level None)
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                run(cfg)
                if raw is not None:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(
                            f"migration left {len(broken)} rows referring to missing rows"
                            f" (first: {broken[0]}) / 迁移后存在引用缺失记录的行，已回滚"
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys = ON")


def head_revision() -> str | None:
    """The newest revision shipped with this version of cbec."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with reader(engine).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
