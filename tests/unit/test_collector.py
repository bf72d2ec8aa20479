"""cbec._collector: bulk thresholds inside the block, the caller's own after it, and cycles still freed."""

from __future__ import annotations

import gc
import weakref

import pytest

from cbec._collector import BULK_THRESHOLD, fewer_collections


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_thresholds_come_back_even_after_an_error() -> None:
    before = gc.get_threshold()
    gc.set_threshold(900, 11, 12)
    try:
        with pytest.raises(RuntimeError), fewer_collections():
            assert gc.get_threshold()[0] == BULK_THRESHOLD
            raise RuntimeError("boom")
        assert gc.get_threshold() == (900, 11, 12)
    finally:
        gc.set_threshold(*before)


def test_cycles_made_inside_are_still_collected() -> None:
    with fewer_collections():
        cycle = _Node()
        gone = weakref.ref(cycle)
        del cycle
        assert gone() is not None  # a cycle: reference counting alone cannot free it
        # enough young objects to pass the raised threshold: the collector still runs by itself
        keep = [[i] for i in range(3 * BULK_THRESHOLD)]
        assert gone() is None
        del keep
