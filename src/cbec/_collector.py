"""Fewer runs of Python's cycle collector during bulk clearing.

CPython runs its cycle collector every :data:`DEFAULT_THRESHOLD` (700) container objects allocated and not
yet freed.  A clearing batch makes millions of short-lived tuples and lists at its edges (the rows handed to
SQLite, the rows of the receipt files, the decoder's columns), so the collector ran thousands of times per
batch, and every so often it walked every object the process holds.  It was about a sixth of the clearing
process's CPU at 200,000 parcels (``perf``: ``gc_collect_main``, ``visit_decref``, ``visit_reachable``), and
the objects it walked almost never form cycles: they are freed by reference counting the moment a batch is
done with them.

So a bulk run raises the first threshold to :data:`BULK_THRESHOLD` for its duration.  The collector still
runs (a cycle, should one be made, is still freed), only about a hundred times less often, and each run
walks more young objects, so the memory it can hold back is bounded by that many objects (tens of MB at
most).  The previous thresholds come back when the run ends.  ``bench/clear.py`` measures the effect (see
``docs/benchmarks.md``, session 10).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["BULK_THRESHOLD", "DEFAULT_THRESHOLD", "bulk_thresholds", "fewer_collections"]

#: CPython's default first threshold (objects allocated minus freed between two young collections).
DEFAULT_THRESHOLD: Final = 700
#: The first threshold during bulk work; the older generations are collected correspondingly less often.
BULK_THRESHOLD: Final = 100_000
_OLDER: Final = (50, 1000)


def bulk_thresholds() -> None:
    """Raise the thresholds for the rest of the process (worker processes that only do bulk work)."""
    gc.set_threshold(BULK_THRESHOLD, *_OLDER)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Bulk thresholds inside the block, the previous ones after it (even when the block raises)."""
    before = gc.get_threshold()
    bulk_thresholds()
    try:
        yield
    finally:
        gc.set_threshold(*before)
