"""The migrations build exactly ``schema.metadata``, and ``connect`` sets up SQLite as documented."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Engine, UniqueConstraint, create_engine, inspect, text

from cbec.store import connect, current_revision, db, documents, downgrade, head_revision, upgrade
from cbec.store.guid_hash import guid_hash
from cbec.store.schema import metadata


def _described(engine: Engine) -> dict[str, Any]:
    """Tables, columns, keys, uniques, indexes and checks as the database reports them, normalised."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for name in sorted(set(insp.get_table_names()) - {"alembic_version"}):
        out[name] = {
            "columns": [(c["name"], c["nullable"]) for c in insp.get_columns(name)],
            "pk": (insp.get_pk_constraint(name)["name"], insp.get_pk_constraint(name)["constrained_columns"]),
            "fks": sorted(
                (
                    fk["name"],
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in insp.get_foreign_keys(name)
            ),
            "uniques": sorted(
                (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(name)
                if not i.get("duplicates_constraint")  # PostgreSQL lists a unique's index as well
            ),
            "checks": sorted(str(c["name"]) for c in insp.get_check_constraints(name)),
        }
    return out


def _expected() -> dict[str, Any]:
    """The same description taken from ``schema.metadata`` itself."""
    out: dict[str, Any] = {}
    for table in metadata.sorted_tables:
        out[table.name] = {
            "columns": [(c.name, c.nullable) for c in table.columns],
            "pk": (table.primary_key.name, [c.name for c in table.primary_key.columns]),
            "fks": sorted(
                (
                    fk.name,
                    tuple(c.name for c in fk.columns),
                    fk.referred_table.name,
                    tuple(e.column.name for e in fk.elements),
                )
                for fk in table.foreign_key_constraints
            ),
            "uniques": sorted(
                (c.name, tuple(col.name for col in c.columns))
                for c in table.constraints
                if isinstance(c, UniqueConstraint)
            ),
            "indexes": sorted(
                (i.name, tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes
            ),
            "checks": sorted(str(c.name) for c in table.constraints if isinstance(c, CheckConstraint)),
        }
    return dict(sorted(out.items()))


def test_migrations_build_exactly_the_metadata(engine: Engine) -> None:
    assert current_revision(engine) == head_revision() is not None
    assert _described(engine) == _expected()
    # Alembic's own comparison adds column types (and anything the description above misses).
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_migrated_sqlite_equals_create_all(tmp_path: Path) -> None:
    """On SQLite also compare full reflections, types included, with a database made by create_all."""
    migrated = connect(f"sqlite:///{tmp_path / 'migrated.db'}")
    created = create_engine(f"sqlite:///{tmp_path / 'created.db'}")
    metadata.create_all(created)

    def reflect(engine: Engine) -> dict[str, Any]:
        insp = inspect(engine)
        return {
            t: [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)]
            for t in insp.get_table_names()
            if t != "alembic_version"
        }

    assert reflect(migrated) == reflect(created)
    assert _described(migrated) == _described(created)


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None
    upgrade(engine)
    assert _described(engine) == _expected()


def test_connect_is_idempotent(db_url: str) -> None:
    first = connect(db_url)
    second = connect(db_url)  # already at head: migrating again must change nothing
    assert current_revision(second) == head_revision()
    first.dispose()
    second.dispose()


def _connect_and_report(url: str) -> str | None:
    engine = connect(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_concurrent_first_connects_migrate_once(tmp_path: Path) -> None:
    """Several processes starting on a fresh database: one migrates, the others wait and find it done."""
    url = f"sqlite:///{tmp_path / 'fresh' / 'cbec.db'}"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        revisions = pool.map(_connect_and_report, [url] * 3)
    assert revisions == [head_revision()] * 3


def test_sqlite_pragmas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(db.ENV_SQLITE_SYNCHRONOUS, "full")
    engine = connect(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 10_000}
    monkeypatch.setenv(db.ENV_SQLITE_SYNCHRONOUS, "sometimes")
    with pytest.raises(ValueError, match="CBEC_SQLITE_SYNCHRONOUS"):
        connect(f"sqlite:///{tmp_path / 'q.db'}")


def test_sqlite_transactions_begin_immediate_and_reader_deferred(tmp_path: Path) -> None:
    """A writer takes the write lock at BEGIN; a reader does not, so it can run beside a writer."""
    engine = connect(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as writer:
        writer.execute(text("SELECT 1"))  # only a read, yet the write lock is held already
        with db.reader(engine).connect() as other:
            assert other.execute(text("SELECT count(*) FROM inbox")).scalar() == 0
        other_writer = sqlite3.connect(tmp_path / "lock.db", timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other_writer.execute("BEGIN IMMEDIATE")
        other_writer.close()


def test_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(db.ENV_DATABASE_URL, raising=False)
    monkeypatch.chdir(tmp_path)
    assert db.database_url() == f"sqlite:///{tmp_path / 'var' / 'cbec.db'}"
    assert (tmp_path / "var").is_dir()
    monkeypatch.setenv(db.ENV_DATABASE_URL, "postgresql+psycopg://cbec@localhost/cbec")
    assert db.database_url() == "postgresql+psycopg://cbec@localhost/cbec"


def test_in_memory_database_is_shared_by_connections() -> None:
    engine = connect("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO batch (started_at, messages, note) VALUES ('2026-01-01', 0, '')"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM batch")).scalar() == 1


def test_migration_scripts_are_inside_the_package() -> None:
    """Installed cbec must carry its migrations: they live in the package, not next to an alembic.ini."""
    versions = db.MIGRATIONS_DIR / "versions"
    assert (db.MIGRATIONS_DIR / "env.py").is_file()
    assert sorted(p.name for p in versions.glob("rev_*.py"))[0] == "rev_0001_initial.py"
    assert db.MIGRATIONS_DIR.is_relative_to(Path(db.__file__).parent)


def test_upgrade_keeps_the_rows_of_an_old_database(db_url: str) -> None:
    """A database at 0004 holding messages that documents refer to: every later revision applies, on SQLite
    too, where some revisions rebuild the inbox table (the documents' foreign keys point at it)."""
    engine = connect(db_url, create=False)
    try:
        if current_revision(engine) is not None:  # PostgreSQL: the scratch database other tests migrated
            downgrade(engine, "base")
        upgrade(engine, "0004")
        assert current_revision(engine) == "0004"
        at = "2026-11-01 00:00:00+00:00" if engine.dialect.name == "sqlite" else "2026-11-01T00:00:00Z"
        with engine.begin() as conn:
            batch = "INSERT INTO batch (id, started_at, messages, note) VALUES (1, :at, 1, 'old')"
            conn.execute(text(batch), {"at": at})
            conn.execute(
                text(
                    "INSERT INTO inbox (id, guid, message_type, sender, received_at, sha256, raw, status,"
                    " batch_id) VALUES (1, 'G-1', 'CEB311Message', '3301960001', :at, :sha, :raw,"
                    " 'processed', 1)"
                ),
                {"at": at, "sha": "0" * 64, "raw": b"<x/>"},
            )
            conn.execute(
                text(
                    "INSERT INTO document (id, kind, guid, business_key, inbox_id, received_at, status,"
                    " app_type) VALUES (1, 'order', 'D-1', 'K-1', 1, :at, 120, '1')"
                ),
                {"at": at},
            )
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT guid, raw_codec FROM inbox")).all() == [("G-1", "identity")]
            assert conn.execute(text("SELECT inbox_id FROM document")).scalar_one() == 1
            # revision 0018 numbered the stored guid as the store numbers new ones
            assert conn.execute(text("SELECT guid_hash FROM document")).scalar_one() == guid_hash("D-1")
            assert [d.id for d in documents.by_guid(conn, "D-1")] == [1]
    finally:
        engine.dispose()
