"""What happens to a list after its first decision: officers' results, cancellations, returns, closing.

Repository functions only (the rules live in :mod:`cbec.rules.lifecycle`, the steps in
:mod:`cbec.engine.review`, :mod:`cbec.engine.aftercare` and :mod:`cbec.engine.closing`).  A list's current
CEB status is the ``status`` of its ``document`` row (kind ``list``); every change of it is a row in the
``decision`` log, so the release time of a list is the time of its latest decision with status 800.

Status changes go through :func:`move_status`, a compare-and-set (``UPDATE … WHERE status = <expected>``):
two officers, or an officer and a cancellation, can never both move the same list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, func, select, update

from cbec.store import inbox as inbox_repo
from cbec.store._common import check_len, chunks, insert_new, utcnow
from cbec.store.schema import (
    APPLICATION_KINDS,
    OFFICER_RESULT_KINDS,
    application,
    decision,
    document,
    inbox,
    officer_result,
    quota_movement,
    return_line,
)

LIST_KIND = "list"
RELEASED = 800


@dataclass(frozen=True, slots=True)
class ListRef:
    """A list as the store knows it: keys, current status, where its raw message is, when it was released."""

    list_key: str
    guid: str
    document_id: int
    status: int
    inbox_id: int
    sender: str | None
    """copCode of the enterprise that sent the list: the recipient of its CEB622 receipts."""
    invt_no: str | None
    released_at: datetime | None
    """Time of the latest decision with status 800, if any."""


@dataclass(frozen=True, slots=True)
class AcceptedQuota:
    buyer_key: str
    year: int
    amount_fen: int


@dataclass(frozen=True, slots=True)
class OfficerResult:
    list_key: str
    invt_no: str | None
    kind: str
    """``review`` or ``inspection``."""
    result: str
    from_status: int
    to_status: int
    officer: str
    reason_zh: str
    reason_en: str
    decided_at: datetime
    code: str | None = None


@dataclass(frozen=True, slots=True)
class OfficerResultRow:
    id: int
    list_key: str
    invt_no: str | None
    kind: str
    result: str
    from_status: int
    to_status: int
    code: str | None
    officer: str
    reason_zh: str
    reason_en: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class Application:
    """The outcome of one cancellation (``cancel``, CEB623) or return application (``return``, CEB625)."""

    kind: str
    guid: str
    invt_no: str
    list_key: str | None
    status: int
    """399 accepted (concluded) or 100 refused."""
    reason_zh: str
    reason_en: str
    decided_at: datetime
    code: str | None = None
    cop_no: str | None = None
    sender: str | None = None
    quota_fen: int = 0
    """Quota given back (≤ 0)."""
    tax_fen: int = 0
    """Tax no longer due or refunded (≤ 0)."""
    batch_id: int | None = None


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    id: int
    kind: str
    guid: str
    invt_no: str
    list_key: str | None
    cop_no: str | None
    sender: str | None
    status: int
    code: str | None
    reason_zh: str
    reason_en: str
    quota_fen: int
    tax_fen: int
    decided_at: datetime
    batch_id: int | None


@dataclass(frozen=True, slots=True)
class ReturnLine:
    list_key: str
    return_guid: str
    gnum: int
    qty: Decimal
    dutiable_fen: int
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int


@dataclass(frozen=True, slots=True)
class ReturnedLine:
    """What has come back so far of one original list line (sum over accepted returns)."""

    gnum: int
    qty: Decimal
    dutiable_fen: int
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int


# --- lists ------------------------------------------------------------------------------------------------
def list_keys_by_invt_nos(conn: Connection, invt_nos: Iterable[str]) -> dict[str, str]:
    """``invtNo`` -> list key, for the numbers customs assigned (lists that entered customs' system)."""
    found: dict[str, str] = {}
    for part in chunks(sorted({n for n in invt_nos if n})):
        stmt = (
            select(decision.c.invt_no, decision.c.list_key)
            .where(decision.c.invt_no.in_(part))
            .group_by(decision.c.invt_no, decision.c.list_key)
        )
        found.update({invt_no: key for invt_no, key in conn.execute(stmt)})
    return found


def list_refs(conn: Connection, list_keys: Iterable[str], *, for_update: bool = False) -> dict[str, ListRef]:
    """The stored lists for these keys (absent ones are left out).

    ``for_update`` locks the document rows on PostgreSQL (``SELECT … FOR UPDATE``) until the transaction
    ends; SQLite's write transactions already hold the database lock (``BEGIN IMMEDIATE``).
    """
    keys = sorted(set(list_keys))
    docs: dict[str, tuple[str, int, int, int, str | None]] = {}
    for part in chunks(keys):
        stmt = (
            select(
                document.c.business_key,
                document.c.guid,
                document.c.id,
                document.c.status,
                document.c.inbox_id,
                inbox.c.sender,
            )
            .join(inbox, inbox.c.id == document.c.inbox_id)
            .where(document.c.kind == LIST_KIND, document.c.business_key.in_(part))
        )
        if for_update and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=document)
        for key, guid, id_, status, inbox_id, sender in conn.execute(stmt):
            docs[key] = (guid, id_, status, inbox_id, sender)
    invt: dict[str, str] = {}
    released: dict[str, datetime] = {}
    for part in chunks(sorted(docs)):
        rows = conn.execute(
            select(decision.c.list_key, decision.c.invt_no).where(
                decision.c.list_key.in_(part), decision.c.invt_no.is_not(None)
            )
        )
        invt.update({key: no for key, no in rows})
        rows = conn.execute(
            select(decision.c.list_key, func.max(decision.c.decided_at))
            .where(decision.c.list_key.in_(part), decision.c.status == RELEASED)
            .group_by(decision.c.list_key)
        )
        released.update({key: _utc(at) for key, at in rows if at is not None})
    return {
        key: ListRef(key, guid, id_, status, inbox_id, sender, invt.get(key), released.get(key))
        for key, (guid, id_, status, inbox_id, sender) in docs.items()
    }


