"""Read-only views of exports for the console's export page: lists by status with the reason of the latest
decision, arrivals and departures, and pre-refunded 9810 lines with their true-up.

The reader's scope is the summaries' (:class:`cbec.store.summaries.SummaryScope`): own or granted codes as
platform, consignor or declaring agent of the list, the officer's district by the list's customs code, or
everything for administrators.  Movements and refund lines are shown through their list, so the same rule
covers them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, false, func, or_, select, true

from cbec.store.schema import (
    decision,
    export_list,
    export_movement,
    export_refund_line,
    export_true_up,
    summary_application,
    summary_list_line,
)
from cbec.store.summaries import SummaryScope

__all__ = ["EXPORT_STATUSES", "lists", "movements", "refund_lines", "status_counts"]

#: The statuses an export list goes through (2 → 120 → 399 → 800 → 899) or ends in (100 refused/cancelled).
EXPORT_STATUSES = (2, 120, 399, 800, 899, 100)


def _where(scope: SummaryScope) -> ColumnElement[bool]:
    if scope.everything:
        return true()
    tests: list[ColumnElement[bool]] = []
    if scope.codes:
        codes = sorted(scope.codes)
        tests += [
            export_list.c.ebc_code.in_(codes),
            export_list.c.agent_code.in_(codes),
            export_list.c.ebp_code.in_(codes),
        ]
    if scope.district:
        d = scope.district
        tests.append(
            export_list.c.customs_code.like(f"{d[:2]}%")
            if d.endswith("00")
            else export_list.c.customs_code == d
        )
    return or_(*tests) if tests else false()


def status_counts(conn: Connection, scope: SummaryScope) -> dict[int, int]:
    rows = conn.execute(
        select(export_list.c.status, func.count()).where(_where(scope)).group_by(export_list.c.status)
    ).all()
    found = {int(s): int(n) for s, n in rows}
    return {s: found.get(s, 0) for s in EXPORT_STATUSES} | found


def lists(
    conn: Connection, scope: SummaryScope, *, status: int | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Lists newest first; refused ones (100) with the code and reason of their latest decision, cleared ones
    (899) with the summary application that took them (``sum_no``, None while not summarised)."""
    stmt = select(export_list).where(_where(scope))
    if status is not None:
        stmt = stmt.where(export_list.c.status == status)
    rows = [
        dict(r._mapping)
        for r in conn.execute(
            stmt.order_by(export_list.c.declared_at.desc(), export_list.c.id.desc()).limit(limit)
        )
    ]
    keys = [r["list_key"] for r in rows]
    latest: dict[str, dict[str, Any]] = {}
    if keys:
        for d in conn.execute(
            select(
                decision.c.list_key,
                decision.c.status,
                decision.c.code,
                decision.c.reason_zh,
                decision.c.reason_en,
            )
            .where(decision.c.list_key.in_(keys))
            .order_by(decision.c.id)
        ):
            latest[d.list_key] = dict(d._mapping)
    taken: dict[str, str] = {}
    invts = [r["invt_no"] for r in rows if r["status"] == 899]
    if invts:
        taken = dict(
            conn.execute(
                select(summary_list_line.c.invt_no, summary_application.c.sum_no)
                .distinct()
                .join(summary_application, summary_application.c.id == summary_list_line.c.application_id)
                .where(summary_list_line.c.invt_no.in_(invts))
            ).all()
        )
    for r in rows:
        r["sum_no"] = taken.get(r["invt_no"])
        why = latest.get(r["list_key"])
        r["reason"] = why if why is not None and r["status"] == 100 else None
    return rows


def movements(conn: Connection, scope: SummaryScope, *, limit: int = 200) -> list[dict[str, Any]]:
    """Arrivals (运抵) and departures (离境) of the reader's parcels, newest first."""
    stmt = (
        select(
            export_movement.c.kind,
            export_movement.c.doc_guid,
            export_movement.c.customs_code,
            export_movement.c.bill_no,
            export_movement.c.at,
            export_list.c.invt_no,
            export_list.c.status,
        )
        .join(export_list, export_list.c.list_key == export_movement.c.list_key)
        .where(_where(scope))
        .order_by(export_movement.c.at.desc(), export_movement.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]


def refund_lines(conn: Connection, scope: SummaryScope, *, limit: int = 200) -> list[dict[str, Any]]:
    """Pre-refunded 9810 lines (离境即退税) with what was sold and returned so far and the refund kept."""
    sold = func.coalesce(func.sum(export_true_up.c.qty_e5).filter(export_true_up.c.kind == "sold"), 0)
    returned = func.coalesce(func.sum(export_true_up.c.qty_e5).filter(export_true_up.c.kind == "returned"), 0)
    trued = (
        select(
            export_true_up.c.list_key,
            export_true_up.c.gnum,
            sold.label("sold_e5"),
            returned.label("returned_e5"),
            func.coalesce(func.sum(export_true_up.c.repay_fen), 0).label("repaid_fen"),
            func.count().label("reports"),
        )
        .group_by(export_true_up.c.list_key, export_true_up.c.gnum)
        .subquery()
    )
    stmt = (
        select(
            export_refund_line,
            export_list.c.ebc_code,
            func.coalesce(trued.c.sold_e5, 0).label("sold_e5"),
            func.coalesce(trued.c.returned_e5, 0).label("returned_e5"),
            func.coalesce(trued.c.repaid_fen, 0).label("repaid_fen"),
            func.coalesce(trued.c.reports, 0).label("reports"),
        )
        .join(export_list, export_list.c.list_key == export_refund_line.c.list_key)
        .join(
            trued,
            (trued.c.list_key == export_refund_line.c.list_key) & (trued.c.gnum == export_refund_line.c.gnum),
            isouter=True,
        )
        .where(_where(scope))
        .order_by(export_refund_line.c.invt_no, export_refund_line.c.gnum)
        .limit(limit)
    )
    out = []
    for r in conn.execute(stmt):
        row = dict(r._mapping)
        open_e5 = int(row["qty_e5"]) - int(row["sold_e5"]) - int(row["returned_e5"])
        row["open_e5"] = open_e5
        row["kept_fen"] = (row["provisional_fen"] or 0) - int(row["repaid_fen"])
        if row["status"] != "provisional":
            row["state"] = "flagged"
        elif open_e5 == 0:
            row["state"] = "settled"
        elif row["reports"]:
            row["state"] = "partly"
        else:
            row["state"] = "open"
        out.append(row)
    return out
