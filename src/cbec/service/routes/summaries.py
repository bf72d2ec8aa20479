"""Monthly summary declarations and the 9810 pre-refund true-up over HTTP.

* ``GET /v1/summaries?period=YYYY-MM`` — the months and applications one may see, with due dates and late
  flags; ``GET /v1/summaries/{sumNo}`` — one application: its declarations, their lines and, per line, the
  list lines it took;
* ``POST /v1/summaries`` — summarise a month (idempotent: 201 with the new applications, 200 when nothing was
  left to summarise); a consignor or declaring agent summarises the lists of its own codes, administrators
  everyone's; officers read their district's applications but do not apply;
* ``POST /v1/exports/{invtNo}/lines/{gnum}/true-up`` — a sale or unsold return of a pre-refunded 9810 line
  (``eventId`` is the idempotency key: 201 recorded, 200 recorded before), by the list's consignor or agent.

Rights follow the documents': an application is read by its consignor and agent, the officers of its customs
district and administrators; one that may not be seen is a 404 whether or not it exists.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from cbec.commands.export import true_up_json
from cbec.engine import prerefund
from cbec.engine import summary as engine_summary
from cbec.params.dated import ParameterSet
from cbec.rights import Principal, Role
from cbec.rights.send import sendable_message_types
from cbec.rules.summary import SummaryOptions
from cbec.service.deps import AUTH_ERRORS, BODY_ERRORS, ApiError, Caller, Context, error_responses
from cbec.store import summaries as repo
from cbec.store.db import SQLITE_BEGIN
from cbec.store.schema import export_list
from cbec.store.summaries import from_e5

router = APIRouter(tags=["summaries"])

PERIOD = r"^[12][0-9]{3}-(0[1-9]|1[0-2])$"
Period = Annotated[str, Query(pattern=PERIOD, description="YYYY-MM")]
SumNo = Annotated[str, Path(max_length=18, pattern=r"^[0-9A-Za-z]+$")]
InvtNo = Annotated[str, Path(max_length=32, pattern=r"^[0-9A-Za-z]+$")]


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def application_json(app: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An application as the API and the console show it."""
    return {
        "sumNo": app["sum_no"],
        "period": app["period"],
        "ebcCode": app["ebc_code"],
        "ebcName": app["ebc_name"],
        "agentCode": app["agent_code"],
        "customsCode": app["customs_code"],
        "supplement": app["supplement"],
        "status": app["status"],
        "summaryFlag": app["summary_flag"],
        "itemNameFlag": app["item_name_flag"],
        "lists": app["lists"],
        "declarations": app["declarations"],
        "dueDate": app["due_date"],
        "late": engine_summary.is_late(app["due_date"], app["created_at"], now),
        "createdAt": app["created_at"].isoformat(),
        "createdBy": app["created_by"],
    }


def declaration_json(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "declNo": d["decl_no"],
        "declSeqNo": d["decl_seq_no"],
        "trafMode": d["traf_mode"],
        "ownerCode": d["owner_code"],
        "ownerName": d["owner_name"],
        "arrivalCountry": d["arrival_country"],
        "portCode": d["port_code"],
        "tradeMode": d["trade_mode"],
        "lists": d["lists"],
        "lines": d["lines"],
        "grossWeight": str(from_e5(d["gross_weight_e5"])),
        "netWeight": str(from_e5(d["net_weight_e5"])),
        "clearedFrom": _value(d["cleared_from"]),
        "clearedTo": _value(d["cleared_to"]),
    }


def line_json(x: dict[str, Any]) -> dict[str, Any]:
    return {
        "gseqno": x["gseqno"],
        "destinationCountry": x["destination_country"],
        "gcode": x["gcode"],
        "currency": x["currency"],
        "itemName": x["item_name"],
        "gname": x["gname"],
        "unit": x["unit"],
        "qty": _value(from_e5(x["qty_e5"])),
        "unit1": x["unit1"],
        "qty1": _value(from_e5(x["qty1_e5"])),
        "unit2": x["unit2"],
        "qty2": _value(from_e5(x["qty2_e5"])),
        "totalPrice": str(from_e5(x["total_price_e5"])),
        "lists": x["lists"],
        "lineCount": x["lines"],
    }


