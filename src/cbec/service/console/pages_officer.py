"""Officers' work (关员作业): the manual-review (人工审核, 300) and inspection (查验, 500) queues of their
district, and a case: why the list was selected, its parcel history, and the result to record.

A result goes through :func:`cbec.engine.review.record_result` in one transaction — the list's move, the
decision log, the officer's result, quota and tax given back where due, and the CEB622 receipts — exactly
as ``cbec review`` / ``cbec inspect`` do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cbec.engine.review import record_result
from cbec.privacy import UnmaskRefused
from cbec.rules.lifecycle import OFFICER_TRANSITIONS, LifecycleError, Transition
from cbec.service.console.history_view import HistoryView, history_for
from cbec.service.console.render import page
from cbec.service.console.session import (
    ConsoleError,
    actor,
    check_origin,
    context,
    current_user,
    require_officer,
)
from cbec.service.history import Handles
from cbec.store import console_queries as q
from cbec.store import pii_audit

router = APIRouter()
QUEUES = {"review": q.REVIEW_STATUSES, "inspection": q.INSPECTION_STATUSES}
Text = Annotated[str, Form(max_length=500)]


@router.get("/console/queue/{which}", response_class=HTMLResponse, include_in_schema=False)
def work_queue(
    request: Request, which: str, before: Annotated[int | None, Query(ge=1)] = None
) -> HTMLResponse:
    user = current_user(request)
    require_officer(user)
    statuses = QUEUES.get(which)
    if statuses is None:
        raise ConsoleError(404, f"没有名为 {which} 的工作队列", f"no work queue named {which}")
    if not user.district:
        raise ConsoleError(403, "您的账户没有关区", "your account has no customs district")
    with context(request).engine.connect() as conn:
        cases = q.queue(conn, statuses, district=user.district, limit=50, before=before)
    return page(
        request,
        "queue.html",
        user,
        which=which,
        cases=cases,
        older=cases[-1].decision_id if len(cases) == 50 else None,
    )


def results_for(status: int | None) -> list[Transition]:
    if status is None:
        return []
    return [t for t in OFFICER_TRANSITIONS.values() if status in t.from_statuses]


def _load_case(
    request: Request, invt_no: str, *, unmask: bool = False, purpose: str | None = None
) -> HistoryView:
    user = current_user(request)
    require_officer(user)
    ctx = context(request)
    with ctx.engine.connect() as conn:
        try:
            view = history_for(
                conn,
                user,
                Handles(invt_no=invt_no),
                at=ctx.clock(),
                actor=actor(user),
                unmask=unmask,
                purpose=purpose,
            )
        except UnmaskRefused as exc:
            raise ConsoleError(403, exc.zh, exc.en) from None
    if view.list_document() is None:
        if view.refusal is not None:
            raise ConsoleError(403, view.refusal.reason_zh, view.refusal.reason_en)
        raise ConsoleError(404, f"系统中不存在清单编号为{invt_no}的清单", f"no list numbered {invt_no}")
    if view.audits:  # audited before the page leaves
        with ctx.engine.begin() as conn:
            pii_audit.record(conn, view.audits)
    return view


def _case_page(
    request: Request,
    invt_no: str,
    view: HistoryView,
    *,
    status: int = 200,
    problem: tuple[str, str] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    doc = view.list_document()
    current = int(doc["status"]) if doc else None
    held = [d for d in view.decisions if d["status"] in (300, 500)]
    return page(
        request,
        "case.html",
        current_user(request),
        status=status,
        invt_no=invt_no,
        view=view,
        current=current,
        selection=held[0] if held else None,
        results=results_for(current),
        problem=problem,
        done=done,
    )


@router.get("/console/case/{invt_no}", response_class=HTMLResponse, include_in_schema=False)
def case(
    request: Request,
    invt_no: str,
    unmask: bool = False,
    purpose: Annotated[str | None, Query(max_length=200)] = None,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    view = _load_case(request, invt_no, unmask=unmask, purpose=purpose)
    return _case_page(request, invt_no, view, done=done)


@router.post("/console/case/{invt_no}", include_in_schema=False)
def decide(
    request: Request,
    invt_no: str,
    result: Annotated[str, Form(max_length=40)],
    reason_zh: Text = "",
    reason_en: Text = "",
) -> Response:
    check_origin(request)
    view = _load_case(request, invt_no)  # the officer may read it (district), and it exists
    doc = view.list_document()
    current = int(doc["status"]) if doc else None
    kind = "review" if current == 300 else "inspection"
    user = current_user(request)
    ctx = context(request)
    try:
        with ctx.engine.begin() as conn:
            record_result(
                conn,
                kind=kind,
                result=result,
                officer=actor(user),
                at=ctx.clock(),
                invt_no=invt_no,
                reason_zh=reason_zh or None,
                reason_en=reason_en or None,
            )
    except LifecycleError as exc:
        return _case_page(request, invt_no, view, status=409, problem=(exc.zh, exc.en))
    return RedirectResponse(f"/console/case/{invt_no}?done={result}", status_code=303)
