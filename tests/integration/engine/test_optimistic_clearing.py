"""The service's optimistic clearing on SQLite: step without the write lock, then check under it.

Under the lock the step's reads are checked cheaply first (no document or quota movement added since the
optimistic look), and read again in full only when something was added.  These tests plant a change in the
window between the two looks and require that the step is done again with it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import select

from cbec.engine.clear import Clearer, iter_inputs
from cbec.params import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.sim.generate import GeneratorConfig, write_corpus
from cbec.store import connect
from cbec.store import quota as quota_repo
from cbec.store.schema import decision

NOW = datetime(2026, 11, 12)
LIMIT_FEN = 26_000 * 100


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    folder = tmp_path_factory.mktemp("optimistic") / "in"
    write_corpus(folder, GeneratorConfig(parcels=60, seed=12, faults={}), workers=1)
    return list(iter_inputs(folder))


def _clearer(tmp_path: Path) -> Clearer:
    engine = connect(f"sqlite:///{tmp_path / 'cbec.db'}")
    clearer = Clearer(engine, params=default_parameters(), hs=load_cbec_hs().frame(), outbox=None, now=NOW)
    clearer.optimistic = True
    return clearer


def test_nothing_changed_between_the_looks_steps_once(
    corpus: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    clearer = _clearer(tmp_path)
    for start in range(0, len(corpus), 40):
        clearer.clear_batch(corpus[start : start + 40])
    assert clearer.summary.optimistic_steps > 0
    assert clearer.summary.repeated_steps == 0
    assert clearer.summary.released > 0


def test_quota_counted_in_between_is_seen(
    corpus: list[tuple[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clearer = _clearer(tmp_path)
    planted: list[str] = []
    step = Clearer._step

    def step_then_plant(self: Clearer, docs: Any, seen: Any, now: datetime) -> Any:
        result = step(self, docs, seen, now)
        if not planted and docs.lists.height:
            # another writer fills every buyer of this batch to the annual limit, after the optimistic
            # look and before the write lock is taken
            buyers = docs.lists.select("buyer_key", pl.col("declTime").dt.year().alias("year")).unique()
            with self.engine.begin() as conn:
                quota_repo.apply(
                    conn,
                    [
                        quota_repo.QuotaMovement(key, int(year), f"PLANTED-{i}", "accept", LIMIT_FEN)
                        for i, (key, year) in enumerate(buyers.iter_rows())
                    ],
                )
            planted.extend(docs.lists["list_key"].to_list())
        return result

    monkeypatch.setattr(Clearer, "_step", step_then_plant)
    clearer.clear_batch(corpus)  # one batch: every parcel's four documents are in it
    assert planted, "the batch held no list: the test would prove nothing"
    assert clearer.summary.repeated_steps == 1
    with clearer.engine.connect() as conn:
        rows = conn.execute(
            select(decision.c.list_key, decision.c.code).where(decision.c.list_key.in_(planted))
        ).all()
    codes = {key: code for key, code in rows}
    assert codes and set(codes.values()) == {"-621018"}, codes  # all over the limit now, none released
