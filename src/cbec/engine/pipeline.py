"""Decoding ahead in worker processes while the main process clears.

Decoding (parsing, walking and checking the XML) is the one stage whose work is independent per message,
and it is the largest; compressing each message for the inbox is another, done in the same place.  Worker
processes prepare the next batches while the main process clears the current one, so both cores work and
the single writer to the store stays in one process.  Batches come back in the order they went out:
clearance depends on arrival order.  Workers are *spawned*, never forked (a forked child inherits Polars'
thread pool in whatever state it was and can hang).  The data key that encrypts the messages for the inbox
reaches each worker once, as an argument of its initialiser (never on a command line, in the environment or
in a log).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any, Final

from cbec._parent import exit_with_parent
from cbec._threads import POLARS_THREADS_ENV
from cbec.engine.inputs import MessageFile, read_messages
from cbec.messages.columns import ColumnBatch, decode_batch
from cbec.privacy.keys import DataKeyError, Keyring
from cbec.store.inbox import pack

Named = list[tuple[str, bytes | MessageFile]]
"""A batch of messages, each named and given as its bytes or as where it lies (read by the decoder)."""


def default_workers() -> int:
    """Decoding workers: one per core, but none on a single core (the main process decodes itself)."""
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def batches_of(named: Iterable[tuple[str, bytes | MessageFile]], size: int) -> Iterator[Named]:
    it = iter(named)
    while part := list(islice(it, size)):
        yield part


@dataclass(frozen=True)
class Prepared:
    """A batch made ready for clearance: decoded, and each message compressed (and encrypted) for the inbox
    with the digest of its bytes (:func:`cbec.store.inbox.pack`), so the writer has nothing left to do per
    byte."""

    batch: ColumnBatch
    packed: list[tuple[bytes, str]]
    refused: dict[int, bytes]
    """The bytes of the messages refused at decoding (their CEB900 answer echoes them), by position."""


_worker_keys: Keyring | None = None


#: How much lower the workers' scheduling priority is than the clearing process's (``nice``).  The clearing
#: process is the one that sets the pace (it alone writes the store); with two workers and it on two cores,
#: each got about two thirds of a core whenever all three were busy.  Lower-priority workers take what the
#: clearing process leaves, which is enough: they need less CPU than it does (docs/benchmarks.md, session 14).
WORKER_NICENESS: Final = 10


def _init_worker(keys: Keyring | None) -> None:
    global _worker_keys
    _worker_keys = keys
    os.nice(WORKER_NICENESS)
    # killed outright, the clearing process closes nothing: without this its workers waited for ever
    exit_with_parent()


def prepare(items: list[bytes | MessageFile], keys: Keyring | None = None) -> Prepared:
    """A batch read, decoded and packed for the inbox (in a worker, with the key its initialiser got)."""
    keys = keys if keys is not None else _worker_keys
    if keys is None:  # the inbox holds messages encrypted only (docs/privacy.md)
        raise DataKeyError("no data key to seal inbox messages with / 没有加密收件箱报文的数据密钥")
    blobs = read_messages(items)
    batch = decode_batch(blobs)
    return Prepared(batch, [pack(b, keys) for b in blobs], refused_bytes(batch, blobs))


def refused_bytes(batch: ColumnBatch, blobs: list[bytes]) -> dict[int, bytes]:
    """The bytes of the batch's messages refused at decoding, by position (:attr:`Prepared.refused`)."""
    return {i: blobs[i] for i in sorted(batch.rejected())}


#: Polars threads in each worker process (see :class:`_WorkerProcess`); ``POLARS_MAX_THREADS`` set by the
#: operator wins.
WORKER_POLARS_THREADS: Final = 1
_environ_lock = threading.Lock()


class _WorkerProcess(SpawnProcess):
    """A spawned worker that starts with :data:`WORKER_POLARS_THREADS` Polars threads.

    Polars sizes its thread pool to the cores when it loads.  With one worker per core, each worker's
    pool of two (on the 2-core VM) and the clearing process's own threads made five busy threads on two
    cores, and a batch's Polars work waited on threads the scheduler had put aside: with one thread per
    worker, 200,000 parcels cleared in 0.94× the wall time and 0.95× the CPU (median of 4 ``farm-bench``
    pairs, docs/benchmarks.md, session 10).  The pool size can only be given through the environment the
    child starts with, so it is set for the instant of the spawn (a worker replaced later gets the same).
    """

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _environ_lock:
            if POLARS_THREADS_ENV in os.environ:
                return SpawnProcess._Popen(process_obj)
            os.environ[POLARS_THREADS_ENV] = str(WORKER_POLARS_THREADS)
            try:
                return SpawnProcess._Popen(process_obj)
            finally:
                del os.environ[POLARS_THREADS_ENV]


class _WorkerContext(SpawnContext):
    Process = _WorkerProcess


def spawn_pool(workers: int, keys: Keyring | None = None) -> ProcessPoolExecutor:
    """The worker processes of one clearing run: they decode ahead, and render receipts on request
    (:mod:`cbec.engine.receipt_render`).  ``keys`` is the inbox data key (see the module's note)."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_WorkerContext(),
        initializer=_init_worker,
        initargs=(keys,),
    )


def decode_ahead(
    batches: Iterable[Named], *, pool: ProcessPoolExecutor | None, ahead: int, keys: Keyring | None = None
) -> Iterator[tuple[Named, Prepared]]:
    """Each batch with its decoded columns, in input order.

    With ``pool`` (made by :func:`spawn_pool`, which gave its processes the data key) up to ``ahead + 1``
    batches decode in it ahead of their turn; without, each batch is decoded here, packed with ``keys``.
    Messages are packed compressed and encrypted (``zstd-gcm``); there is no unencrypted form, so a key
    is required either way.
    """
    if pool is None:
        for named in batches:
            yield named, prepare([item for _, item in named], keys)
        return
    pending: deque[tuple[Named, Future[Prepared]]] = deque()
    for named in batches:
        pending.append((named, pool.submit(prepare, [item for _, item in named])))
        if len(pending) > ahead:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()
