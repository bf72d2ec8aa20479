"""The warehouse-entry reads (cbec.store.warehouse_entries): the scope's SQL and its in-memory twin agree, the
day range is exact at its edges, and the reads that matter go through an index (SQLite's query plan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path

from sqlalchemy import Connection, Engine, and_, select

from cbec.store import connect
from cbec.store import warehouse_entries as repo
from cbec.store.schema import warehouse_entry

T0 = datetime(2026, 11, 12, 3, tzinfo=UTC)
ROWS = [  # operator, customs office, status, received
    ("2924960601", "2924", 399, T0),
    ("2924960601", "2901", 100, T0 + timedelta(hours=1)),
    ("5349960602", "5349", 399, T0 + timedelta(days=1)),
    ("5349960602", "2924", 399, T0 + timedelta(days=1, hours=1)),
    ("2300960603", "2300", 399, T0 + timedelta(days=2)),
]


def _store(tmp_path: Path) -> Engine:
    engine = connect(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.begin() as conn:
        for i, (op, customs, status, at) in enumerate(ROWS):
            repo.record_entry(
                conn,
                {
                    "guid": f"G{i}",
                    "sender": op,
                    "customs_code": customs,
                    "operator_code": op,
                    "status": status,
                    "reason_zh": "",
                    "reason_en": "",
                    "received_at": at,
                },
                [
                    {"gnum": 1, "logistics_no": f"W{i}", "found": 1},
                    {"gnum": 2, "logistics_no": "X", "found": 0},
                ],
            )
    return engine


def test_the_scope_in_sql_is_the_scope_in_memory(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    codes = (frozenset(), frozenset({"2924960601"}), frozenset({"5349960602", "2300960603"}))
    districts = (None, "2900", "2924", "5300", "2300")
    with engine.connect() as conn:
        everything = repo.list_entries(conn, repo.EntryScope(everything=True))
        assert len(everything) == len(ROWS)
        for c, d in product(codes, districts):
            scope = repo.EntryScope(operator_codes=c, district=d)
            listed = {r.guid for r in repo.list_entries(conn, scope, limit=100)}
            kept = {r.guid for r in everything if scope.covers(r.operator_code, r.customs_code)}
            assert listed == kept, (c, d)
    # 2900 covers 2901 and 2924 but not 2300; 2924 only itself
    assert repo.EntryScope(district="2900").covers(None, "2901")
    assert not repo.EntryScope(district="2924").covers(None, "2901")


def test_day_ranges_and_counts(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    with engine.connect() as conn:
        scope = repo.EntryScope(everything=True)
        day2 = repo.EntryFilter(since=T0 + timedelta(days=1), until=T0 + timedelta(days=1, hours=1))
        assert [r.guid for r in repo.list_entries(conn, scope, day2)] == ["G2"]  # until is exclusive
        assert [
            r.guid for r in repo.list_entries(conn, scope, repo.EntryFilter(since=T0 + timedelta(days=3)))
        ] == []
        row = repo.entry_by_guid(conn, "G1")
        assert row is not None and (row.line_count, row.lines_not_found) == (2, 1)
        waybill = repo.list_entries(conn, scope, repo.EntryFilter(logistics_no="X"), before=3)
        assert [r.guid for r in waybill] == ["G1", "G0"]


def _plan(conn: Connection, scope: repo.EntryScope, filters: repo.EntryFilter) -> str:
    e = warehouse_entry.c
    where = [repo._scope_where(scope), *repo._filter_where(conn, filters)]
    stmt = select(warehouse_entry).where(and_(*where)).order_by(e.id.desc()).limit(50)
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    return " / ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_the_reads_that_matter_use_an_index(tmp_path: Path) -> None:
    engine = _store(tmp_path)
    with engine.connect() as conn:
        site = _plan(conn, repo.EntryScope(operator_codes=frozenset({"2924960601"})), repo.EntryFilter())
        assert "ix_warehouse_entry_operator_code_id" in site and "TEMP B-TREE" not in site, site
        waybill = _plan(conn, repo.EntryScope(everything=True), repo.EntryFilter(logistics_no="W1"))
        assert "ix_warehouse_entry_line_logistics_no" in waybill, waybill
        days = _plan(conn, repo.EntryScope(everything=True), repo.EntryFilter(since=T0 + timedelta(days=1)))
        assert "PRIMARY KEY (rowid>?" in days, days
