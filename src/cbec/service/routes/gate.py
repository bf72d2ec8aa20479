"""Gate passes (核放单) and the non-stop gate (无感卡口) over HTTP.

* ``POST /v1/gate/passes`` — a zone enterprise files a pass binding released lists to a vehicle;
* ``GET /v1/gate/passes`` / ``GET /v1/gate/passes/{no}`` — read them; ``POST …/{no}/check`` re-checks an
  applied pass; ``DELETE …/{no}`` deletes it, ``POST …/{no}/void`` voids it;
* ``POST /v1/gate/events`` — a vehicle at a lane → LIFT or STOP with every reason (stored);
* ``GET /v1/gate/decisions`` — the latest decisions;
* ``POST /v1/gate/holds`` / ``POST /v1/gate/holds/{id}/lift`` / ``GET /v1/gate/holds`` — officers' holds and
  inspection orders.

Operators see their own passes and events, officers their district's, administrators all; a pass one may not
see is a 404 whether or not it exists.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, model_validator

from cbec.rights import Principal, Role
from cbec.service import deps
from cbec.service import gate as desk
from cbec.service.context import ServiceContext
from cbec.service.deps import (
    AUTH_ERRORS,
    BODY_ERRORS,
    MAX_ID,
    NO_CONTROL,
    ApiError,
    Caller,
    Context,
    error_responses,
)
from cbec.service.gate_queue import GateQueue
from cbec.store import gate as repo
from cbec.store.db import SQLITE_BEGIN

router = APIRouter(tags=["gate"])

Weight = Annotated[
    float | str,
    Field(description="kilograms (number or decimal text, at most 3 decimals)", examples=["15230.5"]),
]
Code = Annotated[str, Field(max_length=64, pattern=NO_CONTROL)]
PassNo = Annotated[str, Path(max_length=24, pattern=r"^[0-9A-Za-z~]+$")]


def _raise(exc: desk.GateRefusal) -> ApiError:
    extra = {"problems": [p.to_json() for p in exc.problems]} if exc.problems else None
    return ApiError(exc.status, exc.code, exc.zh, exc.en, field=exc.field, extra=extra)


class ListIn(BaseModel):
    """One list on the pass, named by ``invtNo``, ``orderNo`` or ``logisticsNo`` (several: they must agree).
    A number that several lists carry is refused (``list-ambiguous``) unless ``ebpCode`` / ``logisticsCode``
    tells them apart."""

    invtNo: Code | None = Field(None, description="the list number customs assigned")
    orderNo: Code | None = Field(None, description="the parcel's order number, as on its list")
    ebpCode: Code | None = Field(None, description="the e-commerce platform of orderNo")
    logisticsNo: Code | None = Field(None, description="the parcel's waybill number, as on its list")
    logisticsCode: Code | None = Field(None, description="the carrier of logisticsNo")

    @model_validator(mode="after")
    def _one(self) -> ListIn:
        if not self.invtNo and not self.logisticsNo and not self.orderNo:
            raise ValueError("give invtNo, orderNo or logisticsNo")
        if self.ebpCode and not self.orderNo:
            raise ValueError("ebpCode qualifies orderNo: give orderNo too")
        if self.logisticsCode and not self.logisticsNo:
            raise ValueError("logisticsCode qualifies logisticsNo: give logisticsNo too")
        return self

    def handle(self) -> desk.ListHandle:
        return desk.ListHandle(
            invt_no=self.invtNo,
            logistics_no=self.logisticsNo,
            logistics_code=self.logisticsCode,
            order_no=self.orderNo,
            ebp_code=self.ebpCode,
        )


class PassIn(BaseModel):
    """A gate pass (SAS121 field names); weights in kilograms."""

    etpsPreentNo: Code = Field(
        min_length=1, description="your own number for the pass: filing is idempotent on it"
    )
    areainEtpsno: Code | None = Field(None, description="the zone enterprise (default: yours)")
    masterCuscd: str | None = Field(
        None, pattern=r"^[0-9]{4}$", description="default: the lists' customs code"
    )
    areainOriactNo: Code | None = None
    passportTypecd: Literal["1", "2", "3", "4", "5", "6"] = "3"
    bindTypecd: Literal["1", "2", "3"] = "1"
    ioTypecd: Literal["I", "E"] = "E"
    rltTbTypecd: Literal["1", "2", "3"] | None = None
    rltNo: Code | None = None
    dclTypecd: Literal["1"] = "1"
    vehicleNo: str = Field(min_length=1, max_length=16, pattern=NO_CONTROL)
    vehicleIcNo: str | None = Field(None, max_length=32, pattern=NO_CONTROL)
    vehicleFrameNo: str | None = Field(None, max_length=32, pattern=NO_CONTROL)
    vehicleWt: Weight
    vehicleFrameWt: Weight = 0
    containerNo: str | None = Field(None, max_length=16, pattern=NO_CONTROL)
    containerType: str | None = Field(None, max_length=8, pattern=NO_CONTROL)
    containerWt: Weight = 0
    totalGrossWt: Weight
    totalNetWt: Weight
    totalWt: Weight
    lists: list[ListIn] = Field(max_length=2000)

    def filing(self) -> desk.PassFiling:
        g = desk.grams
        return desk.PassFiling(
            etps_preent_no=self.etpsPreentNo,
            areain_etpsno=self.areainEtpsno,
            master_cuscd=self.masterCuscd,
            areain_oriact_no=self.areainOriactNo,
            passport_typecd=self.passportTypecd,
            bind_typecd=self.bindTypecd,
            io_typecd=self.ioTypecd,
            rlt_tb_typecd=self.rltTbTypecd,
            rlt_no=self.rltNo,
            dcl_typecd=self.dclTypecd,
            vehicle_no=self.vehicleNo,
            vehicle_ic_no=self.vehicleIcNo,
            vehicle_frame_no=self.vehicleFrameNo,
            vehicle_wt_g=g(self.vehicleWt, "vehicleWt"),
            vehicle_frame_wt_g=g(self.vehicleFrameWt, "vehicleFrameWt"),
            container_no=self.containerNo,
            container_type=self.containerType,
            container_wt_g=g(self.containerWt, "containerWt"),
            total_gross_wt_g=g(self.totalGrossWt, "totalGrossWt"),
            total_net_wt_g=g(self.totalNetWt, "totalNetWt"),
            total_wt_g=g(self.totalWt, "totalWt"),
            lists=tuple(x.handle() for x in self.lists),
        )


class PassOut(BaseModel):
    """Documents a pass as answered (the route builds it as a dict)."""

    passportNo: str
    stucd: str = Field(
        description="0 applied, 1 approved, 2 passed, 3/4 first/second gate, 5 deleted, 6 void"
    )
    pending: list[dict[str, str]] = Field(description="why an applied pass is not approved yet")
    lists: list[dict[str, Any]]


@router.post(
    "/v1/gate/passes",
    summary="File a gate pass / 核放单申报",
    status_code=201,
    responses={
        200: {"model": PassOut, "description": "the same etpsPreentNo again: the stored pass"},
        201: {"model": PassOut},
        **AUTH_ERRORS,
        **BODY_ERRORS,
        **error_responses(403, 409),
    },
)
def file_pass(ctx: Context, principal: Caller, body: PassIn) -> Any:
    now = ctx.clock()
    try:
        row, new = desk.file_pass(ctx.engine, principal, body.filing(), ctx.params, now)
    except desk.GateRefusal as exc:
        raise _raise(exc) from None
    return JSONResponse(desk.pass_json(row), status_code=201 if new else 200)


@router.get(
    "/v1/gate/passes",
    summary="Gate passes, newest first / 核放单列表",
    responses={**AUTH_ERRORS, **error_responses(403)},
)
def list_passes(
    ctx: Context,
    principal: Caller,
    status: Annotated[Literal["0", "1", "2", "3", "4", "5", "6"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    _gate_role(principal)
    scope = desk.scope_of(principal, ctx.clock())
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        rows = repo.passes(conn, scope, status=status, limit=limit, with_lists=True)
        counts = repo.pass_counts(conn, scope)
    return {"counts": counts, "passes": [desk.pass_json(r) for r in rows]}


@router.get(
    "/v1/gate/passes/{number}",
    summary="One gate pass / 核放单",
    responses={200: {"model": PassOut}, **AUTH_ERRORS, **error_responses(403, 404)},
)
def get_pass(ctx: Context, principal: Caller, number: PassNo) -> dict[str, Any]:
    _gate_role(principal)
    try:
        return desk.pass_json(
            desk.readable_pass(ctx.engine, principal, number, ctx.clock(), journal=ctx.gate_journal)
        )
    except desk.GateRefusal as exc:
        raise _raise(exc) from None


@router.post(
    "/v1/gate/passes/{number}/check",
    summary="Re-check an applied pass (approve it once its lists are released) / 核放单重新核对",
    responses={200: {"model": PassOut}, **AUTH_ERRORS, **error_responses(403, 404)},
)
def check_pass(ctx: Context, principal: Caller, number: PassNo) -> dict[str, Any]:
    _gate_role(principal)
    try:
        return desk.pass_json(desk.recheck(ctx.engine, principal, number, ctx.clock()))
    except desk.GateRefusal as exc:
        raise _raise(exc) from None


@router.delete(
    "/v1/gate/passes/{number}",
    summary="Delete a pass not used yet / 删除核放单",
    responses={200: {"model": PassOut}, **AUTH_ERRORS, **error_responses(403, 404, 409)},
)
def delete_pass(ctx: Context, principal: Caller, number: PassNo) -> dict[str, Any]:
    return _cancel(ctx, principal, number, "5")


@router.post(
    "/v1/gate/passes/{number}/void",
    summary="Void a pass not used yet (dclTypecd 3) / 作废核放单",
    responses={200: {"model": PassOut}, **AUTH_ERRORS, **error_responses(403, 404, 409)},
)
def void_pass(ctx: Context, principal: Caller, number: PassNo) -> dict[str, Any]:
    return _cancel(ctx, principal, number, "6")


def _cancel(ctx: Any, principal: Principal, number: str, to: str) -> dict[str, Any]:
    _gate_role(principal)
    try:
        return desk.pass_json(
            desk.cancel(ctx.engine, principal, number, to, ctx.clock(), journal=ctx.gate_journal)
        )
    except desk.GateRefusal as exc:
        raise _raise(exc) from None


class EventIn(BaseModel):
    """A vehicle at a gate lane, as the lane's readers and weighbridge report it."""

    eventId: str = Field(
        min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", description="idempotency key"
    )
    lane: str = Field("1", min_length=1, max_length=32, pattern=NO_CONTROL)
    gate: Literal["S", "1", "2"] = Field(
        "S", description="S single gate; 1/2 first/second gate of a double gate"
    )
    vehicleNo: str | None = Field(
        None, max_length=16, pattern=NO_CONTROL, description="plate read by the camera"
    )
    vehicleIcNo: str | None = Field(
        None, max_length=32, pattern=NO_CONTROL, description="electronic plate / IC"
    )
    containerNo: str | None = Field(None, max_length=16, pattern=NO_CONTROL)
    weight: Weight | None = Field(None, description="weighbridge reading, kilograms")
    at: datetime | None = Field(None, description="when the vehicle was at the lane (default: now)")

    def event(self, now: datetime) -> desk.GateEvent:
        at = self.at or now
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return desk.GateEvent(
            event_id=self.eventId,
            lane=self.lane,
            gate=self.gate,
            at=at,
            vehicle_no=self.vehicleNo,
            vehicle_ic_no=self.vehicleIcNo,
            container_no=self.containerNo,
            weight_g=None if self.weight is None else desk.grams(self.weight, "weight"),
        )


