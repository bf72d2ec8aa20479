"""Synthetic CEB traffic: consistent order/payment/waybill/list sets for retail imports.

Each parcel gets an order (CEB311), a payment (CEB411), a waybill (CEB511) and a list (CEB621, signed), with
the amounts, parties and buyer agreeing across the four as the matching rules expect.  Parcels are packed 1 to
100 documents per message as the XSD allows; all documents of a message come from one sender.

How it is made, for a million parcels in minutes:

* a **plan** for the whole day, drawn up front in one process: the message sizes and the companies behind
  each batch, each parcel's planted fault and its buyer (new or returning, from one pool for the whole day;
  the heavy "whale" buyers from another), and from these the number of files of each type;
* **chunks** of whole batches (``GeneratorConfig.chunk_parcels`` parcels or a little more), each built as
  Polars columns from its own seeded draws (:mod:`cbec.sim.chunk`) and written with the columnar strict
  writer, in this process or in spawned worker processes — the output does not depend on how many;
* the **ground truth** (``manifest.csv``): the planted faults come back from the chunks; the annual quota,
  which depends on everything the buyer bought before, is judged at the end over the whole day in arrival
  order.

The run is seeded: the same seed (and chunk size) gives the same documents — only the signatures differ,
since each run (each worker process) signs with a throw-away key.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from cbec.sim.draws import Draws
from cbec.sim.parties import AGENTS, ENTERPRISES, LOGISTICS, PAYMENT, PLATFORMS

IMPORT_TYPES = ("CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message")
MAX_DOCUMENTS = 100
#: Share of batches whose messages arrive in reverse order (lists first, orders last): out-of-order traffic.
OUT_OF_ORDER_SHARE = 0.1


@dataclass
class GeneratorConfig:
    parcels: int = 1000
    seed: int = 1
    day: datetime = field(default_factory=lambda: datetime(2026, 11, 11, 0, 0, 0))
    docs_per_message: tuple[int, int] = (1, 100)
    bonded_share: float = 0.4  # share of 1210 parcels
    repeat_buyer_share: float = 0.6
    # planted faults: name -> share of parcels (see FAULTS); empty = clean traffic
    faults: dict[str, float] = field(default_factory=dict)
    # parcels per chunk (whole batches): bounds the memory; part of what a seed means
    chunk_parcels: int = 10_000


# fault -> (expected list status, expected code, rule) — the ground truth written to the manifest
FAULTS: dict[str, tuple[int, str | None, str | None]] = {
    "amount_mismatch": (100, "-621001", "M2"),
    "payer_not_buyer": (100, "-621001", "M5"),
    "bad_id": (100, "-621001", "V1"),
    "off_list": (100, "-621001", "V2"),
    "over_single_limit": (100, "-621005", "T"),
    "duplicate_list": (100, "-621004", "D"),
    "missing_payment": (2, None, None),
    "over_quota": (100, "-621018", "Q"),
}
DEFAULT_FAULTS = {
    "amount_mismatch": 0.01,
    "payer_not_buyer": 0.01,
    "bad_id": 0.005,
    "off_list": 0.005,
    "over_single_limit": 0.005,
    "duplicate_list": 0.005,
    "missing_payment": 0.005,
    "over_quota": 0.01,
}
ANNUAL_LIMIT_FEN = 26_000_00  # CNY 26,000: the annual quota the manifest judges by
WHALE_POOL_MIN, NEW_WHALE_SHARE = 3, 0.1  # heavy buyers: at least three, then a new one one time in ten


@dataclass(frozen=True)
class Chunk:
    """A run of whole batches, with everything the plan decided for them.

    ``parcels``: ``n`` (serial from 1), ``batch``, ``pos`` (place in the batch), ``fault``, ``whale`` (the
    buyer comes from the heavy buyers' pool), ``buyer`` (index in that pool).  ``batches``: ``batch``,
    ``size`` and the companies (indices into :mod:`cbec.sim.parties`).  ``first_file`` and ``files``: the
    number of the chunk's first file of each message type, and how many it writes.  ``arrival``: for each
    type, the arrival number of each of those files (its file name), counted over all types of the day.
    """

    index: int
    parcels: pl.DataFrame
    batches: pl.DataFrame
    first_file: dict[str, int]
    files: dict[str, int]
    arrival: dict[str, list[int]]


@dataclass
class ChunkResult:
    index: int
    parcels: int
    files: dict[str, int]
    bytes: int
    manifest: pl.DataFrame  # one row per list (see cbec.sim.chunk.build_chunk)


@dataclass
class CorpusSummary:
    parcels: int
    files: dict[str, int]
    bytes: int
    seconds: float
    workers: int

    @property
    def parcels_per_second(self) -> float:
        return self.parcels / self.seconds if self.seconds else 0.0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0


def _messages(docs: pl.Expr) -> pl.Expr:
    """Messages needed for ``docs`` documents (≤ 100 each)."""
    return (docs + MAX_DOCUMENTS - 1) // MAX_DOCUMENTS


def plan(config: GeneratorConfig) -> list[Chunk]:
    """Draw the day's shape: batches, their companies, each parcel's fault and buyer; cut it into chunks."""
    draws = Draws(f"cbec-sim/{config.seed}/plan")
    low, high = config.docs_per_message
    sizes: list[int] = []
    left = config.parcels
    while left > 0:
        size = min(left, draws.rng.randint(low, high))
        sizes.append(size)
        left -= size
    nb, total = len(sizes), config.parcels
    batches = pl.DataFrame(
        {
            "batch": pl.int_range(nb, eager=True, dtype=pl.Int64),
            "size": pl.Series(sizes, dtype=pl.Int64),
            "platform": draws.below(nb, len(PLATFORMS)),
            "ebc": draws.below(nb, len(ENTERPRISES)),
            "pay": draws.below(nb, len(PAYMENT)),
            "logistics": draws.below(nb, len(LOGISTICS)),
            "agent": draws.below(nb, len(AGENTS)),
        }
    )
    names = [*config.faults, "clean"]
    bounds, acc = [], 0.0
    for share in config.faults.values():
        acc += share
        bounds.append(acc)
    r = draws.uniform(total)
    fault_index = (r * 0).cast(pl.Int64)
    for b in bounds:
        fault_index = fault_index + (r >= b).cast(pl.Int64)
    parcels = pl.DataFrame(
        {
            "n": pl.int_range(1, total + 1, eager=True, dtype=pl.Int64),
            "batch": batches["batch"].repeat_by(batches["size"]).explode(),
            "fault": pl.Series(names, dtype=pl.String).gather(fault_index),
            "r_new": draws.uniform(total),
            "r_pick": draws.uniform(total),
        }
    )
    # buyers: a returning buyer is anyone met before (uniformly); whales come from their own small pool
    rank = pl.int_range(pl.len()).over("whale")
    parcels = parcels.with_columns(
        pl.int_range(pl.len()).over("batch").alias("pos"), (pl.col("fault") == "over_quota").alias("whale")
    ).with_columns(
        pl.when(pl.col("whale"))
        .then((rank < WHALE_POOL_MIN) | (pl.col("r_new") < NEW_WHALE_SHARE))
        .otherwise((rank == 0) | (pl.col("r_new") >= config.repeat_buyer_share))
        .alias("new")
    )
    met = pl.col("new").cast(pl.Int64).cum_sum().over("whale")  # pool size after this parcel
    parcels = parcels.with_columns(met.alias("met")).select(
        "n",
        "batch",
        "pos",
        "fault",
        "whale",
        pl.when(pl.col("whale"))
        .then((pl.col("r_pick") * pl.col("met")).floor())
        .when(pl.col("new"))
        .then(pl.col("met") - 1)
        .otherwise((pl.col("r_pick") * (pl.col("met") - 1)).floor())
        .cast(pl.Int64)
        .alias("buyer"),
    )
    # files per batch and type: 411 leaves out missing payments, 621 adds the duplicate lists
    per_batch = batches.join(
        parcels.group_by("batch").agg(
            (pl.col("fault") == "missing_payment").sum().cast(pl.Int64).alias("missing"),
            (pl.col("fault") == "duplicate_list").sum().cast(pl.Int64).alias("twins"),
        ),
        on="batch",
        how="left",
        maintain_order="left",
    ).select(
        "batch",
        "size",
        _messages(pl.col("size")).alias("CEB311Message"),
        _messages(pl.col("size") - pl.col("missing")).alias("CEB411Message"),
        _messages(pl.col("size")).alias("CEB511Message"),
        _messages(pl.col("size") + pl.col("twins")).alias("CEB621Message"),
    )
    # chunks of whole batches
    chunk_of: list[int] = []
    current = filled = 0
    for size in sizes:
        if filled >= config.chunk_parcels:
            current, filled = current + 1, 0
        chunk_of.append(current)
        filled += size
    per_batch = per_batch.with_columns(pl.Series("chunk", chunk_of, dtype=pl.Int64))
    files = per_batch.group_by("chunk", maintain_order=True).agg(pl.col(t).sum() for t in IMPORT_TYPES)
    firsts = files.select(
        "chunk",
        *[(pl.col(t).cum_sum() - pl.col(t)).alias(f"first_{t}") for t in IMPORT_TYPES],
        *IMPORT_TYPES,
    )
    arrival = _arrival_numbers(per_batch, draws.uniform(nb) < OUT_OF_ORDER_SHARE)
    batches = batches.with_columns(pl.Series("chunk", chunk_of, dtype=pl.Int64))
    parcels = parcels.join(batches.select("batch", "chunk"), on="batch", maintain_order="left")
    parcel_parts = parcels.partition_by("chunk", as_dict=True, include_key=False, maintain_order=True)
    batch_parts = batches.partition_by("chunk", as_dict=True, include_key=False, maintain_order=True)
    return [
        Chunk(
            index=int(row["chunk"]),
            parcels=parcel_parts[(row["chunk"],)],
            batches=batch_parts[(row["chunk"],)],
            first_file={t: int(row[f"first_{t}"]) for t in IMPORT_TYPES},
            files={t: int(row[t]) for t in IMPORT_TYPES},
            arrival={
                t: arrival[t][int(row[f"first_{t}"]) : int(row[f"first_{t}"]) + int(row[t])]
                for t in IMPORT_TYPES
            },
        )
        for row in firsts.iter_rows(named=True)
    ]


def _arrival_numbers(per_batch: pl.DataFrame, reverse: pl.Series) -> dict[str, list[int]]:
    """The order the day's messages arrive in: batch after batch, and within a batch orders, payments,
    waybills, lists, except in the ``reverse`` batches, where the lists come first and the orders last.

    Returns, per type, the arrival number of each of its files in file order; the file names carry these
    numbers, and ``cbec clear`` takes files in name order.
    """
    rank = {t: i for i, t in enumerate(IMPORT_TYPES)}
    long = (
        per_batch.select("batch", *IMPORT_TYPES)
        .with_columns(reverse.alias("reverse"))
        .unpivot(index=["batch", "reverse"], on=list(IMPORT_TYPES), variable_name="type", value_name="count")
        .with_columns(pl.col("type").replace_strict(rank, return_dtype=pl.Int64).alias("rank"))
        .with_columns(
            pl.when(pl.col("reverse")).then(3 - pl.col("rank")).otherwise(pl.col("rank")).alias("slot")
        )
        .filter(pl.col("count") > 0)
        .with_columns(pl.int_ranges(0, pl.col("count")).alias("k"))
        .explode("k")
        .sort("batch", "slot", "k")
        .with_row_index("arrival")
        .sort("type", "batch", "k")
    )
    return {t: long.filter(pl.col("type") == t)["arrival"].cast(pl.Int64).to_list() for t in IMPORT_TYPES}


def judge_quota(lists: pl.DataFrame) -> pl.DataFrame:
    """The manifest: each list's expected answer, the annual quota judged over the whole day.

    ``lists`` (in arrival order): ``list_key``, ``list_guid``, ``fault``, ``buyer_id``, ``dutiable`` (fen).
    Every list that should clear counts against its buyer's annual quota, in arrival order; a list that
    would take the buyer over CNY 26,000 is expected to be refused (−621018) and does not count.  That is
    the fate of the heavy buyers ("over_quota"; their lists that still fit are "quota_within"), and of an
    ordinary frequent buyer who runs out.
    """
    counts = pl.col("fault").is_in(["clean", "over_quota"])
    lists = lists.with_row_index("_row").with_columns(counts.alias("_counts"))
    totals = lists.filter(pl.col("_counts")).group_by("buyer_id").agg(pl.col("dutiable").sum().alias("total"))
    troubled = totals.filter(pl.col("total") > ANNUAL_LIMIT_FEN)["buyer_id"]
    over_rows: set[int] = set()
    sequential = lists.filter(pl.col("_counts") & pl.col("buyer_id").is_in(troubled.implode())).sort("_row")
    used: dict[str, int] = {}
    for row, buyer, amount in sequential.select("_row", "buyer_id", "dutiable").iter_rows():
        before = used.get(buyer, 0)
        if before + amount > ANNUAL_LIMIT_FEN:
            over_rows.add(row)
        else:
            used[buyer] = before + amount
    over = pl.col("_row").is_in(pl.Series(sorted(over_rows), dtype=pl.UInt32).implode())
    label = (
        pl.when(pl.col("_counts") & over)
        .then(pl.lit("over_quota"))
        .when(pl.col("fault") == "over_quota")
        .then(pl.lit("quota_within"))
        .otherwise(pl.col("fault"))
    )
    lists = lists.with_columns(label.alias("fault"))
    expected = {name: status for name, (status, _c, _r) in FAULTS.items()}
    codes = {name: code for name, (_s, code, _r) in FAULTS.items() if code}
    rules = {name: rule for name, (_s, _c, rule) in FAULTS.items() if rule}
    return lists.select(
        "list_key",
        "list_guid",
        "fault",
        pl.col("fault").replace_strict(expected, default=800, return_dtype=pl.Int64).alias("expected_status"),
        pl.col("fault").replace_strict(codes, default=None, return_dtype=pl.String).alias("expected_code"),
        pl.col("fault").replace_strict(rules, default=None, return_dtype=pl.String).alias("rule"),
    )


def _run_chunk(task: tuple[Path, GeneratorConfig, Chunk]) -> ChunkResult:
    from cbec.sim.chunk import write_chunk

    return write_chunk(*task)


def default_workers(chunks: int) -> int:
    """Two processes when there are enough chunks to pay for starting them (a couple of seconds) and more
    than one core; the output is the same either way."""
    return 2 if chunks >= 4 and (os.cpu_count() or 1) >= 2 else 1


def generate_corpus(
    out: Path,
    config: GeneratorConfig,
    progress: Callable[[int], None] | None = None,
    *,
    workers: int | None = None,
) -> CorpusSummary:
    """Write the messages as ``out/<type>/<n>.xml`` and the ground truth as ``out/manifest.csv``."""
    t0 = time.perf_counter()
    chunks = plan(config)
    out.mkdir(parents=True, exist_ok=True)
    for mtype in IMPORT_TYPES:
        (out / mtype).mkdir(exist_ok=True)
    n_workers = default_workers(len(chunks)) if workers is None else max(1, min(workers, len(chunks)))
    tasks = [(out, config, chunk) for chunk in chunks]
    files = dict.fromkeys(IMPORT_TYPES, 0)
    written = 0
    manifests: list[pl.DataFrame] = []

    def collect(results: Iterable[ChunkResult]) -> None:
        nonlocal written
        for result in results:
            for mtype, k in result.files.items():
                files[mtype] += k
            written += result.bytes
            manifests.append(result.manifest)
            if progress:
                progress(result.parcels)

    if n_workers == 1:
        collect(map(_run_chunk, tasks))
    else:
        # spawn, not fork: a forked Polars (its thread pool) can hang.  A worker that cannot start (a script
        # without the ``if __name__ == "__main__"`` guard) breaks the pool: the chunks left are made here.
        done = 0
        try:
            with ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for result in pool.map(_run_chunk, tasks):
                    collect([result])
                    done += 1
        except BrokenProcessPool:
            n_workers = 1
            collect(map(_run_chunk, tasks[done:]))
    manifest = judge_quota(pl.concat(manifests) if manifests else _empty_lists())
    manifest.write_csv(out / "manifest.csv")
    return CorpusSummary(
        parcels=config.parcels,
        files={t: k for t, k in files.items() if k},
        bytes=written,
        seconds=time.perf_counter() - t0,
        workers=n_workers,
    )


def _empty_lists() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "list_key": pl.String,
            "list_guid": pl.String,
            "fault": pl.String,
            "buyer_id": pl.String,
            "dutiable": pl.Int64,
        }
    )


def write_corpus(
    out: Path,
    config: GeneratorConfig,
    progress: Callable[[int], None] | None = None,
    *,
    workers: int | None = None,
) -> dict[str, int]:
    """Write messages as ``out/<type>/<n>.xml``; returns counts of files per type."""
    return generate_corpus(out, config, progress, workers=workers).files
