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

from sqlalchemy import Connection, func, select, text, update

from cbec.store._common import bulk_insert, check_len, chunks, utcnow
from cbec.store.schema import receipt

#: PostgreSQL advisory-lock key that orders receipt ids by commit (an arbitrary constant of cbec's).
RECEIPT_ORDER_LOCK = 0x63626563_0001


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
    """The XML, or already its stored form (:func:`cbec.store.packed_xml.pack`, as receipt workers give it);
    rows read back (:class:`ReceiptRow`) always hold the XML."""
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
    batch_id: int | None = None


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


def enqueue_returning(
    conn: Connection, receipts: Sequence[Receipt], *, batch_id: int | None = None
) -> list[tuple[int, Receipt]]:
    """:func:`enqueue`, returning the id of each receipt queued by this call (repeats are left out).

    ``batch_id``: the clearing batch that produced them, which is how a parcel's history finds them.
    """
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
            "batch_id": batch_id,
        }
        for r in receipts
    ]
    key = [receipt.c.message_type, receipt.c.doc_guid, receipt.c.status]
    if conn.dialect.name == "postgresql":  # ids committed in the order they are taken (see :func:`feed`)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RECEIPT_ORDER_LOCK})
    returned = bulk_insert(
        conn,
        receipt,
        params,
        on_conflict=lambda stmt: stmt.on_conflict_do_nothing(index_elements=key),
        returning=[receipt.c.id, *key],
    )
    by_key = {(r.message_type, r.doc_guid, r.status): r for r in receipts}
    return [(int(id_), by_key[(mtype, guid, int(status))]) for id_, mtype, guid, status in returned]


def feed(conn: Connection, recipients: Sequence[str], *, after: int, limit: int = 100) -> list[ReceiptRow]:
    """Receipts addressed to any of ``recipients`` with an id above ``after``, in id order.

    Ids only grow and a receipt is committed with its decision, so a consumer that remembers the last id
    it has handled resumes exactly where it stopped.  That needs ids to become visible in increasing order:
    SQLite has one writer at a time, and on PostgreSQL :func:`enqueue_returning` holds a transaction lock
    from taking ids until the commit, so a smaller id can never appear after a larger one was read.
    """
    if not recipients:
        return []
    stmt = (
        select(receipt)
        .where(receipt.c.recipient.in_(sorted(set(recipients))), receipt.c.id > after)
        .order_by(receipt.c.id)
        .limit(limit)
    )
    return [ReceiptRow(**row._mapping) for row in conn.execute(stmt)]


def by_batches(
    conn: Connection, batch_ids: Sequence[int], recipients: Sequence[str] | None = None
) -> list[ReceiptRow]:
    """Receipts produced by the given clearing batches (optionally only those for ``recipients``)."""
    out: list[ReceiptRow] = []
    for part in chunks(sorted(set(batch_ids))):
        stmt = select(receipt).where(receipt.c.batch_id.in_(part))
        if recipients is not None:
            stmt = stmt.where(receipt.c.recipient.in_(sorted(set(recipients))))
        out += [ReceiptRow(**row._mapping) for row in conn.execute(stmt.order_by(receipt.c.id))]
    return out


def by_ids(conn: Connection, ids: Sequence[int]) -> list[ReceiptRow]:
    """Receipts by id, in id order."""
    out: list[ReceiptRow] = []
    for part in chunks(sorted(set(ids))):
        stmt = select(receipt).where(receipt.c.id.in_(part)).order_by(receipt.c.id)
        out += [ReceiptRow(**row._mapping) for row in conn.execute(stmt)]
    return out


def last_id(conn: Connection) -> int:
    """The largest receipt id so far (0 when there is none)."""
    return int(conn.execute(select(func.coalesce(func.max(receipt.c.id), 0))).scalar_one())


def by_business_keys(conn: Connection, keys: Sequence[str]) -> list[ReceiptRow]:
    """Receipts filed under these business keys (e.g. those about one list), in id order."""
    out: list[ReceiptRow] = []
    for part in chunks(sorted(set(keys))):
        stmt = select(receipt).where(receipt.c.business_key.in_(part)).order_by(receipt.c.id)
        out += [ReceiptRow(**row._mapping) for row in conn.execute(stmt)]
    return sorted(out, key=lambda r: r.id)
