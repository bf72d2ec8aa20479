"""Webhook subscriptions and their deliveries, with retries and a dead-letter list.

A subscription follows BaseSubscribe's meaning: ``RET`` receives receipts, ``DATA`` receives copies of data
messages that name the subscriber in BaseSubscribe, ``ALL`` both.  Planning turns what is new since the
subscription's positions into one ``delivery`` row per call to make; each row is tried, retried with back-off
after a failure and, after the last attempt, left ``dead`` until someone retries it by hand.  Planning and
sending are separate so that a crash between them loses nothing: a planned delivery stays pending.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, update

from cbec.store._common import bulk_insert, check_len, utcnow
from cbec.store.guid_hash import guid_hash
from cbec.store.schema import (
    SUBSCRIPTION_KINDS,
    delivery,
    document,
    message_subscriber,
    receipt,
    subscription,
)

PENDING, DONE, DEAD = "pending", "done", "dead"
RECEIPT_COPY = ("ALL", "RET")  # BaseSubscribe statuses that ask for copies of the receipts


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    owner: str
    url: str
    kind: str
    secret: str
    active: bool
    receipt_position: int
    data_position: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscription_id: int
    item: str
    item_id: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


def _subscription(row: object) -> Subscription:
    m = row._mapping  # type: ignore[attr-defined]
    return Subscription(**{**m, "active": bool(m["active"])})


def _delivery(row: object) -> Delivery:
    m = row._mapping  # type: ignore[attr-defined]
    return Delivery(**{k: m[k] for k in Delivery.__slots__})  # type: ignore[attr-defined]


def subscribe(
    conn: Connection, owner: str, url: str, kind: str = "RET", *, from_start: bool = False
) -> Subscription:
    """Register a webhook; it receives what arrives from now on (or everything so far with ``from_start``)."""
    if kind not in SUBSCRIPTION_KINDS:
        raise ValueError(
            f"kind must be one of {SUBSCRIPTION_KINDS} / 订阅类型必须是 ALL、DATA 或 RET, not {kind!r}"
        )
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be http(s) / 回调地址必须是 http(s): {url!r}")
    check_len("owner", owner, 32)
    start_r = (
        0 if from_start else int(conn.execute(select(func.coalesce(func.max(receipt.c.id), 0))).scalar_one())
    )
    start_d = (
        0
        if from_start
        else int(conn.execute(select(func.coalesce(func.max(message_subscriber.c.inbox_id), 0))).scalar_one())
    )
    new_id = conn.execute(
        subscription.insert()
        .values(
            owner=owner,
            url=url,
            kind=kind,
            secret=secrets.token_hex(32),
            active=1,
            receipt_position=start_r,
            data_position=start_d,
            created_at=utcnow(),
        )
        .returning(subscription.c.id)
    ).scalar_one()
    return get(conn, int(new_id))


def get(conn: Connection, subscription_id: int) -> Subscription:
    row = conn.execute(select(subscription).where(subscription.c.id == subscription_id)).first()
    if row is None:
        raise KeyError(subscription_id)
    return _subscription(row)


def of_owner(conn: Connection, owners: Sequence[str]) -> list[Subscription]:
    stmt = select(subscription).where(subscription.c.owner.in_(list(owners))).order_by(subscription.c.id)
    return [_subscription(r) for r in conn.execute(stmt)]


def deactivate(conn: Connection, subscription_id: int) -> bool:
    stmt = update(subscription).where(subscription.c.id == subscription_id).values(active=0)
    return conn.execute(stmt).rowcount > 0


def plan(conn: Connection, *, limit: int = 1000, now: datetime | None = None) -> int:
    """Create the delivery rows for what each active subscription has not considered yet; return how many."""
    at = now or utcnow()
    made = 0
    for sub in [
        _subscription(r) for r in conn.execute(select(subscription).where(subscription.c.active == 1))
    ]:
        rows: list[dict[str, object]] = []
        if sub.kind in ("ALL", "RET"):
            ids = [
                int(i)
                for (i,) in conn.execute(
                    select(receipt.c.id)
                    .where(receipt.c.recipient == sub.owner, receipt.c.id > sub.receipt_position)
                    .order_by(receipt.c.id)
                    .limit(limit)
                )
            ]
            rows += [_new(sub.id, "receipt", i, at) for i in ids]
            if ids:
                conn.execute(
                    update(subscription).where(subscription.c.id == sub.id).values(receipt_position=ids[-1])
                )
        if sub.kind in ("ALL", "DATA"):
            ids = [
                int(i)
                for (i,) in conn.execute(
                    select(message_subscriber.c.inbox_id)
                    .where(
                        message_subscriber.c.dxp_address == sub.owner,
                        message_subscriber.c.status.in_(("ALL", "DATA")),
                        message_subscriber.c.inbox_id > sub.data_position,
                    )
                    .order_by(message_subscriber.c.inbox_id)
                    .limit(limit)
                )
            ]
            rows += [_new(sub.id, "data", i, at) for i in ids]
            if ids:
                conn.execute(
                    update(subscription).where(subscription.c.id == sub.id).values(data_position=ids[-1])
                )
        if rows:
            made += len(
                bulk_insert(
                    conn,
                    delivery,
                    rows,
                    on_conflict=lambda stmt: stmt.on_conflict_do_nothing(
                        index_elements=[delivery.c.subscription_id, delivery.c.item, delivery.c.item_id]
                    ),
                    returning=[delivery.c.id],
                )
            )
    return made


def receipt_copies_wanted(conn: Connection) -> bool:
    """Whether any message ever named a third party for copies of its receipts (else nothing to look up)."""
    stmt = select(message_subscriber.c.inbox_id).where(message_subscriber.c.status.in_(RECEIPT_COPY)).limit(1)
    return conn.execute(stmt).first() is not None


def receipt_copy_addresses(conn: Connection, inbox_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(inbox id, address) for the messages among ``inbox_ids`` that name a party for receipt copies."""
    out: list[tuple[int, str]] = []
    ids = sorted(set(inbox_ids))
    for start in range(0, len(ids), 500):
        stmt = select(message_subscriber.c.inbox_id, message_subscriber.c.dxp_address).where(
            message_subscriber.c.inbox_id.in_(ids[start : start + 500]),
            message_subscriber.c.status.in_(RECEIPT_COPY),
        )
        out += [(int(i), str(a)) for i, a in conn.execute(stmt)]
    return out


