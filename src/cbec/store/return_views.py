"""Read-only views of returns for the console's returns page and the returns API: import returns (CEB625 →
626) with their lines, quota and tax given back and goods-back state; export returns (CEB213 → 214) with
their lines, tallies (CEB215 → 216), cross-district flag and consolidated master bill.

The reader's scope is the summaries' (:class:`cbec.store.summaries.SummaryScope`), applied to each kind of
return the way the documents' read rule would: an import return by its sender, the platform of its list
(list keys start with the ``ebpCode``) or, for officers, the district of its list number (import list numbers
start with the customs code); an export return by its consignor, agent or sender, the operator of a site
that tallied it, or, for officers, the district of re-entry or of the original export (both districts are
concerned: the goods left through one and come back through the other).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, false, func, or_, select, true

from cbec.params.dated import ParameterSet
from cbec.rules.lifecycle import goods_back_deadline
from cbec.store._common import chunks
from cbec.store.console_queries import district_prefix
from cbec.store.schema import (
    application,
    decision,
    document,
    export_return,
    export_return_bill_line,
    export_return_line,
    export_return_site,
    export_return_tally,
    import_return_goods_back,
    inbox,
    return_line,
)
from cbec.store.summaries import SummaryScope

__all__ = [
    "EXPORT_RETURN_STATUSES",
    "IMPORT_RETURN_STATUSES",
    "export_counts",
    "export_returns",
    "import_counts",
    "import_returns",
    "master_bills",
    "sites_in_scope",
]

#: CEB626 statuses of an import return: accepted (399) or refused (100)
IMPORT_RETURN_STATUSES = (399, 100)
#: CEB214 statuses of an export return: accepted, waiting for the tally (120), released (800), refused (100)
EXPORT_RETURN_STATUSES = (120, 800, 100)
_E5 = Decimal(100_000)


def _in_district(column: Any, district: str) -> ColumnElement[bool]:
    """A 4-digit customs code (or a number starting with one) in the officer's district."""
    prefix = district_prefix(district)
    return func.substr(column, 1, len(prefix)) == prefix


def _import_where(scope: SummaryScope) -> ColumnElement[bool]:
    base = application.c.kind == "return"
    if scope.everything:
        return base
    tests: list[ColumnElement[bool]] = []
    if scope.codes:
        codes = sorted(scope.codes)
        tests.append(application.c.sender.in_(codes))
        tests += [and_(application.c.list_key >= f"{c}|", application.c.list_key < f"{c}}}") for c in codes]
        list_sender = (
            select(inbox.c.sender)
            .select_from(document.join(inbox, inbox.c.id == document.c.inbox_id))
            .where(document.c.kind == "list", document.c.business_key == application.c.list_key)
            .scalar_subquery()
        )
        tests.append(list_sender.in_(codes))
    if scope.district:
        tests.append(_in_district(application.c.invt_no, scope.district))
    return and_(base, or_(*tests) if tests else false())


def _export_where(scope: SummaryScope) -> ColumnElement[bool]:
    if scope.everything:
        return true()
    tests: list[ColumnElement[bool]] = []
    if scope.codes:
        codes = sorted(scope.codes)
        tests += [
            export_return.c.ebc_code.in_(codes),
            export_return.c.agent_code.in_(codes),
            export_return.c.sender.in_(codes),
            exists().where(
                export_return_tally.c.waybill_key == export_return.c.waybill_key,
                export_return_tally.c.operator_code.in_(codes),
            ),
        ]
    if scope.district:
        tests += [
            _in_district(export_return.c.customs_code, scope.district),
            _in_district(export_return.c.export_customs, scope.district),
        ]
    return or_(*tests) if tests else false()


def _aware(at: datetime | str | None) -> datetime | None:
    if at is None:
        return None
    if isinstance(at, str):  # max() over a timestamp comes back as text on SQLite
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def import_counts(conn: Connection, scope: SummaryScope) -> dict[int, int]:
    rows = conn.execute(
        select(application.c.status, func.count()).where(_import_where(scope)).group_by(application.c.status)
    ).all()
    found = {int(s): int(n) for s, n in rows}
    return {s: found.get(s, 0) for s in IMPORT_RETURN_STATUSES} | found


