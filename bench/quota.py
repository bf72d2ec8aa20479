"""Benchmark: the annual-quota write of the clearing transaction, alone, as the store grows.

Prints one JSON line.  Each clearing batch records one quota movement per accepted list and adds it to the
buyer's yearly total (``cbec.store.quota.apply_frame``).  Both tables are keyed by a 64-hex-digit buyer
hash, so every commit dirties pages all over their indexes, and the cost per movement grows with the number
of buyers: this measures it without the rest of clearance.

    python bench/quota.py                         # 160 commits of 6,000 movements over 600,000 buyers

* seconds: the whole run (every ``apply_frame`` and its commit); first/last: the first and last 20 commits,
  which show how the cost grows with the store.
* commit_seconds: the part spent committing (WAL writes and the automatic checkpoint).
* check: the totals equal the ledger (the sum of the movements), as they must.

Compare two versions with ``farm-bench``, ``PYTHONPATH`` at each one's ``src``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=160)
    ap.add_argument("--movements", type=int, default=6000, help="movements per commit")
    ap.add_argument("--buyers", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if str(REPO / "src") not in sys.path:
        sys.path.insert(0, str(REPO / "src"))
    import polars as pl
    from sqlalchemy import func, select
    from sqlalchemy.engine.base import RootTransaction

    from cbec.store import connect
    from cbec.store.quota import apply_frame
    from cbec.store.schema import quota, quota_movement

    rng = random.Random(args.seed)
    buyers = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(args.buyers)]
    committing = [0.0]
    commit = RootTransaction._do_commit

    def timed_commit(self: RootTransaction) -> None:
        t = time.perf_counter()
        try:
            commit(self)
        finally:
            committing[0] += time.perf_counter() - t

    RootTransaction._do_commit = timed_commit  # type: ignore[method-assign]
    work = Path(tempfile.mkdtemp(prefix="cbec-bench-quota-"))
    try:
        engine = connect(f"sqlite:///{work / 'cbec.db'}")
        times: list[float] = []
        n = 0
        for c in range(args.commits):
            frame = pl.DataFrame(
                {
                    "buyer_key": [buyers[rng.randrange(len(buyers))] for _ in range(args.movements)],
                    "year": [2026] * args.movements,
                    "list_key": [f"EBP{c:04d}|ORDER{n + i:012d}" for i in range(args.movements)],
                    "kind": ["accept"] * args.movements,
                    "amount_fen": [rng.randrange(100, 500_000) for _ in range(args.movements)],
                }
            )
            n += args.movements
            t = time.perf_counter()
            with engine.begin() as conn:
                apply_frame(conn, frame)
            times.append(time.perf_counter() - t)
        with engine.connect() as conn:
            totals = conn.execute(select(func.sum(quota.c.used_fen))).scalar_one()
            ledger = conn.execute(select(func.sum(quota_movement.c.amount_fen))).scalar_one()
        engine.dispose()
    finally:
        RootTransaction._do_commit = commit  # type: ignore[method-assign]
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "bench": "quota",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "movements": n,
        "seconds": round(sum(times), 2),
        "first_20_commits_s": round(sum(times[:20]), 2),
        "last_20_commits_s": round(sum(times[-20:]), 2),
        "commit_seconds": round(committing[0], 2),
        "check": "totals equal the ledger" if totals == ledger else f"MISMATCH {totals} != {ledger}",
    }
    print(json.dumps(report))
    return 0 if totals == ledger else 1


if __name__ == "__main__":
    sys.exit(main())
