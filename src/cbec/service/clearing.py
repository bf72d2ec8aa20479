"""The clearing loop of the service: take what the API stored in the inbox, clear it, commit the receipts.

The API only stores and acknowledges; this loop does the work, in batches, with the same engine as
``cbec clear`` (:class:`cbec.engine.clear.Clearer`), so a message cleared over HTTP and one cleared from a
file get the same decision.  One process at a time clears (a lease in the database, see
:mod:`cbec.store.leases`): the documents still waiting for their partners live in the clearer's memory, and a
second clearer would hold the other half of some parcels.  Other processes keep taking messages in; if the
clearer dies, its lease runs out and another process takes over, rebuilding the waiting documents from the
store.  Idle, the loop still runs an empty step now and then, so incomplete sets expire on time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine

from cbec.engine.clear import Clearer
from cbec.params.dated import ParameterSet
from cbec.params.hs import HsTable
from cbec.store import gate_journal as journal_repo
from cbec.store import inbox as inbox_repo
from cbec.store import leases
from cbec.store import spool as spool_repo
from cbec.store.gate_journal import open_journal
from cbec.store.spool import open_spool, spool_path

log = logging.getLogger("cbec.service.clearing")

LEASE = "clearing"


@dataclass(frozen=True, slots=True)
class ClearingOptions:
    batch_messages: int = 500
    """At most this many messages per transaction."""
    batch_bytes: int = 2_500_000
    """And at most about this many bytes of XML (some 1,500 documents): a step has a fixed cost, which
    larger batches amortise, while on SQLite the API's inbox writes wait for the batch's writes, which
    smaller batches keep short."""
    idle_poll: float = 0.02
    """Seconds to wait when there is nothing to clear."""
    gather: float = 0.5
    """Under steady traffic, start a batch at most this often unless the previous one was full.  A step's
    cost is mostly fixed (some 0.2 s of CPU for 2 messages, 0.6 s for 50 on the 2-core VM), so clearing
    each trickle of messages as it lands spends the CPU the API needs to acknowledge the next ones; this
    gathers them instead, for at most this much more delay before the receipts.  After a quiet spell the
    first message is cleared at once."""
    expiry_every: float = 60.0
    """Seconds between empty steps while idle (they expire incomplete sets)."""
    lease_ttl: float = 15.0
    """Seconds a lease lasts without renewal; another process takes over after that."""


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:80]


class ClearingLoop:
    """Runs on a thread of the service (or in its own process); :meth:`stop` ends it after its batch."""

    def __init__(
        self,
        engine: Engine,
        *,
        params: ParameterSet,
        hs: HsTable,
        outbox: Path | None = None,
        options: ClearingOptions | None = None,
    ) -> None:
        self.engine = engine
        self.params = params
        self.hs = hs
        self.outbox = outbox
        self.options = options or ClearingOptions()
        self.holder = holder_name()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._clearer: Clearer | None = None
        self._spool_file = spool_path(engine.url.render_as_string(hide_password=False))
        self._spool: Engine | None = None
        self._journal: Engine | None = None
        self.cleared_messages = 0
        self.last_error: str | None = None

    def wake(self) -> None:
        """Something new is in the inbox: do not wait for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        opts = self.options
        last_step = time.monotonic()
        last_start, last_full = 0.0, False
        renewed = 0.0
        holding = False
        while not self._stop.is_set():
            try:
                now_m = time.monotonic()
                if not holding or now_m - renewed > opts.lease_ttl / 3:
                    with self.engine.begin() as conn:
                        holding = leases.acquire(
                            conn, LEASE, self.holder, ttl=timedelta(seconds=opts.lease_ttl)
                        )
                    renewed = now_m
                    if not holding:
                        self._clearer = None  # whoever clears now has the waiting documents
                        self._wait(opts.lease_ttl / 3)
                        continue
                clearer = self._clearer or self._new_clearer()
                pause = opts.gather - (time.monotonic() - last_start)
                if pause > 0 and not last_full:
                    self._stop.wait(pause)  # not woken by new messages: they are what it gathers
                self._move_spooled()
                self._move_gate_journal()
                with self.engine.connect() as conn:
                    rows = _next_batch(conn, opts)
                if rows:
                    last_start = time.monotonic()
                    last_full = len(rows) >= opts.batch_messages or sum(len(r.raw) for r in rows) >= (
                        opts.batch_bytes * 0.9
                    )
                    clearer.now = datetime.now(UTC).replace(tzinfo=None)
                    clearer.clear_batch([(r.guid, r.raw) for r in rows], stored_ids=[r.id for r in rows])
                    self.cleared_messages += len(rows)
                    last_step = time.monotonic()
                    continue
                if time.monotonic() - last_step > opts.expiry_every and not clearer.waiting.empty:
                    clearer.now = datetime.now(UTC).replace(tzinfo=None)
                    clearer.clear_batch([], stored_ids=[])
                    last_step = time.monotonic()
                self._wait(opts.idle_poll)
            except Exception as exc:  # keep serving; the batch rolled back and will be retried
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("clearing batch failed; retrying after a pause")
                self._clearer = None
                self._wait(1.0)
        if holding:
            with self.engine.begin() as conn:
                leases.release(conn, LEASE, self.holder)

    def _move_spooled(self) -> None:
        """Messages the API acknowledged from the intake spool go into the inbox first (cbec.store.spool)."""
        if self._spool is None:
            if self._spool_file is None or not self._spool_file.exists():
                return  # no API process has spooled anything (yet)
            self._spool = open_spool(self.engine.url.render_as_string(hide_password=False))
        if self._spool is not None:
            spool_repo.move(self._spool, self.engine)

    def _move_gate_journal(self) -> None:
        """Gate decisions the lanes committed to the gate journal go into the main database
        (cbec.store.gate_journal); cheap when there are none."""
        if self._journal is None:
            self._journal = open_journal(self.engine.url.render_as_string(hide_password=False), create=False)
        if self._journal is not None:
            journal_repo.move(self._journal, self.engine)

    def _new_clearer(self) -> Clearer:
        self._clearer = Clearer(self.engine, params=self.params, hs=self.hs.frame(), outbox=self.outbox)
        self._clearer.optimistic = True  # hold SQLite's write lock only while writing
        return self._clearer

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()


def _next_batch(conn: Connection, opts: ClearingOptions, page: int = 32) -> list[inbox_repo.InboxRow]:
    """The oldest pending messages whose XML adds up to at most ``opts.batch_bytes`` (always at least one).

    The ids come first, the messages a page at a time, so that no more than a page is read (decrypted and
    decompressed) beyond what the batch takes.
    """
    ids = inbox_repo.pending_ids(conn, limit=opts.batch_messages)
    rows: list[inbox_repo.InboxRow] = []
    total = 0
    for start in range(0, len(ids), page):
        for row in inbox_repo.by_ids(conn, ids[start : start + page]):
            total += len(row.raw)
            if total > opts.batch_bytes and rows:
                return rows
            rows.append(row)
    return rows
