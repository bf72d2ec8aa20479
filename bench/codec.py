"""Benchmark: CEB decode-to-columns and encode, next to lxml parse-only of the same bytes.

Prints one JSON line.  The corpus is generated (seeded) import traffic — orders, payments, waybills and signed
lists packed 1–100 documents per message — and cached under ``out/bench-corpus-<parcels>-<seed>``.

    python bench/codec.py --parcels 20000 --repeat 5

Figures are medians over ``--repeat`` runs of the whole corpus, in one process (single core); ``--batch N``
decodes N messages per call (default: the whole corpus in one call); ``--workers 2`` adds a run of
decode-to-columns split over processes, to show what both cores give.  ``batch_pickle`` is what sending a
decoded batch between processes costs (the whole corpus's batch, pickled and unpickled).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cbec.messages.columns import decode_batch
from cbec.messages.decode import messages_from_batch
from cbec.messages.encode import OutDocument, encode
from cbec.messages.safe_xml import parse_only
from cbec.sim.generate import GeneratorConfig, write_corpus

REPO = Path(__file__).resolve().parent.parent


def corpus(parcels: int, seed: int) -> list[bytes]:
    folder = REPO / "out" / f"bench-corpus-{parcels}-{seed}"
    done = folder / ".complete"
    if not done.exists():
        write_corpus(folder, GeneratorConfig(parcels=parcels, seed=seed))
        done.write_text("ok")
    return [p.read_bytes() for p in sorted(folder.rglob("*.xml"))]


def _timed(fn: object, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return times


def _decode_chunk(blobs: list[bytes]) -> int:
    return decode_batch(blobs).messages.height


def _decode_batches(blobs: list[bytes], size: int) -> None:
    if size <= 0:
        decode_batch(blobs)
        return
    for i in range(0, len(blobs), size):
        decode_batch(blobs[i : i + size])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parcels", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=0, help="messages per decode call (0: all at once)")
    args = ap.parse_args()

    blobs = corpus(args.parcels, args.seed)
    n = len(blobs)
    mb = sum(len(b) for b in blobs) / 1e6

    # parse-only and decode alternate (A B A B …) so that drift in the machine's speed hits both alike;
    # the ratio is taken pair by pair and its median reported
    parse_t, decode_t = [], []
    decode_batch(blobs[:20])  # warm-up: code tables, Polars

    def parse_all() -> None:
        # each tree is dropped before the next parse, as the decoder does: holding them all would make the
        # reference slower (memory growth), not the decoder faster
        for b in blobs:
            parse_only(b)

    for _ in range(args.repeat):
        parse_t += _timed(parse_all, 1)
        decode_t += _timed(lambda: _decode_batches(blobs, args.batch), 1)
    pair_ratios = [p / d for p, d in zip(parse_t, decode_t, strict=True)]

    batch = decode_batch(blobs)
    errors = batch.errors().height
    pickled = pickle.dumps(batch)
    dumps_t = _timed(lambda: pickle.dumps(batch), args.repeat)
    loads_t = _timed(lambda: pickle.loads(pickled), args.repeat)
    messages = messages_from_batch(batch)
    plans = [
        (m.message_type, [OutDocument(d.head, d.lines) for d in m.documents], m.transfer) for m in messages
    ]
    # encode without signing: the signature is crypto, not codec work (signing is measured by issue 4)
    unsigned = [(b, plan) for b, plan in zip(blobs, plans, strict=True) if plan[0] != "CEB621Message"]
    encode_t = _timed(lambda: [encode(t, docs, transfer=tr) for _, (t, docs, tr) in unsigned], args.repeat)
    enc_n = len(unsigned)
    enc_mb = sum(len(b) for b, _ in unsigned) / 1e6

    # the columnar writer (what clearance uses for volume): same documents, from the decoded tables
    from cbec.messages.encode_columns import encode_documents
    from cbec.messages.spec import message_spec

    transfers = {r.index: r.transfer for r in batch.raw}

    def columnar() -> int:
        written = 0
        for (mt, ent), table in batch.tables.items():
            spec = message_spec(mt)
            if ent != spec.head.name or spec.signature_required:
                continue
            lines = batch.tables.get((mt, spec.lines.name)) if spec.lines else None
            for _m, data in encode_documents(
                mt,
                table.drop("_line"),
                lines.drop("_line") if lines is not None else None,
                transfers=transfers,
            ):
                written += len(data)
        return written

    col_bytes = columnar()
    columnar_t = _timed(columnar, args.repeat)

    parallel = None
    if args.workers > 1:
        chunks = [blobs[i :: args.workers] for i in range(args.workers)]
        # spawn, not fork: a forked child inherits Polars' thread pool in whatever state it was and can hang
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_decode_chunk, chunks))  # warm the workers
            par_t = _timed(lambda: list(pool.map(_decode_chunk, chunks)), args.repeat)
        parallel = statistics.median(par_t)

    p, d, e = statistics.median(parse_t), statistics.median(decode_t), statistics.median(encode_t)
    docs = sum(t.height for (mt, ent), t in batch.tables.items() if ent.endswith("Head"))
    result = {
        "bench": "codec",
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}",
        "corpus": {
            "parcels": args.parcels,
            "messages": n,
            "documents": docs,
            "megabytes": round(mb, 2),
            "decode_errors": errors,
        },
        "parse_only": {"messages_per_s": round(n / p), "mb_per_s": round(mb / p, 1), "seconds": round(p, 3)},
        "decode_to_columns": {
            "messages_per_s": round(n / d),
            "mb_per_s": round(mb / d, 1),
            "documents_per_s": round(docs / d),
            "seconds": round(d, 3),
        },
        "batch": args.batch or n,
        "decode_vs_parse_only": round(statistics.median(pair_ratios), 3),
        "decode_vs_parse_only_range": [round(min(pair_ratios), 3), round(max(pair_ratios), 3)],
        "batch_pickle": {
            "megabytes": round(len(pickled) / 1e6, 1),
            "dumps_seconds": round(statistics.median(dumps_t), 3),
            "loads_seconds": round(statistics.median(loads_t), 3),
        },
        "encode": {
            "messages_per_s": round(enc_n / e),
            "mb_per_s": round(enc_mb / e, 1),
            "seconds": round(e, 3),
            "note": "unsigned types only (311/411/511)",
        },
        "encode_columns": {
            "messages_per_s": round(enc_n / statistics.median(columnar_t)),
            "mb_per_s": round(col_bytes / 1e6 / statistics.median(columnar_t), 1),
            "seconds": round(statistics.median(columnar_t), 3),
            "note": "columnar strict writer, same unsigned messages",
        },
        "decode_to_columns_parallel": None
        if parallel is None
        else {
            "workers": args.workers,
            "messages_per_s": round(n / parallel),
            "mb_per_s": round(mb / parallel, 1),
        },
        "repeat": args.repeat,
        "statistic": "median",
    }
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
