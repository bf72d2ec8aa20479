"""Document search (单证查询) and parcel history, for everyone logged in, limited to what they may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cbec.privacy import UnmaskRefused
from cbec.service.console.history_view import HistoryView, history_for
from cbec.service.console.render import page
from cbec.service.console.session import ConsoleError, actor, context, current_user
from cbec.service.history import Handles
from cbec.store import pii_audit

router = APIRouter()
FIELDS = ("invtNo", "orderNo", "logisticsNo", "guid")
Text = Annotated[str | None, Query(max_length=64)]


def handles(by: str, value: str, code: str | None) -> Handles:
    value, code = value.strip(), (code or "").strip() or None
    if by == "orderNo":
        return Handles(order_no=value, ebp_code=code)
    if by == "logisticsNo":
        return Handles(logistics_no=value, logistics_code=code)
    if by == "guid":
        return Handles(guid=value)
    return Handles(invt_no=value)


@router.get("/console/search", response_class=HTMLResponse, include_in_schema=False)
def search(
    request: Request,
    by: Annotated[str, Query(max_length=16)] = "invtNo",
    q: Text = None,
    code: Text = None,
    unmask: bool = False,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    user = current_user(request)
    if by not in FIELDS:
        raise ConsoleError(422, f"不支持按 {by} 查询", f"cannot search by {by}")
    view: HistoryView | None = None
    if q and q.strip():
        ctx = context(request)
        with ctx.engine.connect() as conn:
            try:
                view = history_for(
                    conn,
                    user,
                    handles(by, q, code),
                    at=ctx.clock(),
                    actor=actor(user),
                    unmask=unmask,
                    purpose=purpose,
                )
            except UnmaskRefused as exc:
                raise ConsoleError(403, exc.zh, exc.en) from None
        if view.audits:
            with ctx.engine.begin() as conn:
                pii_audit.record(conn, view.audits)
    return page(request, "search.html", user, by=by, q=q or "", code=code or "", fields=FIELDS, view=view)
