"""``cbec gate simulate --url`` against a real ``cbec serve`` on SQLite: every zone's gate reports its own
vehicles, the decisions go through the gate journal, and the clearing loop moves them into the database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.integration.service.conftest import free_port, start_serve

from cbec.store import connect, gate_journal
from cbec.store.schema import gate_event, gate_pass

pytestmark = pytest.mark.slow


def test_simulated_day_over_http_through_the_gate_journal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cbec.db'}"
    port = free_port()
    proc = start_serve(url, port, tmp_path / "serve.log")
    try:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "cbec.cli", "gate", "simulate", "--parcels", "400", "--json"),
                *("--url", f"http://127.0.0.1:{port}", "--database", url, "--out", str(tmp_path / "sim")),
            ],
            capture_output=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]
        report = json.loads(done.stdout.decode().strip().splitlines()[-1])
        assert report["ok"] and report["clean"]["stopped"] == 0 and report["clean"]["lifted"] > 0
        assert sum(f["planted"] for f in report["faults"].values()) > 0
        assert (tmp_path / "cbec.db.gate").exists()  # cbec serve on SQLite decides through the journal
        engine = connect(url)
        deadline = time.monotonic() + 60
        while gate_journal.unmoved(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(gate_event)) == report["events"]
            used = conn.scalar(select(func.count()).select_from(gate_pass).where(gate_pass.c.stucd == "2"))
        assert used == report["clean"]["lifted"]  # the first use of a duplicated pass is a clean event
        engine.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
