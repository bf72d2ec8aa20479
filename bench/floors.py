"""Benchmark: the CPU the import-clearance targets leave per parcel, beside what unskippable parts cost.

Prints one JSON line.  ``bench/clear.py`` says how fast cbec clears; this says how fast anything built on the
same stack could at best, on the machine it runs on, so that a target can be checked against the machine
before it is chased.

    python bench/floors.py                      # 20,000-parcel corpus (generated once), 200,000-row joins

* budget: CPU microseconds per parcel the end-to-end target leaves (cores ÷ target rate).
* parse_only: the hardened lxml parse of a parcel's four messages (what "XML in" costs at the least).
* decode: cbec's columnar decoder on the same messages (parse + extraction + field checks), for reference.
* sqlite: microseconds per row inserted, through the driver with cbec's PRAGMAs (WAL, synchronous NORMAL,
  256 MiB cache), in transactions of 25,000 rows, in three shapes: a row with one unique text key (each of
  a parcel's four documents must be unique on its business key), the same with a second unique key (cbec
  also keeps each document's guid unique), and a row with its rowid only (decision, quota movement, tax bill).
* storage_floor: four keyed rows and three plain rows per parcel.
* joins: one Polars hash join of ``--rows`` random keys against as many, by string key (the documents'
  business keys), by integer key, and by sorted integer key (merge join); a three-document match needs at
  least three of them (list → order, payment, waybill).
* bounds: the rate no design on this stack can pass, from the floors alone: end to end ≤ cores ÷ (parse +
  storage floor), engine step ≤ rows ÷ (3 string-key joins).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TXN_ROWS = 25_000


def _median(times: list[float]) -> float:
    return sorted(times)[len(times) // 2]


def _timed(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return _median(times)


def _sqlite_rows(directory: Path, rows: int) -> dict[str, float]:
    """Microseconds per row for the three row shapes (see the module docstring)."""
    from cbec.store import connect
    from cbec.store.db import driver_cursor

    head = "CREATE TABLE t (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, business_key TEXT NOT NULL, "
    shapes = {
        "one_unique_key": head + "status INTEGER NOT NULL, UNIQUE (kind, business_key))",
        "two_unique_keys": head
        + "status INTEGER NOT NULL, guid TEXT NOT NULL, UNIQUE (kind, business_key), UNIQUE (kind, guid))",
        "rowid_only": head + "status INTEGER NOT NULL)",
    }
    kinds = ("order", "payment", "waybill", "list")
    rng = random.Random(7)
    out: dict[str, float] = {}
    for name, ddl in shapes.items():
        engine = connect(f"sqlite:///{directory / (name + '.db')}", create=False)
        with engine.begin() as conn, driver_cursor(conn) as cursor:
            cursor.execute(ddl)
        columns = "kind, business_key, status" + (", guid" if "guid" in ddl else "")
        marks = ", ".join("?" for _ in columns.split(","))
        sql = f"INSERT INTO t ({columns}) VALUES ({marks})"
        spent = 0.0
        for start in range(0, rows, TXN_ROWS):
            batch = []
            for i in range(start, min(rows, start + TXN_ROWS)):
                key = f"{rng.randrange(10**10):010d}|{rng.randrange(10**14):014d}"
                row: tuple[object, ...] = (kinds[i % 4], key, 800)
                if "guid" in ddl:
                    row = (*row, str(uuid.UUID(int=rng.getrandbits(128))).upper())
                batch.append(row)
            t = time.perf_counter()
            with engine.begin() as conn, driver_cursor(conn) as cursor:
                cursor.executemany(sql, batch)
            spent += time.perf_counter() - t
        engine.dispose()
        out[name] = round(spent / rows * 1e6, 2)
    return out


def _joins(rows: int) -> dict[str, float]:
    """Milliseconds for one left join of ``rows`` random keys against as many (median of 5)."""
    import polars as pl

    rng = random.Random(11)
    order = list(range(rows))
    rng.shuffle(order)
    other = order[:]
    rng.shuffle(other)
    text = [f"1105910159|ORDER{i:015d}" for i in order]
    text_other = [f"1105910159|ORDER{i:015d}" for i in other]
    left_s = pl.DataFrame({"k": text, "v": order})
    right_s = pl.DataFrame({"k": text_other, "w": other})
    left_i = pl.DataFrame({"k": order, "v": order})
    right_i = pl.DataFrame({"k": other, "w": other})
    left_sorted, right_sorted = left_i.sort("k"), right_i.sort("k")
    return {
        "string_key_ms": round(_timed(lambda: left_s.join(right_s, on="k", how="left")) * 1000, 1),
        "integer_key_ms": round(_timed(lambda: left_i.join(right_i, on="k", how="left")) * 1000, 1),
        "sorted_integer_key_ms": round(
            _timed(lambda: left_sorted.join(right_sorted, on="k", how="left")) * 1000, 1
        ),
    }


def main() -> int:
    from cbec.engine.clear import iter_inputs
    from cbec.messages.columns import decode_batch
    from cbec.messages.safe_xml import parse_only
    from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=20_000, help="corpus size (parse, decode, storage rows)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rows", type=int, default=200_000, help="rows on each side of the joins")
    ap.add_argument("--target", type=int, default=10_000, help="end-to-end target, parcels/s")
    ap.add_argument("--step-target", type=int, default=1_000_000, help="engine-step target, parcels/s")
    args = ap.parse_args()
    cores = os.cpu_count() or 1

    corpus = REPO / "out" / f"bench-clear-{args.parcels}-{args.seed}"
    if not (corpus / "manifest.csv").exists():
        write_corpus(
            corpus, GeneratorConfig(parcels=args.parcels, seed=args.seed, faults=dict(DEFAULT_FAULTS))
        )
    blobs = [blob for _, blob in iter_inputs(corpus)]
    t = time.perf_counter()
    for blob in blobs:
        parse_only(blob)
    parse_s = time.perf_counter() - t
    t = time.perf_counter()
    for start in range(0, len(blobs), 500):
        decode_batch(blobs[start : start + 500])
    decode_s = time.perf_counter() - t
    del blobs

    work = Path(tempfile.mkdtemp(prefix="cbec-floors-"))
    try:
        sqlite_us = _sqlite_rows(work, 4 * args.parcels)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    joins = _joins(args.rows)

    parse_us = parse_s / args.parcels * 1e6
    storage_us = 4 * sqlite_us["one_unique_key"] + 3 * sqlite_us["rowid_only"]
    budget_us = cores * 1e6 / args.target
    floor_us = parse_us + storage_us
    step_floor_s = 3 * joins["string_key_ms"] / 1000
    report = {
        "bench": "floors",
        "machine": f"{platform.machine()} {cores} cpu, python {platform.python_version()}",
        "parcels": args.parcels,
        "budget": {
            "end_to_end_target_parcels_per_s": args.target,
            "cpu_us_per_parcel": round(budget_us, 1),
            "step_target_parcels_per_s": args.step_target,
            "step_ms_for_rows": round(args.rows / args.step_target * 1000, 1),
        },
        "parse_only_us_per_parcel": round(parse_us, 1),
        "decode_us_per_parcel": round(decode_s / args.parcels * 1e6, 1),
        "sqlite_us_per_row": sqlite_us,
        "storage_floor_us_per_parcel": round(storage_us, 1),
        "joins_at_rows": {"rows": args.rows, **joins},
        "bounds": {
            "end_to_end_floor_us_per_parcel": round(floor_us, 1),
            "end_to_end_max_parcels_per_s": round(cores * 1e6 / floor_us),
            "end_to_end_share_of_budget_left": round(1 - floor_us / budget_us, 3),
            "step_max_parcels_per_s_string_keys": round(args.rows / step_floor_s),
        },
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
