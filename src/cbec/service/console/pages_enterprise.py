"""An enterprise's pages: receipts addressed to its codes, refusals by code and reason, tax bills, the
messages it sent, and the buyer quota look-up (also open to officers and administrators).

Everything is read from the receipts addressed to the enterprise — what customs actually told it — over
its newest receipts (bounded: the store may hold millions), on the (recipient, id) index.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from cbec.engine.buyer_key import buyer_key
from cbec.privacy import mask_field
from cbec.rules import resident_id
from cbec.rules.lifecycle import CHINA
from cbec.service.console.receipts_view import CACHE, Entry
from cbec.service.console.render import page
from cbec.service.console.session import (
    QUOTA_ROLES,
    ConsoleError,
    check_origin,
    context,
    current_user,
    require_enterprise,
)
from cbec.store import console_queries as q
from cbec.store import quota as quota_repo
from cbec.store import tax as tax_repo

router = APIRouter()
PAGE = 50
WINDOW = 500  # receipts read for the refusal and tax summaries


@router.get("/console/receipts", response_class=HTMLResponse, include_in_schema=False)
def receipts(request: Request, before: Annotated[int | None, Query(ge=1)] = None) -> HTMLResponse:
    user = current_user(request)
    require_enterprise(user)
    with context(request).engine.connect() as conn:
        heads = q.recent_receipts(conn, sorted(user.codes), limit=PAGE, before=before)
        rows = [(h, CACHE.get(h.id, xml)) for h, xml in _with_xml(conn, heads)]
    return page(request, "receipts.html", user, rows=rows, older=heads[-1].id if len(heads) == PAGE else None)


def _with_xml(conn: Any, heads: list[q.ReceiptHead]) -> list[tuple[q.ReceiptHead, bytes]]:
    out = []
    for h in heads:
        found = q.receipt_xml(conn, h.id)
        if found is not None:
            out.append(found)
    return out


@router.get("/console/receipts/{receipt_id}", response_class=HTMLResponse, include_in_schema=False)
def receipt_page(request: Request, receipt_id: int) -> HTMLResponse:
    user = current_user(request)
    require_enterprise(user)
    with context(request).engine.connect() as conn:
        found = q.receipt_xml(conn, receipt_id)
    if found is None or found[0].recipient not in user.codes:  # someone else's: not found, not forbidden
        raise ConsoleError(404, "没有这份回执", "no such receipt")
    head, xml = found
    return page(request, "receipt.html", user, head=head, entries=CACHE.get(head.id, xml))


@router.get("/console/rejections", response_class=HTMLResponse, include_in_schema=False)
def rejections(request: Request) -> HTMLResponse:
    user = current_user(request)
    require_enterprise(user)
    with context(request).engine.connect() as conn:
        heads = q.recent_receipts(conn, sorted(user.codes), limit=WINDOW)
        pairs = _with_xml(conn, heads)
    refused: list[tuple[q.ReceiptHead, Entry]] = [
        (h, e) for h, xml in pairs for e in CACHE.get(h.id, xml) if e.refused
    ]
    by_code = Counter((h.message_type, e.code or e.status) for h, e in refused)
    example = {(h.message_type, e.code or e.status): e.info for h, e in reversed(refused)}
    groups = [(mt, code, n, example[(mt, code)]) for (mt, code), n in by_code.most_common()]
    return page(request, "rejections.html", user, groups=groups, latest=refused[:PAGE], window=WINDOW)


@router.get("/console/tax", response_class=HTMLResponse, include_in_schema=False)
def tax_bills(request: Request) -> HTMLResponse:
    user = current_user(request)
    require_enterprise(user)
    with context(request).engine.connect() as conn:
        heads = q.recent_receipts(
            conn, sorted(user.codes), limit=PAGE, message_types=["CEB816Message"], window=WINDOW
        )
        tax_nos = [
            e.handle if e.handle_field == "taxNo" else dict(e.fields).get("taxNo", "")
            for h, xml in _with_xml(conn, heads)
            for e in CACHE.get(h.id, xml)
        ]
        tax_nos = [t for t in dict.fromkeys(tax_nos) if t]
        bills = tax_repo.by_tax_nos(conn, tax_nos)
        due = tax_repo.net_due(conn, tax_nos)
    rows = [(bills[t], due.get(t)) for t in tax_nos if t in bills]
    return page(request, "tax.html", user, rows=rows, window=WINDOW)


@router.get("/console/documents", response_class=HTMLResponse, include_in_schema=False)
def documents(request: Request) -> HTMLResponse:
    user = current_user(request)
    require_enterprise(user)
    window = 20000
    with context(request).engine.connect() as conn:
        messages = q.recent_messages(conn, sorted(user.codes), limit=PAGE, window=window)
    return page(request, "documents.html", user, messages=messages, window=window)


def _quota_page(
    request: Request, result: dict[str, Any] | None, problem: tuple[str, str] | None
) -> HTMLResponse:
    user = current_user(request)
    if not user.roles & QUOTA_ROLES:
        raise ConsoleError(
            403,
            "仅电商平台、电商企业及海关可查询个人额度",
            "only platforms, e-commerce enterprises and customs may look up a buyer's quota",
        )
    return page(request, "quota.html", user, result=result, problem=problem, status=422 if problem else 200)


@router.get("/console/quota", response_class=HTMLResponse, include_in_schema=False)
def quota_form(request: Request) -> HTMLResponse:
    return _quota_page(request, None, None)


@router.post("/console/quota", response_class=HTMLResponse, include_in_schema=False)
def quota_lookup(request: Request, buyer_id: Annotated[str, Form(max_length=32)] = "") -> HTMLResponse:
    """POST, not GET: the ID number must not end up in an address bar, a history or an access log."""
    check_origin(request)
    current_user(request)
    number = buyer_id.strip().upper()
    if not resident_id.is_valid(number):
        return _quota_page(request, None, ("身份证号码校验不通过", "the ID number fails its check digit"))
    ctx = context(request)
    today = ctx.clock().astimezone(CHINA).date()
    key = buyer_key(number, ctx.buyer_secret)
    with ctx.engine.connect() as conn:
        used_fen = quota_repo.used(conn, [key], today.year)[key]
    limit_fen = int(ctx.params.decimal_at("import.retail.annual_limit", today) * 100)
    result = {
        "year": today.year,
        "used": used_fen / 100,
        "limit": limit_fen / 100,
        "remaining": max(limit_fen - used_fen, 0) / 100,
        "masked": mask_field("buyerIdNumber", number),
    }
    return _quota_page(request, result, None)
