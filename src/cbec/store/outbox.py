"""The outbox: receipts written in the transaction that commits their decision, delivered afterwards.

Writing the receipt with the decision (instead of sending it from the processing code) is what guarantees
that no receipt announces a decision that was rolled back, and that no committed decision goes unanswered.
``UNIQUE(message_type, doc_guid, status)`` makes re-processing harmless: the same answer is queued once.
Delivery is at least once (a crash between sending and :func:`mark_delivered` sends again); receivers
recognise a repeat by the receipt's own guid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from cbec.store._common import bulk_insert, check_len, chunks, utcnow
from cbec.store.schema import receipt


@dataclass(frozen=True, slots=True)
class Receipt:
    message_type: str
    recipient: str
    """copCode or DXP id of whoever must receive it."""
    business_key: str
    doc_guid: str
    """guid of the document this receipt answers."""
    status: int
    xml: bytes
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    id: int
    message_type: str
    recipient: str
    business_key: str
    doc_guid: str
    status: int
    created_at: datetime
    xml: bytes
    delivered_at: datetime | None


def enqueue(conn: Connection, receipts: Sequence[Receipt]) -> int:
    """Queue receipts not queued before; return how many were new (repeats are skipped silently)."""
    return len(enqueue_returning(conn, receipts))


def undelivered(conn: Connection, limit: int = 100, *, skip_locked: bool = False) -> list[ReceiptRow]:
    """Receipts not yet delivered, oldest first.

    ``skip_locked`` lets several PostgreSQL delivery workers share the queue (``FOR UPDATE SKIP LOCKED``:
    each takes rows the others are not holding); SQLite ignores it, having a single writer anyway.
    """
    stmt = select(receipt).where(receipt.c.delivered_at.is_(None)).order_by(receipt.c.id).limit(limit)
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    return [ReceiptRow(**row._mapping) for row in conn.execute(stmt)]


def mark_delivered(conn: Connection, ids: Sequence[int], at: datetime | None = None) -> int:
    """Record delivery; return how many receipts changed (already delivered ones keep their first time)."""
    when = at or utcnow()
    changed = 0
    for part in chunks(sorted(set(ids))):
        stmt = (
            update(receipt)
            .where(receipt.c.id.in_(part), receipt.c.delivered_at.is_(None))
            .values(delivered_at=when)
        )
        changed += conn.execute(stmt).rowcount
    return changed


def enqueue_returning(conn: Connection, receipts: Sequence[Receipt]) -> list[tuple[int, Receipt]]:
    """:func:`enqueue`, returning the id of each receipt queued by this call (repeats are left out)."""
    if not receipts:
        return []
    now = utcnow()
    for r in receipts:
        check_len("message_type", r.message_type, 32)
        check_len("recipient", r.recipient, 64)
        check_len("business_key", r.business_key, 200)
        check_len("doc_guid", r.doc_guid, 64)
    params = [
        {
            "message_type": r.message_type,
            "recipient": r.recipient,
            "business_key": r.business_key,
            "doc_guid": r.doc_guid,
            "status": r.status,
            "created_at": r.created_at or now,
            "xml": r.xml,
            "delivered_at": None,
        }
        for r in receipts
    ]
    key = [receipt.c.message_type, receipt.c.doc_guid, receipt.c.status]
    returned = bulk_insert(
        conn,
        receipt,
        params,
        on_conflict=lambda stmt: stmt.on_conflict_do_nothing(index_elements=key),
        returning=[receipt.c.id, *key],
    )
    by_key = {(r.message_type, r.doc_guid, r.status): r for r in receipts}
    return [(int(id_), by_key[(mtype, guid, int(status))]) for id_, mtype, guid, status in returned]
