"""The gate's writes on the driver's cursor store what SQLAlchemy's statements store (SQLite, PostgreSQL).

``record_gate_events`` and ``gate_move`` bypass SQLAlchemy's execution for speed; their values go through the
column types' own bind processors, so timestamps must come out in the same stored form (on SQLite, text with
microseconds) and read back equal, and the compare-and-set must still refuse a second move.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text
from tests.integration.gate._gate_testlib import insert_pass
from tests.integration.service.conftest import TEST_SECRETS, database_url

from cbec.store import connect
from cbec.store import gate as repo
from cbec.store.schema import gate_event, gate_pass

AT = datetime(2026, 11, 24, 8, 0, 0, tzinfo=timezone(timedelta(hours=8)))  # 00:00 UTC
NOW = datetime(2026, 11, 24, 0, 5, 7, 120, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in TEST_SECRETS.items():
            mp.setenv(name, value)
        found = connect(database_url(request.param, tmp_path))
        yield found
        found.dispose()


def _event(event_id: str) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(repo.EVENT_COLUMNS)
    row.update(
        event_id=event_id,
        reporter="r",
        lane="L1",
        gate="S",
        at=AT,
        received_at=NOW,
        decision="LIFT",
        reasons="[]",
    )
    return row


def test_events_are_stored_as_core_stores_them_and_once(engine: Engine) -> None:
    with engine.begin() as conn:
        repo.record_gate_events(conn, [_event("fast"), _event("fast-2")])
        repo.record_gate_events(conn, [{**_event("fast"), "lane": "L9"}])  # the same id again: nothing
        conn.execute(insert(gate_event), [_event("core")])
    with engine.connect() as conn:
        rows = conn.execute(
            select(gate_event.c.event_id, gate_event.c.at, gate_event.c.received_at, gate_event.c.lane)
        )
        got = {r[0]: r[1:] for r in rows}
        stored = dict(conn.execute(text("SELECT event_id, CAST(at AS TEXT) FROM gate_event")).all())
    assert got["fast"] == got["core"] == (AT.astimezone(UTC), NOW, "L1")
    assert stored["fast"] == stored["fast-2"] == stored["core"]


def test_gate_move_is_a_compare_and_set_with_times_stored_as_core_stores_them(engine: Engine) -> None:
    with engine.begin() as conn:
        pass_id = insert_pass(conn, NOW)
        assert repo.gate_move(conn, pass_id, ["1", "0"], "2", NOW, pass_time=AT)
        assert not repo.gate_move(conn, pass_id, ["1", "0"], "2", NOW, pass_time=AT)  # already moved
    with engine.connect() as conn:
        row = conn.execute(select(gate_pass.c.stucd, gate_pass.c.pass_time, gate_pass.c.updated_at)).one()
        pass_time, dcl_time = conn.execute(
            text("SELECT CAST(updated_at AS TEXT), CAST(dcl_time AS TEXT) FROM gate_pass")
        ).one()
    assert tuple(row) == ("2", AT.astimezone(UTC), NOW)
    assert pass_time == dcl_time  # written by the fast path and by Core: the same stored form
