"""The gate thread: vehicles that arrive together are decided together (one frame, one commit).

At 100 vehicles/s one decision at a time would spend most of its time building the same query plan and
committing; here each ``POST /v1/gate/events`` hands its event to this thread and waits for its own answer.
The thread takes what is queued (one event when traffic is light, a few under load), groups it by caller
(reporter and scope), and decides each group in one call of :func:`cbec.service.gate.decide_events`.  A group
that is refused as a whole (a conflicting or repeated event id) is decided again event by event, so one bad
event never fails the others.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, InvalidStateError
from typing import Any

from cbec.service import gate as desk
from cbec.service.batching import BatchingThread
from cbec.service.context import ServiceContext
from cbec.store.gate import Scope

log = logging.getLogger("cbec.service.gate")

Item = tuple[desk.GateEvent, str, Scope, "Future[dict[str, Any]]"]


class GateQueue(BatchingThread[Item]):
    def __init__(self, ctx: ServiceContext, *, max_batch: int = 64) -> None:
        super().__init__("cbec-gate", max_batch=max_batch)
        self.ctx = ctx
        self.start()

    def submit(self, event: desk.GateEvent, reporter: str, scope: Scope) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        self.put((event, reporter, scope, future))
        return future

    def handle(self, batch: list[Item]) -> None:
        groups: dict[tuple[str, Scope], list[Item]] = {}
        for item in batch:
            groups.setdefault((item[1], item[2]), []).append(item)
        for (reporter, scope), items in groups.items():
            self._decide(reporter, scope, items)

    def _decide(self, reporter: str, scope: Scope, items: list[Item]) -> None:
        try:
            answers = desk.decide_events(
                self.ctx.engine,
                [i[0] for i in items],
                reporter=reporter,
                scope=scope,
                params=self.ctx.params,
                now=self.ctx.clock(),
                journal=self.ctx.gate_journal,
            )
        except desk.GateRefusal as exc:
            if len(items) == 1:
                _answer(items[0][3], exc)
            else:
                for item in items:
                    self._decide(reporter, scope, [item])
            return
        except BaseException as exc:  # never leave a lane waiting for ever
            log.exception("gate batch failed")
            for item in items:
                _answer(item[3], exc)
            return
        for item, answer in zip(items, answers, strict=True):
            _answer(item[3], answer)


def _answer(future: Future[dict[str, Any]], outcome: dict[str, Any] | BaseException) -> None:
    """Answer a lane, unless it has given up waiting (a cancelled future): the thread must go on."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        log.warning("a lane stopped waiting for its gate decision")
