"""The console's read queries: work queues, today's figures, receipts and messages per enterprise.

Every query here is bounded, because the console must stay fast on a store holding millions of parcels:

* a page of rows is a ``LIMIT`` walked by descending id (``before`` pages further back);
* "today" is turned into an id range once (:func:`id_range`, a binary search over the primary key, which
  works because ids are handed out in arrival order), so the day's figures read the day's rows only;
* figures are ``GROUP BY`` in SQL: Python only sees one row per group.

Who may see what is passed in as a :class:`Scope` built from :func:`cbec.rights.read_scope`'s rule: an
officer's district is matched on the list number (``invtNo`` starts with the 4-digit customs code of the
office that accepted the list, 申报地海关), an enterprise sees the lists it sent and those under its platform
codes, an administrator everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnClause

from cbec.store.schema import decision, document, inbox, receipt

#: Statuses of the inspection queue: selected (500) and detained (501–503, 599), which still await a result.
INSPECTION_STATUSES = (500, 501, 502, 503, 599)
REVIEW_STATUSES = (300,)
#: Latency buckets, upper bounds in seconds (the last bucket is open).
LATENCY_BOUNDS = (0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 86400.0)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which lists a reader's figures cover: everything, a customs district, or an enterprise's codes."""

    everything: bool = False
    district: str | None = None
    codes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (self.everything or self.district or self.codes)