def _utc(value: datetime | str) -> datetime:
    """``max()`` over a timestamp loses the column type on SQLite (a string comes back): parse it again."""
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def move_status(conn: Connection, list_key: str, from_status: int, to_status: int) -> bool:
    """Compare-and-set a list's status; False (nothing changed) if it is no longer ``from_status``."""
    stmt = (
        update(document)
        .where(
            document.c.kind == LIST_KIND,
            document.c.business_key == list_key,
            document.c.status == from_status,
        )
        .values(status=to_status)
    )
    return bool(conn.execute(stmt).rowcount == 1)


def move_statuses(conn: Connection, list_keys: Iterable[str], from_status: int, to_status: int) -> set[str]:
    """:func:`move_status` for many lists at once; returns the keys actually moved."""
    moved: set[str] = set()
    for part in chunks(sorted(set(list_keys))):
        stmt = (
            update(document)
            .where(
                document.c.kind == LIST_KIND,
                document.c.business_key.in_(part),
                document.c.status == from_status,
            )
            .values(status=to_status)
            .returning(document.c.business_key)
        )
        moved.update(conn.scalars(stmt))
    return moved


def released_lists(
    conn: Connection, *, released_before: datetime | None = None
) -> list[tuple[str, datetime]]:
    """(list key, release time) of every list currently at 800 (released, not closed), oldest first;
    ``released_before`` keeps only those released before that moment."""
    latest_q = (
        select(decision.c.list_key, func.max(decision.c.decided_at).label("released_at"))
        .where(decision.c.status == RELEASED)
        .group_by(decision.c.list_key)
    )
    if released_before is not None:
        latest_q = latest_q.having(func.max(decision.c.decided_at) < released_before)
    latest = latest_q.subquery()
    stmt = (
        select(document.c.business_key, latest.c.released_at)
        .join(latest, latest.c.list_key == document.c.business_key)
        .where(document.c.kind == LIST_KIND, document.c.status == RELEASED)
        .order_by(latest.c.released_at, document.c.business_key)
    )
    return [(key, _utc(at)) for key, at in conn.execute(stmt)]


def raw_messages(conn: Connection, inbox_ids: Iterable[int]) -> dict[int, bytes]:
    """The raw bytes of these inbox messages (the record every document is decoded from)."""
    return inbox_repo.raw_by_ids(conn, list(inbox_ids))


def accepted_quota(conn: Connection, list_keys: Iterable[str]) -> dict[str, AcceptedQuota]:
    """The ``accept`` quota movement of each list (lists that never counted are left out)."""
    found: dict[str, AcceptedQuota] = {}
    for part in chunks(sorted(set(list_keys))):
        stmt = select(
            quota_movement.c.list_key,
            quota_movement.c.buyer_key,
            quota_movement.c.year,
            quota_movement.c.amount_fen,
        ).where(quota_movement.c.list_key.in_(part), quota_movement.c.kind == "accept")
        for key, buyer_key, year, amount in conn.execute(stmt):
            found[key] = AcceptedQuota(buyer_key, int(year), int(amount))
    return found


# --- officers' results ------------------------------------------------------------------------------------
def record_officer_result(conn: Connection, row: OfficerResult) -> int:
    """Append an officer's result; return its id."""
    check_len("list_key", row.list_key, 200)
    check_len("officer", row.officer, 64)
    if row.kind not in OFFICER_RESULT_KINDS:
        raise ValueError(f"kind must be one of {OFFICER_RESULT_KINDS}, not {row.kind!r}")
    values = {
        "list_key": row.list_key,
        "invt_no": row.invt_no,
        "kind": row.kind,
        "result": row.result,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "code": row.code,
        "officer": row.officer,
        "reason_zh": row.reason_zh,
        "reason_en": row.reason_en,
        "decided_at": row.decided_at,
    }
    return int(
        conn.execute(officer_result.insert().values(**values).returning(officer_result.c.id)).scalar_one()
    )


def officer_results(conn: Connection, list_keys: Iterable[str]) -> dict[str, list[OfficerResultRow]]:
    found: dict[str, list[OfficerResultRow]] = defaultdict(list)
    for part in chunks(sorted(set(list_keys))):
        stmt = select(officer_result).where(officer_result.c.list_key.in_(part)).order_by(officer_result.c.id)
        for row in conn.execute(stmt):
            found[row.list_key].append(OfficerResultRow(**row._mapping))
    return dict(found)


