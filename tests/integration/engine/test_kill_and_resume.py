"""kill -9 in the middle of clearing, then run again: nothing lost, nothing processed twice.

A real process is killed (SIGKILL, no chance to clean up) while it clears batches; the second run must finish
the job so that the store ends exactly as after one uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store.schema import decision, inbox, quota_movement


def _clear(corpus: Path, db: Path, outbox: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cbec.cli",
            "clear",
            str(corpus),
            "--database",
            f"sqlite:///{db}",
            "--outbox",
            str(outbox),
            "--batch",
            "8",
            "--now",
            "2026-11-12T00:00:00",
            "--json",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its entry waits for init to reap it


@pytest.mark.slow
def test_kill_minus_nine_then_resume(tmp_path: Path) -> None:
    corpus = tmp_path / "in"
    write_corpus(corpus, GeneratorConfig(parcels=2500, seed=21, faults=dict(DEFAULT_FAULTS)))
    db, outbox = tmp_path / "cbec.db", tmp_path / "outbox"
    first = _clear(corpus, db, outbox)
    engine = connect(f"sqlite:///{db}")
    deadline = time.time() + 120
    # wait until some batches are committed, then kill it mid-flight
    while time.time() < deadline:
        time.sleep(0.2)
        with engine.connect() as conn:
            done = conn.execute(select(func.count()).select_from(decision)).scalar_one()
        if done > 300:
            break
    helpers = _children(first.pid)  # the decoding workers (and multiprocessing's resource tracker)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    # the workers do not outlive the process they worked for
    assert len(helpers) >= 2, helpers
    gone_by = time.time() + 15
    while (left := [p for p in helpers if _alive(p)]) and time.time() < gone_by:
        time.sleep(0.2)
    assert not left, f"worker processes left behind: {left}"
    with engine.connect() as conn:
        partial = conn.execute(select(func.count()).select_from(decision)).scalar_one()
    second = _clear(corpus, db, outbox)
    _out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err.decode()[-2000:]
    with engine.connect() as conn:
        lists = [r.list_key for r in conn.execute(select(decision.c.list_key)).all()]
        processed = conn.execute(
            select(func.count()).select_from(inbox).where(inbox.c.status == "processed")
        ).scalar_one()
        total = conn.execute(select(func.count()).select_from(inbox)).scalar_one()
        movements = [r.list_key for r in conn.execute(select(quota_movement.c.list_key)).all()]
    files = list(corpus.rglob("*.xml"))
    assert partial < len(set(lists)), "the kill came too late to test anything"
    assert total == processed == len(files)  # every message stored once and processed once
    assert not [k for k, n in Counter(lists).items() if n > 1]  # no list decided twice
    assert not [k for k, n in Counter(movements).items() if n > 1]  # no quota counted twice
    # and nothing lost: every list the generator planted that should be decided by now was decided
    import polars as pl

    manifest = pl.read_csv(corpus / "manifest.csv")
    expected = set(
        manifest.filter((pl.col("expected_status") != 2) & (pl.col("fault") != "duplicate_list"))["list_key"]
    )
    assert set(lists) == expected
    # the receipts on disk: every file decodes; written once per message guid
    names = [p.name for p in outbox.rglob("*.xml")]
    assert len(names) == len(set(names))
