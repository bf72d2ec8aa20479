"""The gate journal (SQLite): lanes decide while another process holds the database's write lock, a pass is
lifted once whatever the number of lanes, and moving the journal into the database is exact and repeatable.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from tests.integration.gate._gate_testlib import insert_pass
from tests.integration.service.conftest import TEST_SECRETS

from cbec.params import default_parameters
from cbec.service import gate as desk
from cbec.store import connect, gate_journal
from cbec.store.gate import Scope
from cbec.store.schema import gate_event, gate_pass

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PLATE = "浙A12345"
TOTAL_G = 20_000_000


@dataclass
class World:
    engine: Engine
    journal: Engine
    pass_id: int

    def decide(self, *events: desk.GateEvent) -> list[dict[str, object]]:
        return desk.decide_events(
            self.engine,
            list(events),
            reporter="lane-operator",
            scope=Scope(everything=True),
            params=default_parameters(),
            now=NOW,
            journal=self.journal,
        )

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(gate_event)) or 0)

    def status(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.scalar(select(gate_pass.c.stucd).where(gate_pass.c.id == self.pass_id)))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in TEST_SECRETS.items():
            mp.setenv(name, value)
        engine = connect(f"sqlite:///{tmp_path / 'cbec.db'}")
        with engine.begin() as conn:
            pass_id = insert_pass(
                conn,
                NOW,
                vehicle_no=PLATE,
                vehicle_wt_g=9_000_000,
                total_gross_wt_g=TOTAL_G - 9_000_000,
                total_net_wt_g=TOTAL_G - 9_500_000,
                total_wt_g=TOTAL_G,
            )
        journal = gate_journal.open_journal(engine.url.render_as_string(hide_password=False))
        assert journal is not None
        yield World(engine, journal, int(pass_id))
        engine.dispose()


def _event(event_id: str, *, weight_g: int = TOTAL_G, lane: str = "L1") -> desk.GateEvent:
    return desk.GateEvent(event_id, lane, NOW - timedelta(seconds=5), vehicle_no=PLATE, weight_g=weight_g)


def test_a_lane_decides_while_the_database_is_locked_and_the_move_stores_it(world: World) -> None:
    raw = sqlite3.connect(world.engine.url.database, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")  # the clearer's write transaction, held throughout the decision
    try:
        (answer,) = world.decide(_event("e1"))
        assert answer["decision"] == "LIFT" and answer["passStatus"] == "2"
    finally:
        raw.execute("ROLLBACK")
        raw.close()
    assert gate_journal.unmoved(world.engine) == 1 and world.count() == 0 and world.status() == "1"
    assert gate_journal.move(world.journal, world.engine) == 1
    assert gate_journal.unmoved(world.engine) == 0 and world.count() == 1 and world.status() == "2"
    with world.engine.connect() as conn:
        row = conn.execute(select(gate_event).where(gate_event.c.event_id == "e1")).one()
        moved = conn.execute(select(gate_pass.c.pass_time, gate_pass.c.updated_at)).one()
    assert row.decision == "LIFT" and row.at == NOW - timedelta(seconds=5) and row.received_at == NOW
    assert row.pass_status_before == "1" and row.pass_status_after == "2"
    assert tuple(moved) == (NOW - timedelta(seconds=5), NOW)
    assert gate_journal.move(world.journal, world.engine) == 0


def test_two_lanes_lift_one_pass_once(world: World) -> None:
    barrier = threading.Barrier(4)
    answers: list[dict[str, object]] = []

    def lane(n: int) -> None:
        barrier.wait()
        answers.extend(world.decide(_event(f"lane-{n}", lane=f"L{n}")))

    threads = [threading.Thread(target=lane, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(a["decision"]) for a in answers) == ["LIFT", "STOP", "STOP", "STOP"]
    stops = [a for a in answers if a["decision"] == "STOP"]
    assert all([r["code"] for r in a["reasons"]] == ["pass-used"] for a in stops)  # type: ignore[attr-defined]
    gate_journal.move(world.journal, world.engine)
    (late,) = world.decide(_event("late"))  # now judged on the database's status
    assert late["decision"] == "STOP" and world.count() == 4


def test_repeats_and_conflicts_are_judged_on_journal_and_database_alike(world: World) -> None:
    (first,) = world.decide(_event("e1"))
    for moved in (False, True):
        if moved:
            gate_journal.move(world.journal, world.engine)
        (again,) = world.decide(_event("e1"))
        assert again == {**first, "repeat": True}
        with pytest.raises(desk.GateRefusal) as refused:
            world.decide(_event("e1", weight_g=1))
        assert refused.value.status == 409
    assert world.count() == 1


def test_a_move_cut_short_after_its_commit_is_not_stored_twice(world: World) -> None:
    world.decide(_event("e1"), _event("e2", lane="L2"))
    with world.journal.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT event_id, pass_id, status_after, move, event FROM gate_journal"
        ).all()
    assert gate_journal.move(world.journal, world.engine) == 2
    with world.journal.begin() as conn:  # as if the process died between the database commit and the delete
        conn.exec_driver_sql(
            "INSERT INTO gate_journal (event_id, pass_id, status_after, move, event) VALUES (?, ?, ?, ?, ?)",
            [tuple(r) for r in rows],
        )
    assert gate_journal.move(world.journal, world.engine) == 2
    assert world.count() == 2 and world.status() == "2" and gate_journal.unmoved(world.engine) == 0
