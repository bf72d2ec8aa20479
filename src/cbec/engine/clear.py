"""Batch clearance: a directory or zip of CEB import messages in, the receipts customs would send out.

The imperative shell around :func:`cbec.engine.step.run_step`.  For each batch of messages it keeps the order
the design requires: the raw messages are committed to the inbox first (idempotent by guid); then the batch is
decoded and cleared, and everything that follows from it — documents, decisions, quota movements, tax bills,
receipts — is committed in one transaction; only then are receipt files written.  A crash at any point loses
nothing: an inbox message not marked processed is processed again on the next run, and a committed batch is
never processed twice.  Documents still waiting for their partners are rebuilt at start-up from the inbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import polars as pl
from sqlalchemy import Engine, func, select, text

from cbec.engine import aftercare, export_returns, warehouse
from cbec.engine import export as export_engine
from cbec.engine import ledger as ledger_engine
from cbec.engine.buyer_key import buyer_keys, secret_for
from cbec.engine.inputs import MessageFile, read_messages
from cbec.engine.inputs import count_inputs as count_inputs  # re-exported: callers import them from here
from cbec.engine.inputs import iter_inputs as iter_inputs
from cbec.engine.inputs import iter_message_files as iter_message_files
from cbec.engine.lists import deliver, receipt_file, write_receipt_files
from cbec.engine.normalize import Documents, empty_documents, empty_kind, from_batch
from cbec.engine.pipeline import Named, Prepared, batches_of, decode_ahead, prepare, refused_bytes, spawn_pool
from cbec.engine.receipt_render import ReceiptWork, render, root_guid
from cbec.engine.step import StepResult, StepState, run_step
from cbec.messages.columns import ColumnBatch, concat_batches, decode_batch, findings_of
from cbec.messages.format_receipt import build_format_receipt
from cbec.messages.spec import message_spec
from cbec.params.dated import ParameterSet
from cbec.privacy.masking import mask_xml_bytes
from cbec.rules import decide as D
from cbec.rules.tax import assess, list_totals
from cbec.store import Outcome, counters
from cbec.store import batches as batches_repo
from cbec.store import documents as documents_repo
from cbec.store import inbox as inbox_repo
from cbec.store import ledgers as ledgers_repo
from cbec.store import outbox as outbox_repo
from cbec.store import quota as quota_repo
from cbec.store import subscriptions as subscriptions_repo
from cbec.store import tax as tax_repo
from cbec.store.bulk import insert_frame
from cbec.store.data_key import keyring_for
from cbec.store.db import SQLITE_BEGIN
from cbec.store.schema import decision as decision_table
from cbec.store.schema import document as document_table
from cbec.store.schema import quota_movement as quota_movement_table
from cbec.store.schema import tax_bill as tax_bill_table

KIND_NAMES = {"orders": "order", "payments": "payment", "waybills": "waybill", "lists": "list"}
#: document column ← list head field: the numbers a list is found by without decoding its message
LIST_NUMBERS = (("logistics_no", "logisticsNo"), ("logistics_code", "logisticsCode"), ("order_no", "orderNo"))
RECEIPT_TYPES = {
    "orders": "CEB312Message",
    "payments": "CEB412Message",
    "waybills": "CEB512Message",
    "lists": "CEB622Message",
}
#: PostgreSQL advisory-lock key held by each clearing transaction (an arbitrary constant of cbec's).
CLEARING_LOCK = 0x63626563_0002
IMPORT_TYPES = {"CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message"}


@dataclass
class ClearSummary:
    messages: int = 0
    repeated_messages: int = 0
    refused_messages: int = 0
    lists: dict[int, int] = field(default_factory=dict)  # status -> count
    refusals: dict[tuple[str, str], int] = field(default_factory=dict)  # (rule, code) -> count
    duplicates: dict[str, int] = field(default_factory=dict)  # code -> count
    tax_total: Decimal = Decimal(0)
    receipts: int = 0
    seconds: float = 0.0
    waiting: int = 0
    applications: dict[str, int] = field(default_factory=dict)
    """Cancellations (CEB623) and returns (CEB625): cancel_accepted, cancel_refused, return_accepted, …"""
    optimistic_steps: int = 0
    """Batches stepped before taking the write lock and written as stepped (service mode)."""
    repeated_steps: int = 0
    """Batches stepped again under the lock because the store changed meanwhile (service mode)."""

    @property
    def released(self) -> int:
        return self.lists.get(D.RELEASED, 0)

    @property
    def parcels(self) -> int:
        return sum(v for k, v in self.lists.items() if k != D.WAITING)

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "repeated_messages": self.repeated_messages,
            "refused_messages": self.refused_messages,
            "lists_decided": self.parcels,
            "released": self.released,
            "inspection": self.lists.get(D.INSPECTION, 0),
            "manual_review": self.lists.get(D.REVIEW, 0),
            "held_by_ledger": self.lists.get(D.CONCLUDED, 0),
            "refused": self.lists.get(D.REFUSED, 0),
            "waiting": self.waiting,
            "refusals": [
                {"rule": r, "code": c, "count": n}
                for (r, c), n in sorted(self.refusals.items(), key=lambda x: -x[1])
            ],
            "duplicates": self.duplicates,
            "applications": self.applications,
            "tax_total": str(self.tax_total),
            "receipts": self.receipts,
            "seconds": round(self.seconds, 3),
            "parcels_per_s": round(self.parcels / self.seconds, 1) if self.seconds else None,
        }


def make_tax(
    params: ParameterSet, hs: pl.DataFrame
) -> Callable[[pl.DataFrame, pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]]:
    def tax(lines: pl.DataFrame, _lists: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        if lines.height == 0:
            empty = pl.DataFrame(
                schema={
                    "list_key": pl.String(),
                    "admissible": pl.Boolean(),
                    "reject_code": pl.String(),
                    "reason_zh": pl.String(),
                    "reason_en": pl.String(),
                    "dutiable_value": pl.Decimal(19, 5),
                    "annual_limit": pl.Decimal(19, 5),
                }
            )
            return lines, empty
        taxed = assess(lines, on="declDate", params=params, hs=hs)
        return taxed, list_totals(taxed, explain="refused")  # the step explains refusals only

    return tax


def _fen_expr(column: str) -> pl.Expr:
    """A Decimal yuan amount as integer fen (amounts are already rounded to the fen by the tax rule)."""
    return (pl.col(column).cast(pl.Decimal(38, 5)) * 100).round(0).cast(pl.Int64).fill_null(0)


#: The document rows a batch writes: new documents, and the new status of documents decided now.
_DocumentRows = tuple[pl.DataFrame, pl.DataFrame]


@dataclass(frozen=True)
class _ReadState:
    """The store's answers the step depends on; equal answers mean an equal step."""

    existing: dict[str, frozenset[str]]
    quota_used: pl.DataFrame
    invt_before: int
    ledger_ems: frozenset[str] = frozenset()
    ledger_balances: pl.DataFrame | None = None
    marks: tuple[int, int] | None = None
    """SQLite: the highest document and quota-movement ids when read (see :meth:`Clearer._read_state`)."""

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _ReadState)
            and self.existing == other.existing
            and self.invt_before == other.invt_before
            and self.quota_used.equals(other.quota_used)
            and self.ledger_ems == other.ledger_ems
            and (
                self.ledger_balances is other.ledger_balances
                or (
                    self.ledger_balances is not None
                    and other.ledger_balances is not None
                    and self.ledger_balances.equals(other.ledger_balances)
                )
            )
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class _Batch:
    """A batch taken in: its messages (in the inbox under ``inbox_ids``) and the repeats to ``skip``."""

    batch: ColumnBatch
    size: int
    refused: dict[int, bytes]
    """The bytes of the messages refused at decoding, by position (their CEB900 answer echoes them)."""
    now: datetime
    inbox_ids: dict[int, int]
    skip: set[int]
    arrived: dict[int, datetime] = field(default_factory=dict)
    """When each message reached the inbox, where that is not ``now`` (batches cleared as one)."""


