"""Decoding ahead in worker processes while the main process clears.

Decoding (parsing, walking and checking the XML) is the one stage whose work is independent per message,
and it is the largest; compressing each message for the inbox is another, done in the same place.  Worker
processes prepare the next batches while the main process clears the current one, so both cores work and
the single writer to the store stays in one process.  Batches come back in the order they went out:
clearance depends on arrival order.  Workers are *spawned*, never forked (a forked child inherits Polars'
thread pool in whatever state it was and can hang).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice

from cbec.messages.columns import ColumnBatch, decode_batch
from cbec.store.inbox import pack

Named = list[tuple[str, bytes]]


def default_workers() -> int:
    """Decoding workers: one per core, but none on a single core (the main process decodes itself)."""
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def batches_of(named: Iterable[tuple[str, bytes]], size: int) -> Iterator[Named]:
    it = iter(named)
    while part := list(islice(it, size)):
        yield part


@dataclass(frozen=True)
class Prepared:
    """A batch made ready for clearance: decoded, and each message compressed for the inbox with the digest
    of its bytes (:func:`cbec.store.inbox.pack`), so the writer has nothing left to do per byte."""

    batch: ColumnBatch
    packed: list[tuple[bytes, str]]


def _prepare(blobs: list[bytes]) -> Prepared:
    return Prepared(decode_batch(blobs), [pack(b) for b in blobs])


def decode_ahead(batches: Iterable[Named], *, workers: int) -> Iterator[tuple[Named, Prepared]]:
    """Each batch with its decoded columns, in input order; up to ``workers + 1`` batches decode ahead."""
    if workers <= 0:
        for named in batches:
            yield named, _prepare([b for _, b in named])
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[tuple[Named, Future[Prepared]]] = deque()
        for named in batches:
            pending.append((named, pool.submit(_prepare, [b for _, b in named])))
            if len(pending) > workers:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
