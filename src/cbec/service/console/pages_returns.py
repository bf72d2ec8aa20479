"""Returns in the console (``/console/returns``): import returns and export returns side by side.

* import returns (CEB625 → 626): the answer with its code and reason, the lines that came back, the quota and
  tax given back, and the goods-back state against the 45-day deadline (back, late, overdue, waiting);
* export returns (CEB213 → 214): the answer with its reason, the lines with their tax outcome, the tallies of
  the parcel (CEB215 → 216) at the receiving site, the cross-district flag with both districts, and the
  consolidated master bill (退货合包) the parcel came under, with the bills' tally progress.

Filters: ``istatus`` (399/100), ``goods`` (back/late/overdue/waiting), ``estatus`` (120/800/100), ``cross``
(1/0), ``bill`` (a master bill's parcels).  Every list number links to the parcel's history (the search
page).  Who sees what is the returns API's rule (:mod:`cbec.store.return_views`): enterprises their own,
officers their district, administrators everything.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cbec.rules.lifecycle import customs_date
from cbec.service.console.render import page
from cbec.service.console.session import ConsoleError, context, current_user
from cbec.store import return_views as views
from cbec.store import summaries

router = APIRouter()


@router.get("/console/returns", response_class=HTMLResponse, include_in_schema=False)
def returns(
    request: Request,
    istatus: Annotated[int | None, Query(ge=0, le=999)] = None,
    goods: Annotated[Literal["back", "late", "overdue", "waiting"] | None, Query()] = None,
    estatus: Annotated[int | None, Query(ge=0, le=999)] = None,
    cross: Annotated[Literal["0", "1"] | None, Query()] = None,
    bill: Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z-]+$")] = None,
) -> HTMLResponse:
    user = current_user(request)
    ctx = context(request)
    now = ctx.clock()
    scope = summaries.scope_of(user, now)
    if not (scope.everything or scope.codes or scope.district):
        raise ConsoleError(
            403,
            "只有企业、关员和管理员可查看退货",
            "only enterprises, officers and administrators see returns",
        )
    today = customs_date(now)
    with ctx.engine.connect() as conn:
        icounts = views.import_counts(conn, scope)
        imports = views.import_returns(
            conn,
            scope,
            ctx.params,
            as_of=today,
            status=istatus,
            overdue_only=goods in ("late", "overdue"),
        )
        ecounts = views.export_counts(conn, scope)
        exports = views.export_returns(
            conn,
            scope,
            status=estatus,
            cross=None if cross is None else cross == "1",
            bill_no=bill,
        )
        bills = views.master_bills(conn, scope)
    if goods is not None:
        imports = [a for a in imports if a["goods"] == goods]
    return page(
        request,
        "returns.html",
        user,
        today=today,
        icounts=icounts,
        imports=[_import_row(a) for a in imports],
        ecounts=ecounts,
        exports=exports,
        bills=bills,
        istatus=istatus,
        goods=goods,
        estatus=estatus,
        cross=cross,
        bill=bill,
        istatuses=views.IMPORT_RETURN_STATUSES,
        estatuses=views.EXPORT_RETURN_STATUSES,
    )


def _import_row(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "quota_yuan": -int(a["quota_fen"]) / 100, "tax_yuan": -int(a["tax_fen"]) / 100}
