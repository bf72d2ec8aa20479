"""Bonded ledgers (保税账册) in the console: one page per warehouse ledger — stock per item, recent movements,
held lists with their reasons, and the last reconciliation.

The same access rule as the API (:func:`cbec.service.routes.ledgers.access`): a zone warehousing enterprise
sees its own ledgers, an officer those kept in their district, an administrator all; anyone else gets the
console's 403 page with the reason in 中文 and English.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from cbec.engine import ledger as E
from cbec.service.console.render import page
from cbec.service.console.session import ConsoleError, context, current_user
from cbec.service.deps import ApiError
from cbec.service.routes.ledgers import access, visible

router = APIRouter()
EmsNo = Annotated[str, Path(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9\-]+$")]


@router.get("/console/ledgers", response_class=HTMLResponse, include_in_schema=False)
def ledgers(request: Request) -> HTMLResponse:
    user = current_user(request)
    ctx = context(request)
    with ctx.engine.connect() as conn:
        try:
            found = visible(conn, user)
        except ApiError as e:
            raise ConsoleError(e.status, e.zh, e.en) from None
        views = [E.ledger_view(conn, lg.ems_no, movements=0) for lg in found]
    return page(request, "ledgers.html", user, views=views)


@router.get("/console/ledgers/{ems_no}", response_class=HTMLResponse, include_in_schema=False)
def ledger(request: Request, ems_no: EmsNo) -> HTMLResponse:
    user = current_user(request)
    ctx = context(request)
    with ctx.engine.connect() as conn:
        try:
            access(conn, user, ems_no, write=False, officer_write=False)
        except ApiError as e:
            raise ConsoleError(e.status, e.zh, e.en) from None
        view = E.ledger_view(conn, ems_no, movements=200)
    open_holds = [h for h in view["holds"] if h["releasedAt"] is None]
    released = [h for h in view["holds"] if h["releasedAt"] is not None]
    return page(
        request, "ledger.html", user, view=view, open_holds=open_holds, released=released, kinds=E.KIND_NAMES
    )
