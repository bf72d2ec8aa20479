"""The gate board (闸口看板) in the console: the day's vehicles at the non-stop gate, every LIFT and STOP with
its reasons, passes by status with their bound lists, and the officers' holds (placed and lifted here).

Rights are the gate API's own (:mod:`cbec.service.gate`): an operator (zone enterprise) sees its passes and
the vehicles of its gates, an officer those of the district, an administrator everything; only officers
(and administrators) see and change holds.  A hold placed or lifted here goes through
:func:`cbec.service.gate.place_hold` / :func:`~cbec.service.gate.lift_hold`, so the next vehicle decided
at the gate sees it — there is no second path to the same table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cbec.rights import Principal, Role
from cbec.rules.gate import REASONS
from cbec.rules.lifecycle import CHINA
from cbec.service import gate as desk
from cbec.service.console.pages_overview import day_bounds
from cbec.service.console.render import page
from cbec.service.console.session import ConsoleError, check_origin, context, current_user
from cbec.store import console_queries as q
from cbec.store import gate as repo
from cbec.store.db import SQLITE_BEGIN
from cbec.store.schema import gate_event

router = APIRouter()
Text = Annotated[str, Form(max_length=500)]
PASS_STATUSES = ("0", "1", "2", "3", "4", "5", "6")
STOP_WORDS: dict[str, tuple[str, str]] = {
    "no-vehicle-id": ("未识别车辆", "vehicle not identified"),
    "no-pass": ("无核放单", "no gate pass"),
    "pass-not-approved": ("核放单未审批", "pass not approved"),
    "pass-used": ("核放单重复使用", "pass used twice"),
    "pass-void": ("核放单已删除或作废", "pass deleted or void"),
    "first-gate-missing": ("未过第一道卡口", "first gate missed"),
    "plate-mismatch": ("车牌不符", "plate differs"),
    "ic-mismatch": ("电子车牌不符", "e-plate differs"),
    "container-mismatch": ("集装箱号不符", "container differs"),
    "overweight": ("超重", "overweight"),
    "underweight": ("重量不足", "underweight"),
    "no-weight": ("无地磅重量", "no weighbridge reading"),
    "bad-stage": ("卡口类型无效", "bad gate stage"),
    "list-unreleased": ("清单未放行", "list not released"),
    "list-inspection": ("清单查验或扣留", "list under inspection"),
    "pass-held": ("核放单布控", "pass held"),
    "vehicle-held": ("车辆布控", "vehicle held"),
    "list-held": ("清单布控", "list held"),
    "inspection-ordered": ("查验指令", "inspection ordered"),
}
DONE = {"placed": ("已布控", "hold placed"), "lifted": ("已撤销布控", "hold lifted")}


def _gate_user(request: Request) -> Principal:
    user = current_user(request)
    try:
        desk.require_gate_role(user)
    except desk.GateRefusal as exc:
        raise ConsoleError(exc.status, exc.zh, exc.en) from None
    return user


def _is_officer(p: Principal) -> bool:
    return bool(p.roles & {Role.OFFICER, Role.ADMIN})


def _board(
    request: Request,
    user: Principal,
    *,
    which: date,
    status: str | None,
    decision: str | None,
    problem: tuple[str, str] | None = None,
    http_status: int = 200,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    ctx = context(request)
    now = ctx.clock()
    scope = desk.scope_of(user, now)
    reporters = [user.name, *user.codes]
    start, end = day_bounds(which)
    officer = _is_officer(user)
    district = None if Role.ADMIN in user.roles else user.district
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        lo, hi = q.id_range(conn, gate_event, gate_event.c.received_at, start, end)
        counts = repo.day_counts(conn, scope, reporters=reporters, id_from=lo, id_to=hi)
        events = repo.recent_events(conn, scope, reporters=reporters, limit=50, decision=decision)
        per_status = repo.pass_counts(conn, scope)
        passes = repo.passes(conn, scope, status=status, limit=50, with_lists=True)
        active = repo.holds(conn, district=district, active_only=True, limit=100) if officer else []
        lifted = (
            [h for h in repo.holds(conn, district=district, active_only=False, limit=100) if h.lifted_at][:20]
            if officer
            else []
        )
    return page(
        request,
        "gate.html",
        user,
        status=http_status,
        day=which.isoformat(),
        counts=counts,
        events=[_event_view(e) for e in events],
        per_status=per_status,
        status_names=desk.STATUS_NAMES,
        pass_statuses=PASS_STATUSES,
        chosen_status=status,
        chosen_decision=decision,
        passes=[desk.pass_json(p) for p in passes],
        officer=officer,
        active=[desk.hold_json(h) for h in active],
        lifted=[desk.hold_json(h) for h in lifted],
        reason_names=_reason_names(),
        scope_word="all" if scope.everything else "district" if scope.district else "own",
        problem=problem,
        done=DONE.get(request.query_params.get("done", "")),
        form=form or _prefill(request),
    )


def _event_view(row: dict[str, Any]) -> dict[str, Any]:
    out = desk.event_json(row, repeat=False)
    at = row["at"]
    if isinstance(at, datetime) and at.tzinfo is not None:  # the zone's clock: Beijing time
        out["at"] = at.astimezone(CHINA).isoformat()
    out["passStatusBefore"] = row["pass_status_before"]
    out["receivedAt"] = row["received_at"].isoformat()
    return out


def _reason_names() -> dict[str, tuple[str, str]]:
    """Every stop reason as a short word for the day's counts (the full texts, with the plate, weights or
    hold read on the day, are on each vehicle); a code the rule gains later shows as itself."""
    return {code: STOP_WORDS.get(code, (code, code)) for code in REASONS}


def _prefill(request: Request) -> dict[str, str]:
    """A hold form filled from a link on a vehicle or a pass (``?hold=pass&target=Z…``)."""
    kind = request.query_params.get("hold", "")
    target = request.query_params.get("target", "")
    if kind in ("pass", "vehicle", "list") and len(target) <= 200:
        return {"target_kind": kind, "target": target}
    return {}


def _day(request: Request, day: str | None) -> date:
    if not day:
        return context(request).clock().astimezone(CHINA).date()
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise ConsoleError(
            422, f"日期格式应为 YYYY-MM-DD：{day}", f"the day must be YYYY-MM-DD: {day}"
        ) from None


@router.get("/console/gate", response_class=HTMLResponse, include_in_schema=False)
def board(
    request: Request,
    day: Annotated[str | None, Query(max_length=10)] = None,
    status: Annotated[Literal["0", "1", "2", "3", "4", "5", "6"] | None, Query()] = None,
    decision: Annotated[Literal["LIFT", "STOP"] | None, Query()] = None,
) -> HTMLResponse:
    user = _gate_user(request)
    return _board(request, user, which=_day(request, day), status=status, decision=decision)


@router.post("/console/gate/holds", include_in_schema=False)
def place_hold(
    request: Request,
    target_kind: Annotated[str, Form(max_length=10)],
    target: Annotated[str, Form(max_length=200)],
    reason_zh: Text = "",
    reason_en: Text = "",
    kind: Annotated[str, Form(max_length=12)] = "hold",
) -> Response:
    check_origin(request)
    user = _gate_user(request)
    form = {"target_kind": target_kind, "target": target, "reason_zh": reason_zh, "reason_en": reason_en}
    problem: tuple[str, str] | None = None
    if kind not in ("hold", "inspection") or target_kind not in ("pass", "vehicle", "list"):
        problem = ("布控类别或对象类别无效", "unknown hold kind or target kind")
    elif not reason_zh.strip() or not reason_en.strip():
        problem = ("布控须填写中文和英文原因", "a hold needs a reason in Chinese and in English")
    if problem is not None:
        return _refused(request, user, 422, problem, form)
    ctx = context(request)
    try:
        desk.place_hold(
            ctx.engine,
            user,
            kind=kind,
            target_kind=target_kind,
            target=target,
            reason_zh=reason_zh.strip(),
            reason_en=reason_en.strip(),
            now=ctx.clock(),
        )
    except desk.GateRefusal as exc:
        return _refused(request, user, exc.status, (exc.zh, exc.en), form)
    return RedirectResponse("/console/gate?done=placed#holds", status_code=303)


@router.post("/console/gate/holds/{hold_id}/lift", include_in_schema=False)
def lift_hold(request: Request, hold_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    check_origin(request)
    user = _gate_user(request)
    ctx = context(request)
    try:
        desk.lift_hold(ctx.engine, user, hold_id, ctx.clock())
    except desk.GateRefusal as exc:
        return _refused(request, user, exc.status, (exc.zh, exc.en), None)
    return RedirectResponse("/console/gate?done=lifted#holds", status_code=303)


def _refused(
    request: Request, user: Principal, status: int, problem: tuple[str, str], form: dict[str, str] | None
) -> HTMLResponse:
    """The board again with the refusal and what was typed (nothing was stored)."""
    which = context(request).clock().astimezone(CHINA).date()
    return _board(
        request, user, which=which, status=None, decision=None, problem=problem, http_status=status, form=form
    )