# --- cancellation and return applications -------------------------------------------------------------
def record_applications(conn: Connection, rows: Sequence[Application]) -> int:
    """Store application outcomes not stored before (by kind and guid); return how many were new."""
    if not rows:
        return 0
    params = []
    for r in rows:
        if r.kind not in APPLICATION_KINDS:
            raise ValueError(f"kind must be one of {APPLICATION_KINDS}, not {r.kind!r}")
        check_len("guid", r.guid, 64)
        check_len("invt_no", r.invt_no, 32)
        if r.quota_fen > 0 or r.tax_fen > 0:
            raise ValueError(f"application {r.guid}: quota and tax given back must be ≤ 0")
        params.append(
            {
                "kind": r.kind,
                "guid": r.guid,
                "invt_no": r.invt_no,
                "list_key": r.list_key,
                "cop_no": r.cop_no,
                "sender": r.sender,
                "status": r.status,
                "code": r.code,
                "reason_zh": r.reason_zh,
                "reason_en": r.reason_en,
                "quota_fen": r.quota_fen,
                "tax_fen": r.tax_fen,
                "decided_at": r.decided_at,
                "batch_id": r.batch_id,
            }
        )
    return insert_new(conn, application, params, ["kind", "guid"])


def known_applications(conn: Connection, kind: str, guids: Iterable[str]) -> set[str]:
    """Which of these application guids have already been decided."""
    found: set[str] = set()
    for part in chunks(sorted(set(guids))):
        stmt = select(application.c.guid).where(application.c.kind == kind, application.c.guid.in_(part))
        found.update(conn.scalars(stmt))
    return found


def applications_by_list_keys(conn: Connection, list_keys: Iterable[str]) -> dict[str, list[ApplicationRow]]:
    """Every application decided for these lists, oldest first per list."""
    found: dict[str, list[ApplicationRow]] = defaultdict(list)
    for part in chunks(sorted(set(list_keys))):
        stmt = select(application).where(application.c.list_key.in_(part)).order_by(application.c.id)
        for row in conn.execute(stmt):
            found[row.list_key].append(ApplicationRow(**row._mapping))
    return dict(found)


def open_returns(conn: Connection, list_keys: Iterable[str]) -> set[str]:
    """Lists with a return application still undecided (neither 399 nor 100)."""
    found: set[str] = set()
    for part in chunks(sorted(set(list_keys))):
        stmt = select(application.c.list_key).where(
            and_(
                application.c.kind == "return",
                application.c.list_key.in_(part),
                application.c.status.not_in([100, 399]),
            )
        )
        found.update(k for k in conn.scalars(stmt) if k is not None)
    return found


def record_return_lines(conn: Connection, rows: Sequence[ReturnLine]) -> int:
    """Store the lines of accepted returns (idempotent by return guid and gnum); return how many were new."""
    if not rows:
        return 0
    now = utcnow()
    params = []
    for r in rows:
        check_len("list_key", r.list_key, 200)
        check_len("return_guid", r.return_guid, 64)
        if r.qty <= 0:
            raise ValueError(f"return {r.return_guid} line {r.gnum}: quantity must be positive")
        params.append(
            {
                "list_key": r.list_key,
                "return_guid": r.return_guid,
                "gnum": r.gnum,
                "qty": format(r.qty, "f"),
                "dutiable_fen": r.dutiable_fen,
                "customs_tax_fen": r.customs_tax_fen,
                "vat_fen": r.vat_fen,
                "ct_fen": r.ct_fen,
                "created_at": now,
            }
        )
    return insert_new(conn, return_line, params, ["return_guid", "gnum"])


def returned(conn: Connection, list_keys: Iterable[str]) -> dict[str, dict[int, ReturnedLine]]:
    """Per list and original line number (gnum): what accepted returns have brought back so far."""
    sums: dict[str, dict[int, list[Decimal | int]]] = defaultdict(dict)
    for part in chunks(sorted(set(list_keys))):
        stmt = select(
            return_line.c.list_key,
            return_line.c.gnum,
            return_line.c.qty,
            return_line.c.dutiable_fen,
            return_line.c.customs_tax_fen,
            return_line.c.vat_fen,
            return_line.c.ct_fen,
        ).where(return_line.c.list_key.in_(part))
        for key, gnum, qty, dutiable, duty, vat, ct in conn.execute(stmt):
            acc = sums[key].setdefault(int(gnum), [Decimal(0), 0, 0, 0, 0])
            acc[0] = Decimal(acc[0]) + Decimal(qty)
            for i, v in enumerate((dutiable, duty, vat, ct), start=1):
                acc[i] = int(acc[i]) + int(v)
    return {
        key: {
            gnum: ReturnedLine(gnum, Decimal(a[0]), int(a[1]), int(a[2]), int(a[3]), int(a[4]))
            for gnum, a in lines.items()
        }
        for key, lines in sums.items()
    }