def document_copy_addresses(conn: Connection, kind: str, guids: Sequence[str]) -> list[tuple[str, str]]:
    """(document guid, address) for stored documents of ``kind`` whose message named a party for copies."""
    out: list[tuple[str, str]] = []
    ordered = sorted(set(guids))
    for start in range(0, len(ordered), 500):
        part = ordered[start : start + 500]
        stmt = (
            select(document.c.guid, message_subscriber.c.dxp_address)
            .select_from(
                document.join(message_subscriber, message_subscriber.c.inbox_id == document.c.inbox_id)
            )
            .where(
                document.c.guid_hash.in_(sorted({guid_hash(g) for g in part})),
                document.c.guid.in_(part),
                document.c.kind == kind,
                message_subscriber.c.status.in_(RECEIPT_COPY),
            )
        )
        out += [(str(g), str(a)) for g, a in conn.execute(stmt)]
    return out


def _new(subscription_id: int, item: str, item_id: int, at: datetime) -> dict[str, object]:
    return {
        "subscription_id": subscription_id,
        "item": item,
        "item_id": item_id,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": at,
        "last_error": None,
        "created_at": at,
        "updated_at": at,
    }


def due(
    conn: Connection, *, limit: int = 100, now: datetime | None = None, skip_locked: bool = False
) -> list[Delivery]:
    """Pending deliveries now due, oldest first (``skip_locked``: shared by PostgreSQL workers)."""
    stmt = (
        select(delivery)
        .where(delivery.c.status == PENDING, delivery.c.next_attempt_at <= (now or utcnow()))
        .order_by(delivery.c.next_attempt_at, delivery.c.id)
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    return [_delivery(r) for r in conn.execute(stmt)]


def succeeded(conn: Connection, delivery_id: int, *, now: datetime | None = None) -> None:
    at = now or utcnow()
    conn.execute(
        update(delivery)
        .where(delivery.c.id == delivery_id)
        .values(status=DONE, attempts=delivery.c.attempts + 1, last_error=None, updated_at=at)
    )


def failed(
    conn: Connection,
    item: Delivery,
    error: str,
    *,
    max_attempts: int,
    backoff: timedelta,
    cap: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> str:
    """Record a failed attempt: retry after ``backoff`` doubled per attempt (at most ``cap``), or give up.

    Returns the new status: ``pending`` (to be retried) or ``dead`` (on the dead-letter list).
    """
    at = now or utcnow()
    attempts = item.attempts + 1
    status = DEAD if attempts >= max_attempts else PENDING
    wait = min(backoff * (2 ** (attempts - 1)), cap)
    conn.execute(
        update(delivery)
        .where(delivery.c.id == item.id)
        .values(
            status=status,
            attempts=attempts,
            last_error=error[:2000],
            next_attempt_at=at + wait,
            updated_at=at,
        )
    )
    return status


def dead_letters(conn: Connection, subscription_ids: Sequence[int], *, limit: int = 100) -> list[Delivery]:
    stmt = (
        select(delivery)
        .where(delivery.c.status == DEAD, delivery.c.subscription_id.in_(list(subscription_ids)))
        .order_by(delivery.c.id)
        .limit(limit)
    )
    return [_delivery(r) for r in conn.execute(stmt)]


def retry(conn: Connection, delivery_ids: Sequence[int], *, now: datetime | None = None) -> int:
    """Put dead deliveries back on the queue with a fresh count of attempts."""
    at = now or utcnow()
    stmt = (
        update(delivery)
        .where(delivery.c.id.in_(list(delivery_ids)), delivery.c.status == DEAD)
        .values(status=PENDING, attempts=0, next_attempt_at=at, updated_at=at)
    )
    return int(conn.execute(stmt).rowcount)


def counts(conn: Connection, subscription_ids: Sequence[int]) -> dict[str, int]:
    """Deliveries per status for the given subscriptions."""
    stmt = (
        select(delivery.c.status, func.count())
        .where(delivery.c.subscription_id.in_(list(subscription_ids)))
        .group_by(delivery.c.status)
    )
    return {str(s): int(n) for s, n in conn.execute(stmt)}