class Reason(BaseModel):
    code: str
    reason_zh: str
    reason_en: str


class DecisionOut(BaseModel):
    eventId: str
    decision: Literal["LIFT", "STOP"]
    reasons: list[Reason] = Field(description="every reason to stop (empty on LIFT)")
    passportNo: str | None
    passStatus: str | None
    repeat: bool = Field(description="this eventId was decided before: the stored decision")


@router.post(
    "/v1/gate/events",
    summary="A vehicle at the gate → LIFT or STOP / 卡口过卡判定",
    responses={200: {"model": DecisionOut}, **AUTH_ERRORS, **BODY_ERRORS, **error_responses(403, 409)},
)
async def gate_event(
    request: Request, principal: Annotated[Principal, Depends(deps.caller)], body: EventIn
) -> Response:
    """Hands the event to the gate thread and awaits its answer on the event loop: no worker thread is
    held while the vehicle is decided, and the answer (plain JSON types) is sent as it is."""
    _gate_role(principal)
    ctx: ServiceContext = request.app.state.cbec
    now = ctx.clock()
    try:
        event = body.event(now)
        future = _queue(request).submit(event, principal.name, desk.scope_of(principal, now))
        # shielded: a lane that gives up must not cancel the decision, which is stored all the same
        answer = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout=60)
    except desk.GateRefusal as exc:
        raise _raise(exc) from None
    return JSONResponse(answer)