def import_returns(
    conn: Connection,
    scope: SummaryScope,
    params: ParameterSet,
    *,
    as_of: date,
    status: int | None = None,
    guid: str | None = None,
    overdue_only: bool = False,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Import returns, newest first: the application's answer, the quota and tax given back (fen, ≤ 0), the
    lines that came back, and for accepted ones the goods-back deadline, report and state (``back``,
    ``late``, ``overdue``, ``waiting``)."""
    stmt = select(application).where(_import_where(scope)).order_by(application.c.id.desc())
    if status is not None:
        stmt = stmt.where(application.c.status == status)
    if guid is not None:
        stmt = stmt.where(application.c.guid == guid)
    # the overdue ones are found among every accepted return (the state is computed here, not stored)
    stmt = stmt.where(application.c.status == 399) if overdue_only else stmt.limit(limit)
    apps = [dict(r._mapping) for r in conn.execute(stmt)]
    guids = [a["guid"] for a in apps]
    keys = sorted({a["list_key"] for a in apps if a["list_key"]})
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    back: dict[str, dict[str, Any]] = {}
    released: dict[str, datetime] = {}
    for part in chunks(guids):
        for r in conn.execute(
            select(return_line).where(return_line.c.return_guid.in_(part)).order_by(return_line.c.gnum)
        ):
            lines[r.return_guid].append(
                {
                    "gnum": r.gnum,
                    "qty": r.qty,
                    "dutiable_fen": int(r.dutiable_fen),
                    "tax_fen": int(r.customs_tax_fen) + int(r.vat_fen) + int(r.ct_fen),
                }
            )
        for r in conn.execute(
            select(import_return_goods_back).where(import_return_goods_back.c.return_guid.in_(part))
        ):
            back[r.return_guid] = dict(r._mapping)
    for part in chunks(keys):
        for key, at in conn.execute(
            select(decision.c.list_key, func.max(decision.c.decided_at))
            .where(decision.c.list_key.in_(part), decision.c.status == 800)
            .group_by(decision.c.list_key)
        ):
            aware = _aware(at)
            if aware is not None:
                released[key] = aware
    out = []
    for a in apps:
        a["lines"] = lines.get(a["guid"], [])
        a["released_at"] = released.get(a["list_key"] or "")
        a["deadline"] = None
        a["back_at"] = None
        a["goods"] = None  # refused: nothing to bring back
        if a["status"] == 399:
            report = back.get(a["guid"])
            if report is not None:
                a["deadline"] = report["deadline"]
                a["back_at"] = _aware(report["back_at"])
                a["goods"] = "back" if report["on_time"] else "late"
            elif a["released_at"] is not None:
                a["deadline"] = goods_back_deadline(a["released_at"], params)
                a["goods"] = "overdue" if a["deadline"] < as_of else "waiting"
        if overdue_only and a["goods"] not in ("late", "overdue"):
            continue
        out.append(a)
    return out[:limit]


def export_counts(conn: Connection, scope: SummaryScope) -> dict[int, int]:
    rows = conn.execute(
        select(export_return.c.status, func.count())
        .where(_export_where(scope))
        .group_by(export_return.c.status)
    ).all()
    found = {int(s): int(n) for s, n in rows}
    return {s: found.get(s, 0) for s in EXPORT_RETURN_STATUSES} | found


def export_returns(
    conn: Connection,
    scope: SummaryScope,
    *,
    status: int | None = None,
    cross: bool | None = None,
    bill_no: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Export returns, newest first, each with its lines (quantities, tax outcome), the tallies of its
    parcel and the master bill naming the parcel, if it came consolidated."""
    stmt = select(export_return).where(_export_where(scope)).order_by(export_return.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(export_return.c.status == status)
    if cross is not None:
        stmt = stmt.where(export_return.c.cross_district.is_(cross))
    if bill_no is not None:
        stmt = stmt.where(export_return.c.bill_no == bill_no)
    apps = [dict(r._mapping) for r in conn.execute(stmt)]
    guids = [a["guid"] for a in apps]
    waybills = sorted({a["waybill_key"] for a in apps})
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    tallies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    bills: dict[str, str] = {}
    for part in chunks(guids):
        for r in conn.execute(
            select(export_return_line)
            .where(export_return_line.c.return_guid.in_(part))
            .order_by(export_return_line.c.gnum)
        ):
            line = dict(r._mapping)
            line["qty"] = Decimal(int(r.qty_e5)) / _E5
            line["exported"] = Decimal(int(r.exported_e5)) / _E5
            lines[r.return_guid].append(line)
    for part in chunks(waybills):
        for r in conn.execute(
            select(export_return_tally)
            .where(export_return_tally.c.waybill_key.in_(part))
            .order_by(export_return_tally.c.id)
        ):
            tallies[r.waybill_key].append(dict(r._mapping))
        for key, bno in conn.execute(
            select(export_return_bill_line.c.waybill_key, export_return_bill_line.c.bill_no).where(
                export_return_bill_line.c.waybill_key.in_(part)
            )
        ):
            bills[key] = bno
    for a in apps:
        a["lines"] = lines.get(a["guid"], [])
        a["tallies"] = tallies.get(a["waybill_key"], [])
        a["master_bill"] = bills.get(a["waybill_key"])
        a["tallied"] = any(t["status"] == 399 for t in a["tallies"])
    return apps


def master_bills(conn: Connection, scope: SummaryScope, *, limit: int = 100) -> list[dict[str, Any]]:
    """The consolidated return master bills (退货合包) whose parcels the reader sees: parcels, tallied."""
    visible = select(export_return.c.waybill_key).where(_export_where(scope))
    tallied = (
        select(export_return_tally.c.waybill_key)
        .where(export_return_tally.c.status == 399)
        .group_by(export_return_tally.c.waybill_key)
        .subquery()
    )
    rows = conn.execute(
        select(
            export_return_bill_line.c.bill_no,
            func.count().label("parcels"),
            func.count(tallied.c.waybill_key).label("tallied"),
            func.min(export_return_bill_line.c.at).label("at"),
        )
        .outerjoin(tallied, tallied.c.waybill_key == export_return_bill_line.c.waybill_key)
        .where(export_return_bill_line.c.waybill_key.in_(visible))
        .group_by(export_return_bill_line.c.bill_no)
        .order_by(export_return_bill_line.c.bill_no)
        .limit(limit)
    )
    return [
        {"bill_no": r.bill_no, "parcels": int(r.parcels), "tallied": int(r.tallied), "at": _aware(r.at)}
        for r in rows
    ]


def sites_in_scope(
    conn: Connection, *, everything: bool, district: str | None, operators: frozenset[str]
) -> list[dict[str, Any]]:
    """Filed return sites: all, a district's (officers), or an operator's own."""
    stmt = select(export_return_site).order_by(
        export_return_site.c.customs_code, export_return_site.c.operator_code
    )
    if not everything:
        tests: list[ColumnElement[bool]] = []
        if district:
            tests.append(_in_district(export_return_site.c.customs_code, district))
        if operators:
            tests.append(export_return_site.c.operator_code.in_(sorted(operators)))
        stmt = stmt.where(or_(*tests) if tests else false())
    return [dict(r._mapping) for r in conn.execute(stmt)]
