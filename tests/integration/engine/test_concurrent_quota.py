"""Two clearing processes at once on one store: the annual quota holds and list numbers stay unique.

The same heavy buyers appear in both halves of a day; each process alone would keep every buyer within the
CNY 26,000 limit, but together they could each admit a purchase the other has already counted.  Everything a
step reads (quota used, business keys already declared, the list-number counter) is read inside the
transaction that writes its results, so the second process waits for the first and sees its effects.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cbec.sim.generate import DEFAULT_FAULTS, IMPORT_TYPES, GeneratorConfig, plan, write_corpus
from cbec.store import connect
from cbec.store.schema import decision, quota, quota_movement

LIMIT_FEN = 26_000 * 100


def _clear(corpus: Path, db: Path, outbox: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cbec.cli", "clear", str(corpus), "--database", f"sqlite:///{db}",
         "--outbox", str(outbox), "--batch", "6", "--workers", "0", "--now", "2026-11-12T00:00:00", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
def test_two_processes_share_the_quota_and_the_list_numbers(tmp_path: Path) -> None:
    faults = dict(DEFAULT_FAULTS) | {"over_quota": 0.08}
    config = GeneratorConfig(parcels=3000, seed=8, faults=faults, chunk_parcels=150)
    day = tmp_path / "day"
    write_corpus(day, config, workers=1)
    # every other run of whole batches goes to the second process: complete sets, shared heavy buyers
    halves = [tmp_path / "a", tmp_path / "b"]
    for chunk in plan(config):
        target = halves[chunk.index % 2]
        for mtype in IMPORT_TYPES:
            (target / mtype).mkdir(parents=True, exist_ok=True)
            for n in chunk.arrival[mtype]:
                shutil.copy(day / mtype / f"{n:08d}.xml", target / mtype / f"{n:08d}.xml")
    db = tmp_path / "cbec.db"
    connect(f"sqlite:///{db}").dispose()  # migrated once, before the race
    runs = [_clear(half, db, tmp_path / f"outbox-{half.name}") for half in halves]
    for run in runs:
        _out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err.decode()[-2000:]

    engine = connect(f"sqlite:///{db}")
    with engine.connect() as conn:
        per_buyer = conn.execute(
            select(quota_movement.c.buyer_key, func.sum(quota_movement.c.amount_fen))
            .group_by(quota_movement.c.buyer_key)
        ).all()  # fmt: skip
        totals = dict(conn.execute(select(quota.c.buyer_key, quota.c.used_fen)).all())
        refused_on_quota = conn.execute(
            select(func.count()).select_from(decision).where(decision.c.code == "-621018")
        ).scalar_one()
        invt = [r for (r,) in conn.execute(select(decision.c.invt_no).where(decision.c.invt_no.is_not(None)))]
        lists = [r for (r,) in conn.execute(select(decision.c.list_key))]
    assert refused_on_quota > 0, "no buyer reached the limit: the test would prove nothing"
    assert max(int(total) for _k, total in per_buyer) <= LIMIT_FEN
    assert {k: int(v) for k, v in per_buyer} == totals
    assert len(invt) == len(set(invt)) > 0  # no list number handed out twice
    assert not [k for k, n in Counter(lists).items() if n > 1]