@router.get(
    "/v1/gate/decisions",
    summary="The latest gate decisions / 最近过卡记录",
    responses={**AUTH_ERRORS, **error_responses(403)},
)
def decisions(
    ctx: Context,
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    decision: Annotated[Literal["LIFT", "STOP"] | None, Query()] = None,
) -> dict[str, Any]:
    _gate_role(principal)
    found = desk.recent(
        ctx.engine, principal, ctx.clock(), limit=limit, decision=decision, journal=ctx.gate_journal
    )
    return {"decisions": found}


class HoldIn(BaseModel):
    kind: Literal["hold", "inspection"] = "hold"
    targetKind: Literal["pass", "vehicle", "list"]
    target: str = Field(min_length=1, max_length=200, pattern=NO_CONTROL)
    reason_zh: str = Field(min_length=1, max_length=500, pattern=NO_CONTROL)
    reason_en: str = Field(min_length=1, max_length=500, pattern=NO_CONTROL)


@router.post(
    "/v1/gate/holds",
    summary="Officers: hold a pass, vehicle or list, or order an inspection / 布控、查验指令",
    status_code=201,
    responses={**AUTH_ERRORS, **BODY_ERRORS, **error_responses(403, 404)},
)
def place_hold(ctx: Context, principal: Caller, body: HoldIn) -> dict[str, Any]:
    try:
        row = desk.place_hold(
            ctx.engine,
            principal,
            kind=body.kind,
            target_kind=body.targetKind,
            target=body.target,
            reason_zh=body.reason_zh,
            reason_en=body.reason_en,
            now=ctx.clock(),
        )
    except desk.GateRefusal as exc:
        raise _raise(exc) from None
    return desk.hold_json(row)


