"""The intake thread: requests that arrive together are read, checked and committed together.

Each ``POST /v1/messages`` hands its request to this thread and waits for its own answer.  The thread takes
what is queued — one request when traffic is light, a few dozen under load — and treats them in one go
(:func:`cbec.service.accepting.accept_many`): one decode call and one commit instead of one each.  Under
load that is what keeps both the throughput up and the waiting short; when idle a request is answered as
soon as it is read, with no batching delay.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from fastapi.responses import JSONResponse

from cbec.service.accepting import Submitted, accept_many
from cbec.service.batching import BatchingThread
from cbec.service.context import ServiceContext

log = logging.getLogger("cbec.service.intake")


class IntakeQueue(BatchingThread[tuple[Submitted, "Future[JSONResponse]"]]):
    def __init__(self, ctx: ServiceContext, *, max_batch: int = 64) -> None:
        super().__init__("cbec-intake", max_batch=max_batch)
        self.ctx = ctx
        self.batches = 0
        self.messages = 0

    def submit(self, request: Submitted) -> Future[JSONResponse]:
        future: Future[JSONResponse] = Future()
        self.put((request, future))
        return future

    def handle(self, batch: list[tuple[Submitted, Future[JSONResponse]]]) -> None:
        try:
            answers = accept_many(self.ctx, [r for r, _ in batch])
        except BaseException as exc:  # never leave a request waiting for ever
            log.exception("intake batch failed")
            for _, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        self.messages += len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            future.set_result(answer)
