"""Benchmark: import clearance end to end, beside lxml parse-only of the same files and the engine step.

Prints one JSON line.  The corpus is generated import traffic with the default planted faults (4 messages per
parcel, 1–100 documents per message), cached under ``out/bench-clear-<parcels>-<seed>``.

    python bench/clear.py --parcels 20000

* end_to_end: files read → inbox committed → decoded → cleared → everything stored (SQLite, WAL) → receipts
  written as files; one process.
* parse_only: the hardened lxml parse of the same bytes, one process.
* engine_step: :func:`cbec.engine.step.run_step` alone on the decoded documents (no I/O), one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    from cbec.engine.clear import Clearer, iter_inputs, make_tax
    from cbec.engine.normalize import empty_documents, from_batch
    from cbec.engine.step import StepState, run_step
    from cbec.messages.columns import decode_batch
    from cbec.messages.safe_xml import parse_only
    from cbec.params import default_parameters
    from cbec.params.hs import load_cbec_hs
    from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
    from cbec.store import connect

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parcels", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--batch", type=int, default=200, help="messages per batch")
    args = ap.parse_args()

    corpus = REPO / "out" / f"bench-clear-{args.parcels}-{args.seed}"
    if not (corpus / "manifest.csv").exists():
        write_corpus(
            corpus, GeneratorConfig(parcels=args.parcels, seed=args.seed, faults=dict(DEFAULT_FAULTS))
        )
    files = list(iter_inputs(corpus))
    blobs = [b for _, b in files]
    mb = sum(len(b) for b in blobs) / 1e6

    t = time.perf_counter()
    for b in blobs:
        parse_only(b)
    parse_s = time.perf_counter() - t

    params, hs = default_parameters(), load_cbec_hs().frame()
    now = datetime(2026, 11, 12)
    batch = decode_batch(blobs)
    docs = from_batch(batch, received_at=now)
    tax = make_tax(params, hs)
    run_step(docs, StepState(waiting=empty_documents()), now=now, params=params, hs=hs, tax=tax)  # warm-up
    t = time.perf_counter()
    result = run_step(docs, StepState(waiting=empty_documents()), now=now, params=params, hs=hs, tax=tax)
    step_s = time.perf_counter() - t
    step_lists = result.decisions.height

    work = Path(tempfile.mkdtemp(prefix="cbec-bench-"))
    try:
        engine = connect(f"sqlite:///{work / 'cbec.db'}")
        clearer = Clearer(engine, params=params, hs=hs, outbox=work / "outbox", now=now)
        t = time.perf_counter()
        for i in range(0, len(files), args.batch):
            clearer.clear_batch(files[i : i + args.batch])
        e2e_s = time.perf_counter() - t
        summary = clearer.summary
    finally:
        shutil.rmtree(work, ignore_errors=True)

    parcels = summary.parcels + summary.waiting
    print(
        json.dumps(
            {
                "bench": "clear",
                "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
                "corpus": {"parcels": args.parcels, "messages": len(files), "megabytes": round(mb, 1)},
                "end_to_end": {
                    "parcels_per_s": round(parcels / e2e_s),
                    "seconds": round(e2e_s, 2),
                    "released": summary.released,
                    "refused": summary.lists.get(100, 0),
                    "waiting": summary.waiting,
                    "receipt_messages": summary.receipts,
                },
                "parse_only": {"parcels_per_s": round(args.parcels / parse_s), "seconds": round(parse_s, 2)},
                "end_to_end_vs_parse_only": round(parse_s / e2e_s, 3),
                "engine_step": {
                    "parcels_per_s": round(step_lists / step_s),
                    "seconds": round(step_s, 3),
                    "lists": step_lists,
                },
                "processes": 1,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