def _next_prefix(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def district_prefix(district: str) -> str:
    """A directly-under customs (code ending in 00) covers its offices: the same first two digits."""
    return district[:2] if district.endswith("00") else district


def _invt_in_district(column: Any, district: str) -> ColumnElement[bool]:
    """The list number starts with the district's prefix.

    Written as ``substr(…) = prefix`` on purpose: that is not a range the planner can take the ``invt_no``
    index for, so a queue page walks decisions newest first and stops at its LIMIT instead of reading a
    whole district's numbers and sorting them.
    """
    prefix = district_prefix(district)
    return func.substr(column, 1, len(prefix)) == prefix


def _key_under(column: Any, codes: Sequence[str]) -> ColumnElement[bool]:
    """Business keys ``<code>|…`` for one of ``codes`` (a range on the key's index)."""
    if not codes:
        return false()
    return or_(*[and_(column >= f"{c}|", column < f"{c}}}") for c in codes])


# --- ids of a time range -------------------------------------------------------------------------------


def first_id_at_or_after(conn: Connection, table: Table, column: ColumnClause[Any], since: datetime) -> int:
    """The smallest id whose ``column`` is ≥ ``since`` (max id + 1 when none), by binary search on ids.

    Rows are inserted in time order (arrival, decision, receipt), so the time column grows with the id; a
    few rows out of order at the edge of a day move by milliseconds, which a day's figures can bear.  About
    twenty primary-key look-ups instead of a scan of an unindexed time column.
    """
    first = conn.execute(select(func.min(table.c.id))).scalar()  # two queries: each is one index probe
    last = conn.execute(select(func.max(table.c.id))).scalar()
    if first is None or last is None:
        return 1
    lo, hi = int(first), int(last) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute(
            select(table.c.id, column).where(table.c.id >= mid).order_by(table.c.id).limit(1)
        ).first()
        if row is None or row[1] >= since:
            hi = mid
        else:
            lo = int(row[0]) + 1
    return lo


def id_range(
    conn: Connection, table: Table, column: ColumnClause[Any], start: datetime, end: datetime
) -> tuple[int, int]:
    """Ids ``[lo, hi)`` of the rows whose ``column`` falls in ``[start, end)``."""
    return first_id_at_or_after(conn, table, column, start), first_id_at_or_after(conn, table, column, end)


# --- scoping of decisions ---------------------------------------------------------------------------------
# Decisions are read by their own id range (or newest first) and each one's list is looked up by its key:
# correlated look-ups on the (kind, business_key) index rather than joins, so that no planner starts from
# the document table and walks every list in the store.


def _list_column(column: Any) -> Any:
    """The list document's ``column`` for the decision's list."""
    return (
        select(column)
        .where(document.c.kind == "list", document.c.business_key == decision.c.list_key)
        .scalar_subquery()
    )


def _list_message_column(column: Any) -> Any:
    """``column`` of the inbox message that brought the decision's list (its sender, when it arrived:
    ``document.received_at`` is when the engine took the list in, not when the message arrived)."""
    return (
        select(column)
        .select_from(document.join(inbox, inbox.c.id == document.c.inbox_id))
        .where(document.c.kind == "list", document.c.business_key == decision.c.list_key)
        .scalar_subquery()
    )


def _decision_scope(scope: Scope) -> ColumnElement[bool]:
    """Decisions in ``scope``: all, a district (by list number), or the lists an enterprise sent or whose
    key is under one of its (platform) codes."""
    if scope.everything:
        return true()
    if scope.district:
        return _invt_in_district(decision.c.invt_no, scope.district)
    if scope.codes:
        sent = _list_message_column(inbox.c.sender).in_(scope.codes)
        return or_(_key_under(decision.c.list_key, scope.codes), sent)
    return false()


def _first_decisions(lo: int, hi: int) -> ColumnElement[bool]:
    """The engine's decisions of the day (``batch_id`` set): one per list, as it entered or was refused."""
    return and_(decision.c.id >= lo, decision.c.id < hi, decision.c.batch_id.is_not(None))


# --- overview figures --------------------------------------------------------------------------------------


def volumes_by_type(conn: Connection, lo: int, hi: int, senders: Sequence[str] | None) -> dict[str, int]:
    """Messages received in inbox ids ``[lo, hi)`` by message type (``senders``: only theirs)."""
    where = and_(inbox.c.id >= lo, inbox.c.id < hi)
    if senders is not None:
        if not senders:
            return {}
        where = and_(where, inbox.c.sender.in_(list(senders)))
    stmt = (
        select(inbox.c.message_type, func.count())
        .where(where)
        .group_by(inbox.c.message_type)
        .order_by(inbox.c.message_type)
    )
    return {str(t): int(n) for t, n in conn.execute(stmt)}


def lists_by_status(conn: Connection, lo: int, hi: int, scope: Scope) -> dict[int, int]:
    """The day's first decisions by status (800 released, 300 review, 500 inspection, 100 refused)."""
    stmt = (
        select(decision.c.status, func.count())
        .where(_first_decisions(lo, hi), _decision_scope(scope))
        .group_by(decision.c.status)
    )
    return {int(s): int(n) for s, n in conn.execute(stmt)}


@dataclass(frozen=True, slots=True)
class RejectionGroup:
    rule: str
    code: str | None
    count: int
    example_zh: str
    example_en: str


def rejections(conn: Connection, lo: int, hi: int, scope: Scope, limit: int = 30) -> list[RejectionGroup]:
    """Refusals (status 100) among the decisions in ``[lo, hi)``, by rule and code, most frequent first."""
    n = func.count().label("n")
    stmt = (
        select(
            decision.c.rule,
            decision.c.code,
            n,
            func.min(decision.c.reason_zh),
            func.min(decision.c.reason_en),
        )
        .where(decision.c.id >= lo, decision.c.id < hi, decision.c.status == 100, _decision_scope(scope))
        .group_by(decision.c.rule, decision.c.code)
        .order_by(n.desc(), decision.c.rule)
        .limit(limit)
    )
    return [RejectionGroup(str(r), c, int(k), str(zh), str(en)) for r, c, k, zh, en in conn.execute(stmt)]


@dataclass(frozen=True, slots=True)
class Latency:
    buckets: tuple[int, ...]
    """Counts per bucket of :data:`LATENCY_BOUNDS` (and one more for longer)."""
    count: int
    mean_seconds: float | None
    max_seconds: float | None


def _seconds_between(conn: Connection, later: Any, earlier: Any) -> ColumnElement[float]:
    if conn.dialect.name == "postgresql":
        return cast(ColumnElement[float], func.extract("epoch", later - earlier))
    return (func.julianday(later) - func.julianday(earlier)) * literal(86400.0)


#: Latency is measured on the latest decisions of the range: a health figure, and bounded in cost.
LATENCY_SAMPLE = 20_000


def latency(conn: Connection, lo: int, hi: int, scope: Scope, *, sample: int = LATENCY_SAMPLE) -> Latency:
    """Decision time − arrival of the list's message, bucketed, for the engine's decisions among the
    latest ``sample`` decision ids of ``[lo, hi)`` (two index look-ups per list, so not a whole day's)."""
    lo = max(lo, hi - sample)
    seconds = _seconds_between(conn, decision.c.decided_at, _list_message_column(inbox.c.received_at))
    # materialised: each decision's arrival is looked up once, not once per bucket that tests it
    inner = (
        select(seconds.label("s"))
        .where(_first_decisions(lo, hi), _decision_scope(scope))
        .cte("latency")
        .prefix_with("MATERIALIZED")
    )
    s = inner.c.s
    columns: list[Any] = [func.count(), func.avg(s), func.max(s)]
    previous: float | None = None
    for bound in (*LATENCY_BOUNDS, None):
        cond: list[ColumnElement[bool]] = []
        if previous is not None:
            cond.append(s >= previous)
        if bound is not None:
            cond.append(s < bound)
        columns.append(func.sum(case((and_(true(), *cond), 1), else_=0)))
        previous = bound
    row = conn.execute(select(*columns)).one()
    count = int(row[0] or 0)
    return Latency(
        buckets=tuple(int(x or 0) for x in row[3:]),
        count=count,
        mean_seconds=float(row[1]) if row[1] is not None else None,
        max_seconds=float(row[2]) if row[2] is not None else None,
    )


# --- officers' work queues ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueCase:
    decision_id: int
    list_key: str
    invt_no: str
    status: int
    rule: str
    reason_zh: str
    reason_en: str
    decided_at: datetime
    received_at: datetime


def queue(
    conn: Connection,
    statuses: Sequence[int],
    *,
    district: str | None,
    limit: int = 50,
    before: int | None = None,
) -> list[QueueCase]:
    """Lists now held at one of ``statuses`` (in the district; ``None``: all), newest selection first.

    A case is the decision that put the list where it is: its status equals the list's current status.
    Walked by descending decision id with a LIMIT, so a page costs the rows it shows (plus those already
    worked), not the size of the store.
    """
    where = [
        decision.c.status.in_(list(statuses)),
        _list_column(document.c.status) == decision.c.status,
        decision.c.invt_no.is_not(None),
    ]
    if district is not None:
        where.append(_invt_in_district(decision.c.invt_no, district))
    if before is not None:
        where.append(decision.c.id < before)
    stmt = (
        select(
            decision.c.id,
            decision.c.list_key,
            decision.c.invt_no,
            decision.c.status,
            decision.c.rule,
            decision.c.reason_zh,
            decision.c.reason_en,
            decision.c.decided_at,
            _list_message_column(inbox.c.received_at),
        )
        .where(*where)
        .order_by(decision.c.id.desc())
        .limit(limit)
    )
    return [QueueCase(*row) for row in conn.execute(stmt)]


# --- an enterprise's receipts and messages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptHead:
    id: int
    message_type: str
    recipient: str
    created_at: datetime


def recent_receipts(
    conn: Connection,
    recipients: Sequence[str],
    *,
    limit: int = 50,
    before: int | None = None,
    message_types: Sequence[str] | None = None,
    window: int = 5000,
) -> list[ReceiptHead]:
    """Receipts addressed to ``recipients``, newest first, on the (recipient, id) index.

    With ``message_types``, only among the newest ``window`` receipts of the recipients (filtered here: a
    rare type must never make the database walk an enterprise's whole history, or pick the message-type
    index and walk everyone's).
    """
    if not recipients:
        return []
    where: list[ColumnElement[bool]] = [receipt.c.recipient.in_(sorted(set(recipients)))]
    if before is not None:
        where.append(receipt.c.id < before)
    stmt = (
        select(receipt.c.id, receipt.c.message_type, receipt.c.recipient, receipt.c.created_at)
        .where(*where)
        .order_by(receipt.c.id.desc())
        .limit(limit if message_types is None else window)
    )
    rows = [ReceiptHead(int(i), str(t), str(r), c) for i, t, r, c in conn.execute(stmt)]
    if message_types is not None:
        wanted = set(message_types)
        rows = [r for r in rows if r.message_type in wanted][:limit]
    return rows


def receipt_xml(conn: Connection, receipt_id: int) -> tuple[ReceiptHead, bytes] | None:
    row = conn.execute(
        select(
            receipt.c.id, receipt.c.message_type, receipt.c.recipient, receipt.c.created_at, receipt.c.xml
        ).where(receipt.c.id == receipt_id)
    ).first()
    if row is None:
        return None
    return ReceiptHead(int(row[0]), str(row[1]), str(row[2]), row[3]), bytes(row[4])


@dataclass(frozen=True, slots=True)
class SentMessage:
    id: int
    guid: str
    message_type: str
    sender: str | None
    received_at: datetime
    status: str


def recent_messages(
    conn: Connection, senders: Sequence[str] | None, *, limit: int = 50, window: int = 20000
) -> list[SentMessage]:
    """Messages received from ``senders`` (``None``: anyone) among the newest ``window`` of the inbox."""
    last = conn.execute(select(func.max(inbox.c.id))).scalar()
    if last is None or (senders is not None and not senders):
        return []
    where = [inbox.c.id > int(last) - window]
    if senders is not None:
        where.append(inbox.c.sender.in_(list(senders)))
    stmt = (
        select(
            inbox.c.id,
            inbox.c.guid,
            inbox.c.message_type,
            inbox.c.sender,
            inbox.c.received_at,
            inbox.c.status,
        )
        .where(*where)
        .order_by(inbox.c.id.desc())
        .limit(limit)
    )
    return [SentMessage(*row) for row in conn.execute(stmt)]