@router.post(
    "/v1/gate/holds/{hold_id}/lift",
    summary="Officers: lift a hold / 撤销布控",
    responses={**AUTH_ERRORS, **error_responses(403, 404, 409)},
)
def lift_hold(
    ctx: Context, principal: Caller, hold_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> dict[str, Any]:
    try:
        return desk.hold_json(desk.lift_hold(ctx.engine, principal, hold_id, ctx.clock()))
    except desk.GateRefusal as exc:
        raise _raise(exc) from None


@router.get(
    "/v1/gate/holds",
    summary="Officers: holds and inspection orders / 布控列表",
    responses={**AUTH_ERRORS, **error_responses(403)},
)
def list_holds(
    ctx: Context,
    principal: Caller,
    active: Annotated[bool, Query()] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    try:
        desk.require_officer(principal)
    except desk.GateRefusal as exc:
        raise _raise(exc) from None
    district = None if Role.ADMIN in principal.roles else principal.district
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        rows = repo.holds(conn, district=district, active_only=active, limit=limit)
    return {"holds": [desk.hold_json(h) for h in rows]}


def _gate_role(principal: Principal) -> None:
    try:
        desk.require_gate_role(principal)
    except desk.GateRefusal as exc:
        raise _raise(exc) from None


_QUEUE_LOCK = threading.Lock()


def _queue(request: Request) -> GateQueue:
    """The app's gate thread, started with its first vehicle (one per app; a daemon thread)."""
    state = request.app.state
    found: GateQueue | None = getattr(state, "gate_queue", None)
    if found is None:
        with _QUEUE_LOCK:
            found = getattr(state, "gate_queue", None)
            if found is None:
                found = GateQueue(request.app.state.cbec)
                state.gate_queue = found
    return found
