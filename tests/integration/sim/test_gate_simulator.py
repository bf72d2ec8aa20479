"""``cbec gate simulate`` in process: every planted mismatch is caught and no clean vehicle is stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from cbec.cli import app
from cbec.commands.gate import LocalDriver, clear_local_day, file_gate_parties, run, zone_lists
from cbec.params import default_parameters
from cbec.sim import gate as sim
from cbec.store.schema import gate_event, gate_pass


def test_planted_mismatches_are_all_caught_and_clean_vehicles_lifted(tmp_path: Path) -> None:
    engine = clear_local_day(tmp_path, parcels=500, seed=5)
    file_gate_parties(engine)
    lists = zone_lists(engine)
    assert any(x.status not in (800, 899) for x in lists), "the day must hold unreleased lists to plant"
    plan = sim.plan(
        lists, seed=5, day=datetime(2026, 11, 12, tzinfo=UTC), rates=dict.fromkeys(sim.FAULTS, 0.1)
    )
    report = run(LocalDriver(engine, default_parameters(), datetime.now(UTC)), plan)
    for name, fault in report["faults"].items():
        assert fault["planted"] > 0, f"no {name} planted: pick another seed"
        assert fault["caught"] == fault["planted"], (name, fault["missed"])
    assert report["clean"]["stopped"] == 0, report["clean"]["stoppedEvents"]
    assert report["clean"]["lifted"] == report["clean"]["events"] > 0
    assert report["ok"]
    with engine.connect() as conn:
        # every event and decision stored; each clean or planted vehicle's pass used once at most
        assert conn.scalar(select(func.count()).select_from(gate_event)) == len(plan.events)
        passed = conn.scalar(select(func.count()).select_from(gate_pass).where(gate_pass.c.stucd == "2"))
    assert passed == report["clean"]["lifted"]
    # the same day again changes nothing: events are idempotent on their ids
    again = LocalDriver(engine, default_parameters(), datetime.now(UTC)).decide(plan.events)
    assert all(d["repeat"] for d in again.values())
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(gate_event)) == len(plan.events)


def test_command_reports_as_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["gate", "simulate", "--parcels", "200", "--seed", "2", "--out", str(tmp_path / "g"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["ok"] and report["clean"]["stopped"] == 0
    assert set(report["faults"]) == set(sim.FAULTS)
