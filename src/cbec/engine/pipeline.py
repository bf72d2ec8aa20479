"""Decoding ahead in worker processes while the main process clears.

Decoding (parsing, walking and checking the XML) is the one stage whose work is independent per message,
and it is the largest.  Worker processes decode the next batches while the main process clears the current
one, so both cores work and the single writer to the store stays in one process.  Batches come back in the
order they went out: clearance depends on arrival order.  Workers are *spawned*, never forked (a forked
child inherits Polars' thread pool in whatever state it was and can hang).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice

from cbec.messages.columns import ColumnBatch, decode_batch

Named = list[tuple[str, bytes]]


def default_workers() -> int:
    """Decoding workers: one per core, but none on a single core (the main process decodes itself)."""
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def batches_of(named: Iterable[tuple[str, bytes]], size: int) -> Iterator[Named]:
    it = iter(named)
    while part := list(islice(it, size)):
        yield part


def _decode(blobs: list[bytes]) -> ColumnBatch:
    return decode_batch(blobs)


def decode_ahead(batches: Iterable[Named], *, workers: int) -> Iterator[tuple[Named, ColumnBatch]]:
    """Each batch with its decoded columns, in input order; up to ``workers + 1`` batches decode ahead."""
    if workers <= 0:
        for named in batches:
            yield named, decode_batch([b for _, b in named])
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[tuple[Named, Future[ColumnBatch]]] = deque()
        for named in batches:
            pending.append((named, pool.submit(_decode, [b for _, b in named])))
            if len(pending) > workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
