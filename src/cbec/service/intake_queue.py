"""The intake thread: requests that arrive together are read, checked and committed together.

Each ``POST /v1/messages`` hands its request to this thread and waits for its own answer.  The thread takes
what is queued — one request when traffic is light, a few dozen under load — and treats them in one go
(:func:`cbec.service.accepting.accept_many`): one decode call and one commit instead of one each.  Under
load that is what keeps both the throughput up and the waiting short; when idle a request is answered as
soon as it is read, with no batching delay.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from fastapi.responses import JSONResponse

from cbec.service.accepting import Submitted, accept_many
from cbec.service.context import ServiceContext

log = logging.getLogger("cbec.service.intake")


class IntakeQueue:
    def __init__(self, ctx: ServiceContext, *, max_batch: int = 64) -> None:
        self.ctx = ctx
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Submitted, Future[JSONResponse]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="cbec-intake", daemon=True)
        self.batches = 0
        self.messages = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def submit(self, request: Submitted) -> Future[JSONResponse]:
        future: Future[JSONResponse] = Future()
        self._queue.put((request, future))
        return future

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
            try:
                answers = accept_many(self.ctx, [r for r, _ in taken])
            except BaseException as exc:  # never leave a request waiting for ever
                log.exception("intake batch failed")
                for _, future in taken:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.messages += len(taken)
            for (_, future), answer in zip(taken, answers, strict=True):
                future.set_result(answer)