def mapped_json(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "invtNo": m["invt_no"],
        "gnum": m["gnum"],
        "gcode": m["gcode"],
        "logisticsNo": m["logistics_no"],
        "status": m["status"],
        "orderNo": m["order_no"],
        "ebpCode": m["ebp_code"],
    }


def _not_found(sum_no: str) -> ApiError:
    return ApiError(404, "not-found", f"没有汇总申请{sum_no}", f"no summary application {sum_no}")


@router.get(
    "/v1/summaries",
    summary="Summary applications and their months / 汇总申请",
    responses={**AUTH_ERRORS, **error_responses(403)},
)
def list_summaries(
    ctx: Context,
    principal: Caller,
    period: Period | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    now = ctx.clock()
    scope = repo.scope_of(principal, now)
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        periods = repo.periods(conn, scope)
        apps = repo.applications(conn, scope, period=period, limit=limit)
    out: dict[str, Any] = {
        "periods": [{**p, "dueDate": _due(p["period"], ctx.params)} for p in periods],
        "applications": [application_json(a, now) for a in apps],
    }
    if period is not None:
        try:
            due = engine_summary.period_due(period, ctx.params)
        except engine_summary.SummaryError:
            out["due"] = None  # no summary rule in force for that month
        else:
            out["due"] = {
                "date": due.due.isoformat(),
                "nominal": due.nominal.isoformat(),
                "skipped": due.skipped,
            }
    return out


def _due(period: str, params: ParameterSet) -> str | None:
    try:
        return engine_summary.period_due(period, params).due.isoformat()
    except engine_summary.SummaryError:
        return None


@router.get(
    "/v1/summaries/{sum_no}",
    summary="One summary application: declarations, lines, list lines / 汇总申请详情",
    responses={**AUTH_ERRORS, **error_responses(403, 404)},
)
def get_summary(ctx: Context, principal: Caller, sum_no: SumNo) -> dict[str, Any]:
    now = ctx.clock()
    scope = repo.scope_of(principal, now)
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        app = repo.application(conn, sum_no)
        if app is None or not scope.covers(app["ebc_code"], app["agent_code"], app["customs_code"]):
            raise _not_found(sum_no)
        decls = repo.declarations(conn, [app["id"]])
        ids = [d["id"] for d in decls]
        lines = repo.declaration_lines(conn, ids)
        mapped = repo.mapped_lines(conn, ids)
    by_line: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for m in mapped:
        by_line.setdefault((m["declaration_id"], m["gseqno"]), []).append(mapped_json(m))
    out = []
    for d in decls:
        out.append(
            {
                **declaration_json(d),
                "items": [
                    {**line_json(x), "listLines": by_line.get((d["id"], x["gseqno"]), [])}
                    for x in lines
                    if x["declaration_id"] == d["id"]
                ],
            }
        )
    return {**application_json(app, now), "declarationList": out}


class SummariseIn(BaseModel):
    period: str = Field(pattern=PERIOD, description="the month, YYYY-MM")
    summaryFlag: Literal["1", "2"] = Field(
        "1", description="1 by consignor; 2 by consignor and producer/seller"
    )
    itemNameFlag: bool = Field(False, description="keep the lists' item names apart")


def _may_apply(principal: Principal, at: datetime) -> None:
    if Role.ADMIN in principal.roles:
        return
    if Role.OFFICER in principal.roles and not principal.roles - {Role.OFFICER}:
        raise ApiError(
            403,
            "officer-read-only",
            "关员可查看本关区的汇总申请，汇总申报由收发货人或其申报企业提交",
            "officers read their district's summaries; the consignor or its declaring agent applies",
        )
    if "CEB701Message" not in sendable_message_types(principal, at):
        raise ApiError(
            403,
            "role",
            "只有电商企业（收发货人）或申报企业可提交汇总申请（CEB701）",
            "only an e-commerce enterprise (consignor) or a declaring agent may apply for a summary (CEB701)",
        )


@router.post(
    "/v1/summaries",
    summary="Summarise a month of cleared export lists / 汇总申报",
    status_code=201,
    responses={
        200: {"description": "nothing left to summarise: the month's applications as they are"},
        **AUTH_ERRORS,
        **BODY_ERRORS,
        **error_responses(403, 404, 409),
    },
)
def summarise(ctx: Context, principal: Caller, body: SummariseIn) -> Any:
    now = ctx.clock()
    _may_apply(principal, now)
    scope = repo.scope_of(principal, now)
    try:
        run = engine_summary.summarise(
            ctx.engine,
            body.period,
            scope=scope,
            by=principal.name,
            now=now,
            options=SummaryOptions(summary_flag=body.summaryFlag, item_name_flag=body.itemNameFlag),
            params=ctx.params,
        )
    except engine_summary.SummaryError as exc:
        raise ApiError(exc.status, exc.code, exc.zh, exc.en, field="period") from None
    reasons = run.excluded.group_by("reason").len().sort("reason").rows() if run.excluded.height else []
    out = {
        "period": run.period,
        "due": {
            "date": run.due.due.isoformat(),
            "nominal": run.due.nominal.isoformat(),
            "skipped": run.due.skipped,
        },
        "cleared": run.cleared,
        "created": [a["sum_no"] for a in run.created],
        "excluded": dict(reasons),
        "applications": [application_json(a, now) for a in run.applications],
    }
    return JSONResponse(out, status_code=201 if run.created else 200)


class TrueUpIn(BaseModel):
    eventId: str = Field(
        min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", description="idempotency key"
    )
    kind: Literal["sold", "returned"] = Field(description="sold, or returned unsold (退回未售)")
    qty: Decimal = Field(gt=0, max_digits=19, decimal_places=5, description="in the line's unit")


@router.post(
    "/v1/exports/{invt_no}/lines/{gnum}/true-up",
    summary="9810 pre-refund true-up: a sale or an unsold return / 离境即退税核销",
    status_code=201,
    responses={
        200: {"description": "the same eventId again: nothing recorded, the line as it is"},
        **AUTH_ERRORS,
        **BODY_ERRORS,
        **error_responses(403, 404, 409),
    },
)
def true_up(
    ctx: Context,
    principal: Caller,
    invt_no: InvtNo,
    gnum: Annotated[int, Path(ge=1, le=99999)],
    body: TrueUpIn,
) -> Any:
    now = ctx.clock()
    if Role.ADMIN not in principal.roles and not (principal.roles - {Role.OFFICER}):
        raise ApiError(
            403,
            "officer-read-only",
            "预退税核销由电商企业或其申报企业报告",
            "the e-commerce enterprise or its agent reports the true-up",
        )
    with ctx.engine.begin() as conn:
        owner = conn.execute(
            select(export_list.c.ebc_code, export_list.c.agent_code).where(export_list.c.invt_no == invt_no)
        ).first()
        if owner is None or not _owns(principal, owner.ebc_code, owner.agent_code, now):
            raise ApiError(404, "not-found", f"没有出口清单{invt_no}", f"no export list {invt_no}")
        try:
            result = prerefund.record(
                conn,
                event_id=body.eventId,
                invt_no=invt_no,
                gnum=gnum,
                kind=body.kind,
                qty=body.qty,
                by=principal.name,
                at=now,
            )
        except prerefund.TrueUpError as exc:
            raise ApiError(409, "true-up-refused", exc.zh, exc.en) from None
    return JSONResponse(true_up_json(result), status_code=201 if result.recorded else 200)


def _owns(principal: Principal, ebc_code: str, agent_code: str, at: datetime) -> bool:
    scope = repo.scope_of(principal, at)
    if scope.everything:
        return True
    return ebc_code in scope.codes or agent_code in scope.codes
