"""Warehouse-entry details (入库明细单, CEB711) in the console: the list with status, site, time, lines and
lines whose waybill was not declared, filtered like the API; and one entry with its lines and CEB712 returns.

The same rule and the same reads as the API (:mod:`cbec.service.routes.warehouse_entries`): a site its own
entries, an officer those declared in their district, an administrator all; anyone else gets the console's
403 page with the reason in 中文 and English.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from cbec.rules.lifecycle import CHINA
from cbec.service.console.render import page
from cbec.service.console.session import ConsoleError, context, current_user
from cbec.service.deps import MAX_ID, ApiError
from cbec.service.routes import warehouse_entries as api
from cbec.store import warehouse_entries as repo

router = APIRouter()
PAGE = 50
Guid = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
Field = Annotated[str | None, Query(max_length=64)]


def beijing(at: datetime | str) -> str:
    """A stored instant as Beijing wall time, to the second (what a site and an officer read)."""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def return_moment(raw: str | None, fallback: str) -> str:
    """A CEB712 ``returnTime`` (YYYYMMDDhhmmss[SSS], written in UTC: :func:`cbec.engine.lists.naive_utc`) in
    Beijing time; the receipt's ``createdAt`` when it cannot be read."""
    try:
        moment = datetime.strptime((raw or "")[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return beijing(fallback)
    return beijing(moment)


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConsoleError(
            422, f"{name}日期格式应为 YYYY-MM-DD：{value}", f"{name} must be a day, YYYY-MM-DD: {value}"
        ) from None


def _status(value: str | None) -> int | None:
    if not value:
        return None
    if value not in ("100", "399"):
        raise ConsoleError(422, f"状态应为100或399：{value}", f"status must be 100 or 399: {value}")
    return int(value)


def _text(value: str | None) -> str | None:
    """A typed code or number: trimmed, empty as none, no control characters (they never reach SQL)."""
    cleaned = (value or "").strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in cleaned):
        raise ConsoleError(422, "查询条件含控制字符", "a search field holds a control character")
    return cleaned or None


@router.get("/console/warehouse-entries", response_class=HTMLResponse, include_in_schema=False)
def entries(
    request: Request,
    status: Field = None,
    since: Field = None,
    until: Field = None,
    waybill: Field = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    user = current_user(request)
    ctx = context(request)
    chosen = {
        "status": status or "",
        "since": since or "",
        "until": until or "",
        "waybill": (waybill or "").strip(),
    }
    try:
        scope = api.scope_of(user, ctx.clock())
        filters = api.entry_filter(
            status=_status(status),
            since=_day("since", since),
            until=_day("until", until),
            logistics_no=_text(waybill),
            operator_code=None,
            cop_no=None,
        )
    except ApiError as e:
        raise ConsoleError(e.status, e.zh, e.en) from None
    with ctx.engine.connect() as conn:
        rows = repo.list_entries(conn, scope, filters, before=before, limit=PAGE)
    older = None
    if len(rows) == PAGE:
        older = "?" + urlencode({**{k: v for k, v in chosen.items() if v}, "before": rows[-1].id})
    return page(
        request,
        "warehouse_entries.html",
        user,
        rows=[{**api.entry_json(r), "at": beijing(r.received_at)} for r in rows],
        chosen=chosen,
        older=older,
        scope_word="all" if scope.everything else "district" if scope.district else "codes",
    )


@router.get("/console/warehouse-entries/{guid}", response_class=HTMLResponse, include_in_schema=False)
def entry(request: Request, guid: Guid) -> HTMLResponse:
    user = current_user(request)
    ctx = context(request)
    with ctx.engine.connect() as conn:
        try:
            row = api.readable(conn, user, guid, ctx.clock())
        except ApiError as e:
            raise ConsoleError(e.status, e.zh, e.en) from None
        view: dict[str, Any] = api.entry_detail(conn, row)
    view["at"] = beijing(row.received_at)
    for r in view["receipts"]:
        r["at"] = return_moment(r["returnTime"], r["createdAt"])
    return page(request, "warehouse_entry.html", user, e=view, addressed_to_me=user.owns(row.sender or ""))