def _merged(parts: list[_Batch]) -> _Batch:
    """Batches taken in one after the other, as one batch: cleared at the last one's time, each message
    keeping the time it arrived."""
    if len(parts) == 1:
        return parts[0]
    inbox_ids: dict[int, int] = {}
    refused: dict[int, bytes] = {}
    skip: set[int] = set()
    arrived: dict[int, datetime] = {}
    start = 0
    for part in parts:
        inbox_ids.update((start + i, id_) for i, id_ in part.inbox_ids.items())
        refused.update((start + i, raw) for i, raw in part.refused.items())
        skip.update(start + i for i in part.skip)
        arrived.update((start + i, part.arrived.get(i, part.now)) for i in range(part.size))
        start += part.size
    now = parts[-1].now
    return _Batch(
        concat_batches([p.batch for p in parts]),
        start,
        refused,
        now,
        inbox_ids,
        skip,
        {i: at for i, at in arrived.items() if at != now},
    )


_Prepared = tuple[StepResult, list[outbox_repo.Receipt], _ReadState, _DocumentRows]


#: Decoded batches joined and cleared as one, in one transaction, by ``clear_stream``.  Each commit rewrites
#: every index page its rows touch (the guid index is random), and each step pays a fixed cost, so fewer,
#: larger commits and steps write each page and pay that cost once for several batches.  Larger decoding
#: batches would do the same but delay the first step and leave the workers idle at the end.
BATCHES_PER_COMMIT: Final = 4


