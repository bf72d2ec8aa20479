"""A thread that takes what request handlers hand over a batch at a time.

Several request paths (message intake, gate events) do better treating the requests that arrive together in
one go — one decode, one query plan, one commit — than one by one.  Each handler puts its item and waits on
its own future; the thread takes the first item as soon as it comes (no batching delay when idle) and, with
it, whatever else is already queued, up to ``max_batch``.
"""

from __future__ import annotations

import queue
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchingThread(Generic[T]):
    def __init__(self, name: str, *, max_batch: int = 64) -> None:
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch under way (and what was queued before), then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def put(self, item: T) -> None:
        self._queue.put(item)

    def handle(self, batch: list[T]) -> None:
        """Treat one batch; must answer every item (set each future), whatever happens."""
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            taken = [first]
            while len(taken) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                taken.append(more)
            self.handle(taken)
