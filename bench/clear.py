"""Benchmark: import clearance end to end, beside lxml parse-only of the same files and the engine step.

Prints one JSON line.  The corpus is generated import traffic with the default planted faults (4 messages per
parcel, 1–100 documents per message), cached under ``out/bench-clear-<parcels>-<seed>``.

    python bench/clear.py --parcels 1000000

* end_to_end: files read → decoded (in ``--workers`` spawned processes) → inbox committed → cleared →
  everything stored (SQLite, WAL) → receipts written as files; the main process plus the workers.
* parse_only: the hardened lxml parse of the same bytes, one process (files read outside the timing).
* engine_step: :func:`cbec.engine.step.run_step` alone, no I/O, on the documents of the first
  ``--step-parcels`` parcels decoded beforehand (the step is one call however large the batch).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    from cbec.engine.clear import BATCHES_PER_COMMIT, Clearer, iter_inputs, iter_message_files, make_tax
    from cbec.engine.normalize import empty_documents, from_batch
    from cbec.engine.pipeline import default_workers
    from cbec.engine.step import StepState, run_step
    from cbec.messages.columns import decode_batch
    from cbec.messages.safe_xml import parse_only
    from cbec.params import default_parameters
    from cbec.params.hs import load_cbec_hs
    from cbec.sim.generate import DEFAULT_FAULTS, GeneratorConfig, write_corpus
    from cbec.store import connect
    from cbec.store.checkpoints import Checkpointer

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parcels", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--batch", type=int, default=500, help="messages per batch")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: one per core)")
    ap.add_argument(
        "--per-commit",
        type=int,
        default=None,
        help="batches per clearing transaction (default: the engine's)",
    )
    ap.add_argument("--step-parcels", type=int, default=200_000, help="parcels in the engine-step call")
    ap.add_argument(
        "--background-checkpoints", action="store_true", help="WAL checkpoints on a thread, not in commits"
    )
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: parse,step,e2e")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    corpus = REPO / "out" / f"bench-clear-{args.parcels}-{args.seed}"
    if not (corpus / "manifest.csv").exists():
        write_corpus(
            corpus, GeneratorConfig(parcels=args.parcels, seed=args.seed, faults=dict(DEFAULT_FAULTS))
        )
    report: dict[str, object] = {
        "bench": "clear",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
    }
    messages, size, parse_s = 0, 0, 0.0
    for _, blob in iter_inputs(corpus):
        messages += 1
        size += len(blob)
        if "parse" not in skip:
            t = time.perf_counter()
            parse_only(blob)
            parse_s += time.perf_counter() - t
    report["corpus"] = {"parcels": args.parcels, "messages": messages, "megabytes": round(size / 1e6, 1)}
    if "parse" not in skip:
        report["parse_only"] = {
            "parcels_per_s": round(args.parcels / parse_s),
            "seconds": round(parse_s, 2),
            "processes": 1,
        }

    params, hs = default_parameters(), load_cbec_hs().frame()
    now = datetime(2026, 11, 12)
    if "step" not in skip:
        blobs: list[bytes] = []
        lists_seen = 0
        for _, blob in iter_inputs(corpus):
            blobs.append(blob)
            if b"CEB621Message" in blob[:400]:
                lists_seen += blob.count(b"<ceb:InventoryHead>")
            if lists_seen >= args.step_parcels:
                break
        docs = from_batch(decode_batch(blobs), received_at=now)
        del blobs
        tax = make_tax(params, hs)
        state = StepState(waiting=empty_documents())
        run_step(docs, state, now=now, params=params, hs=hs, tax=tax)  # warm-up
        times = []
        for _ in range(3):
            t = time.perf_counter()
            result = run_step(docs, state, now=now, params=params, hs=hs, tax=tax)
            times.append(time.perf_counter() - t)
        step_s = sorted(times)[1]
        report["engine_step"] = {
            "parcels_per_s": round(result.decisions.height / step_s),
            "seconds_median_of_3": round(step_s, 3),
            "lists": result.decisions.height,
        }
        del docs, result

    if "e2e" not in skip:
        workers = default_workers() if args.workers is None else args.workers
        work = Path(tempfile.mkdtemp(prefix="cbec-bench-"))
        try:
            engine = connect(
                f"sqlite:///{work / 'cbec.db'}", background_checkpoints=args.background_checkpoints
            )
            clearer = Clearer(engine, params=params, hs=hs, outbox=work / "outbox", now=now)
            checkpointer = Checkpointer(engine)
            if args.background_checkpoints:
                threading.Thread(target=checkpointer.run, daemon=True).start()
            t, cpu = time.perf_counter(), time.process_time()
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            clearer.clear_stream(
                iter_message_files(corpus),  # as `cbec clear` does: the workers read the files
                batch_messages=args.batch,
                workers=workers,
                batches_per_commit=args.per_commit or BATCHES_PER_COMMIT,
            )
            e2e_s, main_cpu_s = time.perf_counter() - t, time.process_time() - cpu
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers have been waited for
            workers_cpu_s = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
            checkpointer.stop()
            summary = clearer.summary
        finally:
            shutil.rmtree(work, ignore_errors=True)
        parcels = summary.parcels + summary.waiting
        report["end_to_end"] = {
            "parcels_per_s": round(parcels / e2e_s),
            "seconds": round(e2e_s, 2),
            "released": summary.released,
            "refused": summary.lists.get(100, 0),
            "waiting": summary.waiting,
            "receipt_messages": summary.receipts,
            "processes": 1 + workers,
            # the clearing process is the one the run waits on: its CPU is the figure to bring down
            "cpu_seconds": {"clearing_process": round(main_cpu_s, 1), "workers": round(workers_cpu_s, 1)},
            "batch_messages": args.batch,
            "batches_per_commit": args.per_commit or BATCHES_PER_COMMIT,
        }
        if "parse" not in skip:
            report["end_to_end_vs_parse_only"] = round(parse_s / e2e_s, 3)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
