"""Exports in the console: the monthly summary declarations (汇总申报) and the export lists (出口清单).

* ``/console/summaries`` — months with their due dates, applications (first and supplementary) with late
  flags; ``/console/summaries/{sumNo}`` — its declarations; ``?decl=N`` adds that declaration's lines and
  ``&gseqno=M`` the list lines a line took, each linked to the parcel's history;
* ``/console/exports`` — the reader's export lists by status (2/120/399/800/899/100, refusals with their
  reason), arrivals and departures, and pre-refunded 9810 lines with their true-up.

Who sees what is the API's rule (:func:`cbec.store.summaries.scope_of`): consignors and agents their own
codes (and those granted to them), officers their district, administrators everything.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from cbec.engine.summary import SummaryError, is_late, period_due
from cbec.service.console.render import page
from cbec.service.console.session import ConsoleError, context, current_user
from cbec.service.routes.summaries import application_json, declaration_json, line_json, mapped_json
from cbec.store import export_views
from cbec.store import summaries as repo
from cbec.store.summaries import from_e5

router = APIRouter()
SumNo = Annotated[str, Path(max_length=18, pattern=r"^[0-9A-Za-z]+$")]
Period = Annotated[str | None, Query(pattern=r"^[12][0-9]{3}-(0[1-9]|1[0-2])$")]


def _scope(request: Request) -> tuple[Any, repo.SummaryScope, Any]:
    user = current_user(request)
    ctx = context(request)
    scope = repo.scope_of(user, ctx.clock())
    if not (scope.everything or scope.codes or scope.district):
        raise ConsoleError(
            403,
            "只有电商企业、申报企业、关员和管理员可查看出口与汇总申报",
            "only enterprises, declaring agents, officers and administrators see exports and summaries",
        )
    return user, scope, ctx


@router.get("/console/summaries", response_class=HTMLResponse, include_in_schema=False)
def summaries(request: Request, period: Period = None) -> HTMLResponse:
    user, scope, ctx = _scope(request)
    now = ctx.clock()
    with ctx.engine.connect() as conn:
        periods = repo.periods(conn, scope)
        chosen = period or (periods[0]["period"] if periods else None)
        apps = repo.applications(conn, scope, period=chosen) if chosen else []
    months = [{**p, "due": _due(p["period"])} for p in periods]
    due = None
    if chosen:
        try:
            due = period_due(chosen, ctx.params)
        except SummaryError:
            due = None  # no summary rule in force for that month
    return page(
        request,
        "summaries.html",
        user,
        periods=months,
        period=chosen,
        due=due,
        apps=[application_json(a, now) for a in apps],
    )


def _due(period: str) -> str | None:
    try:
        return period_due(period).due.isoformat()
    except SummaryError:
        return None


@router.get("/console/summaries/{sum_no}", response_class=HTMLResponse, include_in_schema=False)
def summary(
    request: Request,
    sum_no: SumNo,
    decl: Annotated[int | None, Query(ge=1, le=99999)] = None,
    gseqno: Annotated[int | None, Query(ge=1, le=99999)] = None,
) -> HTMLResponse:
    user, scope, ctx = _scope(request)
    now = ctx.clock()
    with ctx.engine.connect() as conn:
        app = repo.application(conn, sum_no)
        if app is None or not scope.covers(app["ebc_code"], app["agent_code"], app["customs_code"]):
            raise ConsoleError(404, f"没有汇总申请{sum_no}", f"no summary application {sum_no}")
        decls = repo.declarations(conn, [app["id"]])
        chosen = next((d for d in decls if d["decl_no"] == decl), None)
        lines = repo.declaration_lines(conn, [chosen["id"]]) if chosen else []
        line = next((x for x in lines if x["gseqno"] == gseqno), None)
        taken = repo.mapped_lines(conn, [chosen["id"]], gseqno) if chosen and line else []
    return page(
        request,
        "summary.html",
        user,
        app=application_json(app, now),
        decls=[declaration_json(d) for d in decls],
        chosen=declaration_json(chosen) if chosen else None,
        lines=[line_json(x) for x in lines],
        line=line_json(line) if line else None,
        taken=[mapped_json(m) for m in taken],
    )


@router.get("/console/exports", response_class=HTMLResponse, include_in_schema=False)
def exports(request: Request, status: Annotated[int | None, Query(ge=0, le=999)] = None) -> HTMLResponse:
    user, scope, ctx = _scope(request)
    with ctx.engine.connect() as conn:
        counts = export_views.status_counts(conn, scope)
        rows = export_views.lists(conn, scope, status=status)
        moves = export_views.movements(conn, scope)
        refunds = export_views.refund_lines(conn, scope)
    for r in refunds:
        r["qty"] = from_e5(r["qty_e5"])
        r["sold"] = from_e5(int(r["sold_e5"]))
        r["returned"] = from_e5(int(r["returned_e5"]))
        r["open"] = from_e5(int(r["open_e5"]))
    return page(
        request,
        "exports.html",
        user,
        counts=counts,
        chosen_status=status,
        rows=rows,
        moves=moves,
        refunds=refunds,
        statuses=export_views.EXPORT_STATUSES,
        is_late=is_late,
    )