class Clearer:
    """Clears batches of messages against one store; keeps documents still waiting between batches."""

    def __init__(
        self,
        engine: Engine,
        *,
        params: ParameterSet,
        hs: pl.DataFrame,
        outbox: Path | None,
        now: datetime | None = None,
        buyer_secret: bytes | None = None,
    ) -> None:
        self.engine = engine
        self.params = params
        self.hs = hs
        self.outbox = outbox
        self.buyer_secret = buyer_secret or secret_for(engine)
        self.data_keys = keyring_for(engine)  # messages reach the inbox encrypted (docs/privacy.md)
        self.now = now
        self.tax = make_tax(params, hs)
        self.summary = ClearSummary()
        self.seq = 0
        self.background_delivery = False
        self.optimistic = False
        """Step outside the write transaction and check before writing (see :meth:`_process`)."""
        self._writer: ThreadPoolExecutor | None = None
        self._encoder: ThreadPoolExecutor | None = None
        self._renderers: ProcessPoolExecutor | None = None
        """Worker processes that write receipt XML (:mod:`cbec.engine.receipt_render`), while streaming."""
        self._written: list[Future[list[int]]] = []
        self._done_ids: list[int] = []
        self._in_flight: set[int] = set()
        """Inbox ids of batches taken in and not yet written (a group, see clear_stream)."""
        self.waiting = self._rebuild_waiting()
        self.waiting_before_docs = self.waiting

    # --- state ------------------------------------------------------------------------------------------
    def _rebuild_waiting(self) -> Documents:
        """Documents waiting for their partners, rebuilt by re-decoding the inbox messages that hold them."""
        with self.engine.connect() as conn:
            rows = documents_repo.waiting(conn, KIND_NAMES.values())
            if not rows:
                return empty_documents()
            ids = sorted({r.inbox_id for r in rows})
            raws = inbox_repo.by_ids(conn, ids)
        guids = {r.guid for r in rows}
        batch = decode_batch([r.raw for r in raws])
        docs = from_batch(batch, received_at=datetime(1970, 1, 1), seq_base=-(10**12))
        arrived = {i: r.received_at.astimezone(UTC).replace(tzinfo=None) for i, r in enumerate(raws)}
        return self._with_buyer_keys(_filter_guids(_with_arrival(docs, arrived), guids))

    # --- one batch --------------------------------------------------------------------------------------
    def clear_batch(
        self, named: list[tuple[str, bytes]], *, stored_ids: list[int] | None = None
    ) -> StepResult | None:
        """Clear one batch; ``stored_ids`` says the messages are already in the inbox (a replay)."""
        return self._process(self._take_in(named, stored_ids=stored_ids))

    def _take_in(
        self,
        named: Sequence[tuple[str, bytes | MessageFile]],
        *,
        stored_ids: list[int] | None = None,
        prepared: Prepared | None = None,
    ) -> _Batch:
        """1. The batch's messages committed to the inbox (unless ``stored_ids``: a replay), repeats noted.

        ``prepared``: the batch decoded, each message compressed with its digest
        (:func:`cbec.store.inbox.pack`) and the refused ones' bytes, all done by a worker process, which
        read the messages itself (the bytes of the others never reach this process)."""
        now = self.now or datetime.now(UTC).replace(tzinfo=None)
        if stored_ids is not None:  # a replay: the messages are in the inbox already, nothing to pack
            blobs = read_messages([item for _, item in named])
            batch = decode_batch(blobs)
            return _Batch(
                batch, len(blobs), refused_bytes(batch, blobs), now, dict(enumerate(stored_ids)), set()
            )
        if prepared is None:
            prepared = prepare([item for _, item in named], self.data_keys)
        batch, packed = prepared.batch, prepared.packed
        meta = batch.messages
        items = []
        for row, (stored, digest) in zip(meta.iter_rows(named=True), packed, strict=True):
            items.append(
                inbox_repo.InboxItem(
                    guid=(row["guid"] or digest)[:64],
                    message_type=(row["message_type"] or "unknown")[:32],
                    raw=stored,
                    sender=row["copCode"],
                    dxp_id=row["dxpId"],
                    received_at=now.replace(tzinfo=UTC),
                    codec=inbox_repo.SEALED,
                    sha256=digest,
                )
            )
        with self.engine.begin() as conn:  # 1. the raw messages, committed before anything else
            accepted = inbox_repo.accept(conn, items)
            # a repeat of a message stored by a run that stopped before processing it is processed now
            unfinished = inbox_repo.still_accepted(
                conn, [o.id for o in accepted if o.outcome == Outcome.REPEAT]
            )
        unfinished -= self._in_flight  # taken in by an earlier batch of this group, not yet written
        first_seen: set[int] = set()
        skip = set()
        for o in accepted:
            if o.outcome == Outcome.NEW or (o.id in unfinished and o.id not in first_seen):
                first_seen.add(o.id)
            else:
                skip.add(o.index)
        self.summary.repeated_messages += len(skip)
        inbox_ids = {o.index: o.id for o in accepted}
        self._in_flight.update(inbox_ids.values())
        return _Batch(batch, len(packed), prepared.refused, now, inbox_ids, skip)

    def clear_stream(
        self,
        named: Iterable[tuple[str, bytes | MessageFile]],
        *,
        batch_messages: int = 500,
        workers: int = 0,
        progress: Callable[[int], None] | None = None,
        batches_per_commit: int = BATCHES_PER_COMMIT,
    ) -> ClearSummary:
        """Clear messages in batches, decoding ahead in ``workers`` spawned processes (0: in this one).

        Each batch's messages are committed to the inbox as it comes; the batches are then cleared
        ``batches_per_commit`` at a time in one transaction (see :data:`BATCHES_PER_COMMIT`).
        """
        if batches_per_commit < 1:
            raise ValueError(f"batches_per_commit must be at least 1, not {batches_per_commit}")
        self.background_delivery = True
        pool = spawn_pool(workers, self.data_keys) if workers > 0 else None
        # the same processes render each batch's receipt XML, so the clearing process only stores
        self._renderers = pool
        try:
            batches = batches_of(named, batch_messages)
            self._clear_batches(batches, pool, workers, progress, batches_per_commit)
            futures.wait(self._written)  # the workers' receipt files, before the pool goes
        finally:
            self._in_flight.clear()  # batches taken in but not cleared stay in the inbox for the next run
            self._renderers = None
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            self.background_delivery = False
            self.flush()
        return self.summary

    def _clear_batches(
        self,
        batches: Iterable[Named],
        pool: ProcessPoolExecutor | None,
        workers: int,
        progress: Callable[[int], None] | None,
        per_commit: int,
    ) -> None:
        # the workers decode the next group while this process clears one
        ahead = max(workers, per_commit) if workers else 0
        group: list[_Batch] = []
        for part, ready in decode_ahead(batches, pool=pool, ahead=ahead, keys=self.data_keys):
            group.append(self._take_in(part, prepared=ready))
            if len(group) == per_commit:
                merged = _merged(group)
                group.clear()  # the parts' frames go as soon as they are joined, not after the clearing
                del part, ready
                self._clear_merged(merged, progress)
                del merged  # nor while the next group is taken in
        if group:
            self._clear_merged(_merged(group), progress)

    def _clear_merged(self, merged: _Batch, progress: Callable[[int], None] | None) -> None:
        self._process(merged)
        if progress is not None:
            progress(merged.size)

    def replay(self, *, batch_messages: int = 200) -> ClearSummary:
        """Clear every inbox message not yet processed, in arrival order (after ``cbec.store.rebuild``, all).

        With the same clock, a replay reaches the same decisions as the original run: every rule is a
        function of the messages, the parameters and the order of arrival.
        """
        with self.engine.connect() as conn:
            rows = [r for r in inbox_repo.replay_all(conn) if r.status == "accepted"]
        for i in range(0, len(rows), batch_messages):
            part = rows[i : i + batch_messages]
            self.clear_batch([(r.guid, r.raw) for r in part], stored_ids=[r.id for r in part])
        return self.summary

    def _process(self, b: _Batch) -> StepResult:
        """2. Clear a batch taken in (:meth:`_take_in`) in one transaction: step, then store it all.

        ``clear_stream`` hands several batches at once, as one (:func:`_merged`): SQLite writes each
        changed page of the random-key indexes once per commit, whatever the number of rows that changed
        it, and the step's fixed cost is paid once.  If it fails, nothing is written, and every message
        stays in the inbox to be processed again.
        """
        docs, refused, not_import = self._documents(b)
        waiting_before = self.waiting
        try:
            # What the step reads (business keys already declared, the buyers' quota used, the list-number
            # counter) must not change before its results are written, even with several clearing
            # processes.  Strict (``cbec clear``): one transaction from the first read to the last write
            # (SQLite: the write lock is taken at BEGIN; PostgreSQL: rows locked).  Optimistic (the
            # service's single clearer): read and step without the write lock, then, holding it, read
            # again and write only if nothing changed (else step again under the lock); the API's inbox
            # writes then wait only for the writes.
            prepared = self._prepare(b, (docs, refused, not_import)) if self.optimistic else None
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # one clearing transaction at a time, as SQLite's single writer gives: the quota of a
                    # buyer who has no row yet cannot be locked, so two clearers could both admit up to the
                    # limit
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLEARING_LOCK})
                result, queued, after_counts = self._clear_in(conn, b, docs, refused, not_import, prepared)
                self.waiting = result.waiting
        except BaseException:
            self.waiting = waiting_before
            raise
        finally:  # written, or rolled back and left in the inbox: no longer in flight either way
            self._in_flight.difference_update(b.inbox_ids.values())
        if self.outbox is not None:
            self._write_files(queued)
            if not self.background_delivery:
                self.flush()
        self._count(result)
        for name, n in after_counts.items():
            self.summary.applications[name] = self.summary.applications.get(name, 0) + n
        return result

    def _documents(self, b: _Batch) -> tuple[Documents, set[int], set[int]]:
        """The batch's documents, with the messages refused before clearance and those not imports."""
        batch, skip = b.batch, b.skip
        meta = batch.messages
        self.summary.messages += b.size
        refused = batch.rejected() - skip
        not_import = (
            {i for i in range(b.size) if meta["message_type"][i] not in IMPORT_TYPES} - skip - refused
        )
        self.summary.refused_messages += len(refused)
        docs = self._with_buyer_keys(
            _with_arrival(
                from_batch(batch, received_at=b.now, seq_base=self.seq, rejected=skip | refused | not_import),
                b.arrived,
            )
        )
        self.seq += 10**9
        return docs, refused, not_import

    def _prepare(self, b: _Batch, taken: tuple[Documents, set[int], set[int]]) -> _Prepared:
        """The optimistic step: from a read-only look, with all it lets be worked out before the lock."""
        docs, refused, _ = taken
        self.waiting_before_docs = self.waiting
        with self.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
            seen = self._read_state(conn, docs, lock=False)
        result = self._step(docs, seen, b.now)
        copies = self._receipt_copies(result, docs, b.inbox_ids)
        receipts_now = self._receipt_messages(result, b.batch, b.refused, docs, refused, b.now, copies)
        # the rows to write are worked out before the lock too: the lock is held for writing only
        return (result, receipts_now, seen, self._document_rows(docs, result, b.inbox_ids))

    def _clear_in(
        self,
        conn: Any,
        b: _Batch,
        docs: Documents,
        refused: set[int],
        not_import: set[int],
        prepared: _Prepared | None,
    ) -> tuple[StepResult, list[tuple[int, outbox_repo.Receipt]], dict[str, int]]:
        """One batch, inside the clearing transaction: step (or take the optimistic step), then store."""
        batch, now, inbox_ids, skip = b.batch, b.now, b.inbox_ids, b.skip
        self.waiting_before_docs = self.waiting
        rows: _DocumentRows | None = None
        state = self._read_state(conn, docs, seen=prepared[2] if prepared is not None else None)
        rendering: Future[list[outbox_repo.Receipt]] | None = None
        if prepared is not None and prepared[2] == state:
            result, rendered, _, rows = prepared
            self.summary.optimistic_steps += 1
        else:
            if prepared is not None:
                self.summary.repeated_steps += 1  # the store changed under the optimistic step
            result = self._step(docs, state, now)
            rendered = []
            # the receipt XML is rendered on a thread while this one stores the batch: both spend most
            # of their time outside the GIL (Polars' string kernels, SQLite), so they overlap
            if self._encoder is None:
                self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cbec-receipts")
            copies = self._receipt_copies(result, docs, inbox_ids, conn)
            rendering = self._encoder.submit(
                self._receipt_messages, result, batch, b.refused, docs, refused, now, copies
            )
        counters.advance(conn, counters.INVT_NO, result.next_invt_seq - 1 - state.invt_before)
        batch_id = batches_repo.start(conn, note=f"{b.size} messages")
        if rows is None:  # stepped under the lock
            rows = self._document_rows(docs, result, inbox_ids)
        self._store_documents(conn, rows)
        insert_frame(conn, decision_table, self._decisions(result, batch_id, now))
        ledger_engine.apply_step(  # bonded ledgers: write-offs of released 1210 lists, held lines
            conn,
            result.ledger_writeoffs,
            result.ledger_holds,
            result.decisions.select("list_key", "invtNo") if "invtNo" in result.decisions.columns
            else pl.DataFrame(schema={"list_key": pl.String(), "invtNo": pl.String()}),
            at=now.replace(tzinfo=UTC),
            batch_id=batch_id,
        )  # fmt: skip
        quota_repo.apply_frame(
            conn,
            result.quota_movements.select(
                "buyer_key",
                pl.col("year").cast(pl.Int64),
                "list_key",
                pl.lit("accept").alias("kind"),
                _fen_expr("amount").alias("amount_fen"),
            ),
        )
        insert_frame(conn, tax_bill_table, self._bills(result, now), ignore_conflicts=True)
        after_receipts, after_counts = aftercare.process(  # cancellations (CEB623) and returns (CEB625)
            conn, batch, not_import, now=now, params=self.params, hs=self.hs, inbox_ids=inbox_ids,
            batch_id=batch_id,
        )  # fmt: skip
        # exports: CEB303/403/505/603/507/607/605/509
        export_receipts, export_counts = export_engine.process(
            conn, batch, not_import, now=now, params=self.params, hs=self.hs, inbox_ids=inbox_ids,
            batch_id=batch_id,
        )  # fmt: skip
        after_receipts += export_receipts
        after_counts = {**after_counts, **{f"export.{k}": v for k, v in export_counts.items()}}
        return_receipts, return_counts = export_returns.process(  # export returns: CEB213/215, 607 合包
            conn, batch, not_import, now=now, params=self.params, hs=self.hs, inbox_ids=inbox_ids,
            batch_id=batch_id,
        )  # fmt: skip
        after_receipts += return_receipts
        after_counts.update({f"export_return.{k}": v for k, v in return_counts.items()})
        entry_receipts, entry_counts = warehouse.process(  # warehouse-entry details (CEB711)
            conn, batch, not_import, now=now, inbox_ids=inbox_ids, batch_id=batch_id
        )
        after_receipts += entry_receipts
        after_counts.update({f"warehouse.{k}": v for k, v in entry_counts.items()})
        receipts = (rendering.result() if rendering is not None else rendered) + after_receipts
        self._mark_written(conn)
        queued = outbox_repo.enqueue_returning(conn, receipts, batch_id=batch_id)
        inbox_repo.mark_processed(conn, [inbox_ids[i] for i in range(b.size) if i not in skip], batch_id)
        batches_repo.finish(conn, batch_id, b.size)
        return result, queued, after_counts

    # --- delivery: receipt files written after the commit, marked delivered once written ---------------
    def _write_files(self, queued: list[tuple[int, outbox_repo.Receipt]]) -> None:
        """Write this batch's receipts from memory; in the background when ``background_delivery``."""
        if not queued or self.outbox is None:
            return
        files = [receipt_file(id_, r) for id_, r in queued]
        if not self.background_delivery:
            self._done_ids.extend(write_receipt_files(self.outbox, files))
            return
        # after this commit, by the receipt workers when streaming (the XML is unpacked and written there),
        # else by a thread of this process
        executor: ProcessPoolExecutor | ThreadPoolExecutor | None = self._renderers
        if executor is None:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cbec-outbox")
            executor = self._writer
        self._written.append(executor.submit(write_receipt_files, self.outbox, files))

    def _mark_written(self, conn: Any, *, wait: bool = False) -> None:
        """Record the delivery of every receipt file written so far (in the caller's transaction)."""
        still = []
        for future in self._written:
            if future.cancelled():
                continue  # a worker's writes cancelled by a failing run: flush's deliver() writes them
            if wait or future.done():
                self._done_ids.extend(future.result())
            else:
                still.append(future)
        self._written = still
        if self._done_ids:
            self.summary.receipts += outbox_repo.mark_delivered(conn, self._done_ids)
            self._done_ids = []

    def flush(self) -> None:
        """Wait for receipt files being written, record them delivered, and deliver anything left over
        (receipts committed by a run that stopped before writing them)."""
        if self._written or self._done_ids:
            with self.engine.begin() as conn:
                self._mark_written(conn, wait=True)
        self.summary.receipts += deliver(self.engine, self.outbox)

    def _with_buyer_keys(self, docs: Documents) -> Documents:
        """Lists carry their buyer key from the start: computed once, used by the quota lookup and rule."""
        lists = docs.lists.with_columns(
            buyer_keys(docs.lists["buyerIdNumber"], self.buyer_secret).alias("buyer_key")
        )
        return replace(docs, lists=lists)

    def _read_state(
        self, conn: Any, docs: Documents, *, lock: bool = True, seen: _ReadState | None = None
    ) -> _ReadState:
        """What the step depends on in the store, for this batch's keys and buyers (``lock=False``: a
        read-only look, to be checked again under the lock).

        ``seen`` (SQLite, under the write lock): the optimistic look taken just before.  Documents are only
        ever added and quota totals only move with a new quota movement, so when neither table has a row
        above the highest ids of that look, the business keys and quota it read are still true and are not
        read again (they are most of the read, and the API's inbox writes wait while the lock is held).
        """
        marks = _marks(conn) if self.optimistic and conn.dialect.name == "sqlite" else None
        if seen is not None and marks is not None and seen.marks == marks:
            existing, quota_used = seen.existing, seen.quota_used
        else:
            existing = {
                kind: frozenset(
                    documents_repo.existing_keys(conn, KIND_NAMES[kind], _keys(getattr(docs, kind), kind))
                )
                for kind in ("orders", "payments", "waybills", "lists")
            }
            quota_used = self._quota(conn, docs).sort("buyer_key", "year")
        ems, balances = self._ledgers(conn, docs)
        return _ReadState(
            existing, quota_used, counters.current(conn, counters.INVT_NO, lock=lock), ems, balances, marks
        )

    def _ledgers(self, conn: Any, docs: Documents) -> tuple[frozenset[str], pl.DataFrame | None]:
        """The bonded ledgers filed in cbec that this batch's 1210 lists name, with their balances
        (none: no query beyond one lookup of the emsNos, and the step's ledger rule is skipped)."""
        names: set[str] = set()
        for frame in (self.waiting.lists, docs.lists):
            if frame.height and "emsNo" in frame.columns:
                names |= set(
                    frame.filter(pl.col("tradeMode") == ledger_engine.BONDED)["emsNo"].drop_nulls().to_list()
                )
        if not names:
            return frozenset(), None
        filed = frozenset(ledgers_repo.ledgers_by_ems(conn, names))
        if not filed:
            return frozenset(), None
        return filed, ledgers_repo.balances_frame(conn, filed)

    def _step(self, docs: Documents, seen: _ReadState, now: datetime) -> StepResult:
        state = StepState(
            waiting=self.waiting,
            existing_keys={k: set(v) for k, v in seen.existing.items()},
            quota_used=seen.quota_used,
            next_invt_seq=seen.invt_before + 1,
            buyer_secret=self.buyer_secret,
            ledger_ems=seen.ledger_ems,
            ledger_balances=seen.ledger_balances,
        )
        return run_step(docs, state, now=now, params=self.params, hs=self.hs, tax=self.tax)

    def _quota(self, conn: Any, docs: Documents) -> pl.DataFrame:
        lists = (
            pl.concat([f for f in (self.waiting.lists, docs.lists) if f.height], how="diagonal_relaxed")
            if (self.waiting.lists.height or docs.lists.height)
            else pl.DataFrame()
        )
        schema = {"buyer_key": pl.String(), "year": pl.Int32(), "used": pl.Decimal(19, 5)}
        if lists.height == 0:
            return pl.DataFrame(schema=schema)
        keyed = lists.select("buyer_key", pl.col("declTime").dt.year().alias("year")).unique()
        rows = []
        for (year,), part in keyed.group_by(["year"]):
            used = quota_repo.used(conn, part["buyer_key"].to_list(), int(year))
            rows += [{"buyer_key": k, "year": int(year), "used": Decimal(v) / 100} for k, v in used.items()]
        return pl.DataFrame(rows, schema=schema)

    def _store_documents(self, conn: Any, rows: _DocumentRows) -> None:
        new, decided_before = rows
        documents_repo.insert_frame_documents(conn, new)
        documents_repo.set_statuses(conn, decided_before)

    def _document_rows(self, docs: Documents, result: StepResult, inbox_ids: dict[int, int]) -> _DocumentRows:
        """The keys and status of every new document (the inbox holds the document itself), and the new
        status of documents that waited in earlier batches and are decided now."""
        final = (
            result.receipts.sort(pl.col("step").fill_null(2), maintain_order=True)
            .select("kind", "guid", "status")
            .unique(["kind", "guid"], keep="last", maintain_order=True)
        )
        inbox_of = pl.DataFrame(
            {"_msg": list(inbox_ids), "inbox_id": list(inbox_ids.values())},
            schema={"_msg": pl.Int64(), "inbox_id": pl.Int64()},
        )
        frames = []
        for kind in ("orders", "payments", "waybills", "lists"):
            frame: pl.DataFrame = getattr(docs, kind)
            if frame.height == 0:
                continue
            key = "list_key" if kind == "lists" else ("waybill_key" if kind == "waybills" else "order_key")
            # lists also keep their waybill and order numbers, by which a gate pass may name them
            numbers = [
                (pl.col(name) if kind == "lists" else pl.lit(None, pl.String)).alias(column)
                for column, name in LIST_NUMBERS
            ]
            status = frame.select(
                "guid", key, pl.col("_msg").cast(pl.Int64), "appType", "received_at", *numbers
            ).join(final.filter(pl.col("kind") == kind).drop("kind"), on="guid", how="left")
            frames.append(
                status.join(inbox_of, on="_msg", how="left").select(
                    pl.lit(KIND_NAMES[kind]).alias("kind"),
                    "guid",
                    pl.col(key).alias("business_key"),
                    "inbox_id",
                    pl.col("received_at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
                    pl.col("status").fill_null(D.WAITING).cast(pl.Int64),
                    pl.col("appType").fill_null("1").alias("app_type"),
                    *(column for column, _ in LIST_NUMBERS),
                )
            )
        new = pl.concat(frames) if frames else pl.DataFrame()
        decided_before = final.filter(pl.col("status") != D.WAITING).with_columns(
            pl.col("kind").replace_strict(KIND_NAMES), pl.col("status").cast(pl.Int64)
        )
        if new.height:
            decided_before = decided_before.join(new.select("kind", "guid"), on=["kind", "guid"], how="anti")
        return new, decided_before

    def _decisions(self, result: StepResult, batch_id: int, now: datetime) -> pl.DataFrame:
        frame = result.decisions.filter(pl.col("status") != D.WAITING)
        return frame.select(
            "list_key",
            (pl.col("invtNo") if "invtNo" in frame.columns else pl.lit(None, pl.String)).alias("invt_no"),
            pl.col("status").cast(pl.Int64),
            "code",
            pl.col("rule").fill_null("release"),
            pl.col("reason_zh").fill_null("放行"),
            pl.col("reason_en").fill_null("released"),
            pl.lit(now.replace(tzinfo=UTC)).dt.convert_time_zone("UTC").alias("decided_at"),
            pl.lit(batch_id, pl.Int64).alias("batch_id"),
        )

    def _bills(self, result: StepResult, now: datetime) -> pl.DataFrame:
        if result.tax_lists.height == 0:
            return pl.DataFrame()
        return result.tax_lists.select(
            pl.concat_str([pl.lit("T"), pl.col("invtNo")]).alias("tax_no"),
            pl.col("invtNo").alias("invt_no"),
            "list_key",
            _fen_expr("duty").alias("customs_tax_fen"),
            _fen_expr("vat").alias("vat_fen"),
            _fen_expr("ct").alias("ct_fen"),
            pl.lit(tax_repo.GENERATED, pl.Int64).alias("status"),
            pl.lit(now.replace(tzinfo=UTC)).dt.convert_time_zone("UTC").alias("created_at"),
        )

    def _receipt_copies(
        self, result: StepResult, docs: Documents, inbox_ids: dict[int, int], conn: Any = None
    ) -> pl.DataFrame:
        """(kind, guid, address): the third parties that asked, in BaseSubscribe (``RET`` or ``ALL``), for the
        receipts of the documents answered now.  A document's message may have come in this batch or, for a
        document that waited for its set, in an earlier one; nothing is looked up unless some message ever
        asked for copies.  ``conn``: the clearing transaction's connection, if one is open (on SQLite another
        connection could not begin while it holds the write lock)."""
        if conn is None:
            with self.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as reader:
                return self._receipt_copies(result, docs, inbox_ids, reader)
        schema = {"kind": pl.String(), "guid": pl.String(), "address": pl.String()}
        answered = result.receipts.select("kind", "guid").unique()
        if answered.height == 0:
            return pl.DataFrame(schema=schema)
        if not subscriptions_repo.receipt_copies_wanted(conn):
            return pl.DataFrame(schema=schema)
        named = subscriptions_repo.receipt_copy_addresses(conn, list(inbox_ids.values()))
        message_of = {i: m for m, i in inbox_ids.items()}
        by_message = pl.DataFrame(
            {"_msg": [message_of[i] for i, _ in named], "address": [a for _, a in named]},
            schema={"_msg": pl.Int64(), "address": pl.String()},
        )
        frames = []
        for kind in KIND_NAMES:
            frame: pl.DataFrame = getattr(docs, kind)
            if frame.height and by_message.height:
                frames.append(
                    frame.select(pl.lit(kind).alias("kind"), "guid", pl.col("_msg").cast(pl.Int64))
                    .join(by_message, on="_msg")
                    .drop("_msg")
                )
        for kind, name in KIND_NAMES.items():
            fresh = set(getattr(docs, kind)["guid"].to_list()) if getattr(docs, kind).height else set()
            earlier = [g for g in answered.filter(pl.col("kind") == kind)["guid"].to_list() if g not in fresh]
            found = subscriptions_repo.document_copy_addresses(conn, name, earlier) if earlier else []
            if found:
                guids, addresses = zip(*found, strict=True)
                frames.append(
                    pl.DataFrame(
                        {"kind": [kind] * len(found), "guid": list(guids), "address": list(addresses)},
                        schema=schema,
                    )
                )
        if not frames:
            return pl.DataFrame(schema=schema)
        return pl.concat(frames).unique(maintain_order=True)

    def _receipt_messages(
        self,
        result: StepResult,
        batch: ColumnBatch,
        raw: dict[int, bytes],
        docs: Documents,
        refused: set[int],
        now: datetime,
        copies: pl.DataFrame | None = None,
    ) -> list[outbox_repo.Receipt]:
        rec = result.receipts
        if copies is not None and copies.height:
            # the same entries once more, addressed to each third party the message named (BaseSubscribe)
            rec = pl.concat(
                [
                    rec,
                    rec.join(copies, on=["kind", "guid"], how="inner")
                    .with_columns(pl.col("address").alias("sender"))
                    .select(rec.columns),
                ]
            )
        work = self._receipt_work(rec, result, docs, now)
        # a worker process writes the XML, when there is one, while this thread answers the refused messages
        pool = self._renderers
        pending = pool.submit(render, work) if pool is not None and not work.empty else None
        refusals = [self._format_receipt(batch, raw[i], i) for i in sorted(refused)]
        return (pending.result() if pending is not None else render(work)) + refusals

    @staticmethod
    def _format_receipt(batch: ColumnBatch, raw: bytes, i: int) -> outbox_repo.Receipt:
        """The CEB900 answer to a message refused before clearance, to its sender."""
        errors = [f for f in findings_of(batch, i) if f.severity == "error"]
        # the original is echoed with its personal fields masked: the sender has it, nobody else needs it
        xml = build_format_receipt(errors, mask_xml_bytes(raw), message_type=batch.raw[i].message_type)
        sender = str(batch.messages["copCode"][i] or "unknown")  # the outbox refuses ""
        return outbox_repo.Receipt(
            message_type="CEB900Message",
            recipient=sender,
            business_key=sender,
            doc_guid=root_guid(xml),
            status=0,
            xml=xml,
        )

    def _receipt_work(
        self, rec: pl.DataFrame, result: StepResult, docs: Documents, now: datetime
    ) -> ReceiptWork:
        """The frames this batch's receipts are written from: only the fields each message has (they may be
        shipped to another process), in the order the receipts are queued."""
        work = ReceiptWork()
        docs_info = self._doc_fields(result, docs)
        for kind, mtype in RECEIPT_TYPES.items():
            part = rec.filter(pl.col("kind") == kind)
            if part.height == 0:
                continue
            frame = part.join(docs_info[kind], on="guid", how="left").with_columns(
                pl.col("status").cast(pl.String).alias("returnStatus"),
                # one millisecond per step, so 120 → 399 → 800 sort in the order they happened
                (pl.lit(now) + pl.duration(milliseconds=pl.col("step").fill_null(2))).alias("returnTime"),
                pl.concat_str(
                    [
                        pl.col("code").fill_null(""),
                        pl.lit(" "),  # "code 中文 / English", as lists.return_info writes it
                        pl.col("reason_zh"),
                        pl.lit(" / "),
                        pl.col("reason_en"),
                    ]
                )
                .str.strip_chars()
                .str.slice(0, 1000)
                .alias("returnInfo"),
            )
            fields = [f.name for f in message_spec(mtype).head.fields if f.name in frame.columns]
            work.flat.append((mtype, frame.select("sender", *(f for f in fields if f != "sender"))))
        self._tax_bill_work(work, result, docs_info["lists"], now)
        return work

    def _tax_bill_work(
        self, work: ReceiptWork, result: StepResult, lists_info: pl.DataFrame, now: datetime
    ) -> None:
        """CEB816 e-tax bills (电子税单) for lists that entered customs' system, to the declaring agent."""
        if result.tax_lists.height == 0:
            return
        keys = result.decisions.select("list_key", "guid", "sender", "invtNo").filter(
            pl.col("invtNo").is_not_null()
        )
        heads = (
            result.tax_lists.select("list_key", "duty", "vat", "ct")
            .join(keys, on="list_key", how="inner")
            .join(lists_info.select("guid", "customsCode", "ebcCode", "agentCode"), on="guid", how="left")
            .sort("sender", "invtNo")
            .with_columns(
                (pl.int_range(pl.len()).over("sender") // 100).alias("_chunk"),
                pl.int_range(pl.len()).alias("_doc"),
                pl.lit(now).alias("returnTime"),
                pl.concat_str([pl.lit("T"), pl.col("invtNo")]).alias("taxNo"),
                pl.col("duty").alias("customsTax"),
                pl.col("vat").alias("valueAddedTax"),
                pl.col("ct").alias("consumptionTax"),
                pl.lit("1").alias("status"),
                pl.col("ebcCode").alias("assureCode"),
            )
        )
        heads = heads.with_columns(pl.struct("sender", "_chunk").rank("dense").cast(pl.Int64).alias("_msg"))
        lines = (
            result.tax_lines.drop("_msg", "_doc", "_line", strict=False)
            .join(heads.select("list_key", "_msg", "_doc"), on="list_key", how="inner")
            .select(
                "_msg",
                "_doc",
                "gnum",
                "gcode",
                pl.col("dutiable_value").alias("taxPrice"),
                pl.col("duty").alias("customsTax"),
                pl.col("vat").alias("valueAddedTax"),
                pl.col("ct").alias("consumptionTax"),
            )
        )
        recipients = heads.select("_msg", "sender").unique().iter_rows()
        work.bill_recipients = {int(msg): str(sender) for msg, sender in recipients if sender}
        cols = [
            "_msg",
            "_doc",
            "guid",
            "returnTime",
            "invtNo",
            "taxNo",
            "customsTax",
            "valueAddedTax",
            "consumptionTax",
            "status",
            "assureCode",
            "ebcCode",
            "agentCode",
            "customsCode",
        ]
        work.bill_heads, work.bill_lines = heads.select(cols), lines

    def _doc_fields(self, result: StepResult, docs: Documents) -> dict[str, pl.DataFrame]:
        """The identifying fields each receipt type repeats from its document (new, waiting or duplicate)."""
        wanted = {
            "orders": ["ebpCode", "ebcCode", "orderNo"],
            "payments": ["payCode", "payTransactionId"],
            "waybills": ["logisticsCode", "logisticsNo"],
            "lists": ["customsCode", "ebpCode", "ebcCode", "agentCode", "copNo", "orderNo", "declTime"],
        }
        out: dict[str, pl.DataFrame] = {}
        for kind, cols in wanted.items():
            frames = [
                f.select("guid", *cols)
                for f in (getattr(self.waiting_before_docs, kind), getattr(docs, kind))
                if f.height
            ]
            table = (
                pl.concat(frames, how="diagonal_relaxed").unique("guid")
                if frames
                else empty_kind(kind).select("guid", *cols)
            )
            if kind == "lists":
                invt = (
                    result.decisions.select("guid", "invtNo")
                    if "invtNo" in result.decisions.columns
                    else (pl.DataFrame(schema={"guid": pl.String(), "invtNo": pl.String()}))
                )
                table = (
                    table.join(invt, on="guid", how="left")
                    .with_columns(
                        pl.coalesce(pl.col("copNo"), pl.col("orderNo").str.slice(0, 20)).alias("copNo"),
                        # 电子口岸标识编号 (pre-entry no.): B + declaration date + 9 digits from the guid
                        pl.concat_str(
                            [
                                pl.lit("B"),
                                pl.col("declTime").dt.strftime("%Y%m%d"),
                                (pl.col("guid").hash(seed=7) % 1_000_000_000).cast(pl.String).str.zfill(9),
                            ]
                        ).alias("preNo"),
                    )
                    .drop("orderNo", "declTime")
                )
            out[kind] = table
        return out

    def _count(self, result: StepResult) -> None:
        s = self.summary
        for r in result.decisions.group_by("status").len().iter_rows():
            s.lists[int(r[0])] = s.lists.get(int(r[0]), 0) + int(r[1])
        s.lists.pop(D.WAITING, None)
        s.waiting = result.waiting.lists.height
        for r in (
            result.decisions.filter(pl.col("status") == D.REFUSED).group_by("rule", "code").len().iter_rows()
        ):
            s.refusals[(r[0], r[1])] = s.refusals.get((r[0], r[1]), 0) + int(r[2])
        dups = result.receipts.filter(pl.col("code").is_in(["-301010", "-401007", "-504015", "-621004"]))
        for r in dups.group_by("code").len().iter_rows():
            s.duplicates[r[0]] = s.duplicates.get(r[0], 0) + int(r[1])
        if result.tax_lists.height:
            s.tax_total += Decimal(str(result.tax_lists["tax_total"].sum()))


def _marks(conn: Any) -> tuple[int, int]:
    """The highest document id and quota-movement id (SQLite: ids only grow while the service runs)."""
    row = conn.execute(
        select(
            select(func.coalesce(func.max(document_table.c.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(quota_movement_table.c.id), 0)).scalar_subquery(),
        )
    ).one()
    return int(row[0]), int(row[1])


def _keys(frame: pl.DataFrame, kind: str) -> list[str]:
    if frame.height == 0:
        return []
    col = {"lists": "list_key", "waybills": "waybill_key"}.get(kind, "order_key")
    return frame[col].unique().to_list()


def _with_arrival(docs: Documents, arrived: dict[int, datetime]) -> Documents:
    """Each document with the time its message reached the inbox (the expiry of incomplete sets runs from
    it): ``arrived`` maps batch positions to that time, for the messages whose ``received_at`` differs."""
    if not arrived:
        return docs

    def timed(frame: pl.DataFrame) -> pl.DataFrame:
        if not frame.height:
            return frame
        at = pl.col("_msg").replace_strict(
            arrived, default=pl.col("received_at"), return_dtype=pl.Datetime("us")
        )
        return frame.with_columns(at.alias("received_at"))

    return Documents(*(timed(getattr(docs, f.name)) for f in fields(Documents)))


def _filter_guids(docs: Documents, guids: set[str]) -> Documents:
    g = list(guids)

    def keep(frame: pl.DataFrame, col: str = "guid") -> pl.DataFrame:
        return frame.filter(pl.col(col).is_in(g)) if frame.height else frame

    return Documents(
        orders=keep(docs.orders),
        order_lines=keep(docs.order_lines),
        payments=keep(docs.payments),
        waybills=keep(docs.waybills),
        lists=keep(docs.lists),
        list_lines=keep(docs.list_lines, "list_guid"),
    )
