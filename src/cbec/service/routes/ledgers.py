"""Bonded e-ledgers (保税账册) over HTTP: read a ledger, record stock movements and stocktakes, reconcile.

Who may do what (the same rule for every route, :func:`access`):

* the zone warehousing enterprise a ledger is filed with (a site operator whose code is the ledger's
  ``areaCode``) reads and operates its own ledgers, and only those;
* a customs officer reads the ledgers kept in their customs district and may record approved adjustments
  and stocktakes there; an administrator may do everything, including filing ledgers;
* everyone else gets 403 with the reason in 中文 and English — as does an operator asking for another's
  ledger (an unknown emsNo is a 404 only for those who could have seen it).
"""

from __future__ import annotations

import io
import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from cbec.engine import ledger as E
from cbec.rights import Principal, Role, district_covers
from cbec.service.deps import AUTH_ERRORS, BODY_ERRORS, NO_CONTROL, ApiError, Caller, Context, error_responses
from cbec.store import ledgers as repo
from cbec.store.ledgers import LedgerError

router = APIRouter(tags=["bonded ledgers"])
EmsNo = Annotated[str, Path(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9\-]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]
Qty = Annotated[str, Field(max_length=24, pattern=r"^-?[0-9]+(\.[0-9]{1,5})?$")]
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ERRORS = {**AUTH_ERRORS, **error_responses(403, 404)}
_WRITE_ERRORS = {**_ERRORS, **BODY_ERRORS, **error_responses(409)}


class LineIn(BaseModel):
    itemRecordNo: Code
    qty: Qty = Field(description="legal quantity 1 (exact decimal, ≤ 5 places); adjustments may be negative")
    qty2: Qty = "0"
    gcode: str | None = Field(None, pattern=r"^[0-9]{10}$", description="new items: 10-digit HS code")
    unit1: str | None = Field(None, pattern=r"^[0-9]{3}$", description="new items: legal unit code")
    unit2: str | None = Field(None, pattern=r"^[0-9]{3}$")
    name: str | None = Field(None, max_length=250, pattern=NO_CONTROL)


class LedgerIn(BaseModel):
    emsNo: str = Field(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9\-]+$")
    areaCode: Code
    customsCode: str = Field(pattern=r"^[0-9]{4}$")


class MovementIn(BaseModel):
    kind: Literal["entry", "transfer", "dispose", "adjust"]
    docNo: Code = Field(description="entry / transfer / disposal / approval number (idempotency key)")
    lines: list[LineIn] = Field(min_length=1, max_length=1000)
    toEmsNo: str | None = Field(None, max_length=30, pattern=r"^[A-Za-z0-9\-]+$", description="transfers")
    disposal: Literal["trade", "reexport", "destroy"] | None = None
    reason: str | None = Field(None, max_length=500, pattern=NO_CONTROL, description="adjustments")


class CountIn(BaseModel):
    countedAt: datetime | None = None
    note: str | None = Field(None, max_length=500, pattern=NO_CONTROL)
    lines: list[LineIn] = Field(min_length=1, max_length=100_000)


def _refused(e: LedgerError) -> ApiError:
    return ApiError(e.status, "ledger-refused" if e.status != 404 else "not-found", e.zh, e.en)


def access(
    conn: Connection, principal: Principal, ems_no: str, *, write: bool, officer_write: bool
) -> repo.Ledger:
    """The ledger, if the caller may read it (``write``: operate it); else 403/404 with the reason."""
    found = repo.get_ledger(conn, ems_no)
    if Role.ADMIN in principal.roles:
        if found is None:
            raise ApiError(404, "not-found", f"账册{ems_no}未备案", f"ledger {ems_no} is not filed")
        return found
    if Role.OFFICER in principal.roles:
        if (
            found is None
            or not principal.district
            or not district_covers(principal.district, found.customs_code)
        ):
            raise ApiError(
                403,
                "other-district",
                f"账册{ems_no}不在本关区",
                f"ledger {ems_no} is not kept in your district",
            )
        if write and not officer_write:
            raise ApiError(
                403,
                "role",
                "关员不能代企业登记入区、流转或处置",
                "officers do not record entries, transfers or disposals for the enterprise",
            )
        return found
    if Role.OPERATOR in principal.roles:
        if found is None or not principal.owns(found.area_code):
            raise ApiError(
                403,
                "not-yours",
                f"账册{ems_no}不是本企业的账册",
                f"ledger {ems_no} is not one of your ledgers",
            )
        return found
    raise ApiError(
        403,
        "role",
        "只有区内仓储企业、海关关员和管理员可以查看账册",
        "only zone warehousing enterprises, customs officers and administrators may see ledgers",
    )


def _lines(lines: list[LineIn]) -> list[E.Line]:
    return [
        E.Line(l.itemRecordNo, Decimal(l.qty), Decimal(l.qty2), l.gcode, l.name, l.unit1, l.unit2)
        for l in lines  # noqa: E741
    ]


def visible(conn: Connection, principal: Principal) -> list[repo.Ledger]:
    """The ledgers the caller may read (403 for a role that may read none)."""
    if Role.ADMIN in principal.roles:
        return repo.list_ledgers(conn)
    if Role.OFFICER in principal.roles and principal.district:
        return repo.list_ledgers(conn, district=principal.district)
    if Role.OPERATOR in principal.roles:
        return repo.list_ledgers(conn, area_codes=principal.codes)
    access(conn, principal, "-", write=False, officer_write=False)
    return []


@router.get("/v1/ledgers", summary="My ledgers / 我的账册", responses=_ERRORS)
def list_ledgers(ctx: Context, principal: Caller) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        found = visible(conn, principal)
    return {"ledgers": [lg.to_json() for lg in found]}


@router.post("/v1/ledgers", summary="File a ledger / 账册备案", status_code=201, responses=_WRITE_ERRORS)
def file_ledger(ctx: Context, principal: Caller, body: LedgerIn) -> dict[str, Any]:
    if Role.ADMIN not in principal.roles and not (
        Role.OPERATOR in principal.roles and principal.owns(body.areaCode)
    ):
        raise ApiError(
            403, "not-yours", "只能为本企业备案账册", "a ledger can be filed only by its own zone enterprise"
        )
    try:
        with ctx.engine.begin() as conn:
            led = E.file_ledger(
                conn, ems_no=body.emsNo, area_code=body.areaCode, customs_code=body.customsCode,
                filed_by=principal.name, at=ctx.clock(),
            )  # fmt: skip
    except LedgerError as e:
        raise _refused(e) from None
    return led.to_json()


@router.get(
    "/v1/ledgers/{ems_no}", summary="A ledger: stock, movements, holds / 账册库存与变动", responses=_ERRORS
)
def show_ledger(
    ctx: Context,
    principal: Caller,
    ems_no: EmsNo,
    movements: Annotated[int, Query(ge=0, le=5000)] = 100,
) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        access(conn, principal, ems_no, write=False, officer_write=False)
        return E.ledger_view(conn, ems_no, movements=movements)


@router.post(
    "/v1/ledgers/{ems_no}/movements",
    summary="Record entry, transfer, disposal or adjustment / 登记入区、流转、处置或调整",
    status_code=201,
    responses=_WRITE_ERRORS,
)
def record_movement(ctx: Context, principal: Caller, ems_no: EmsNo, body: MovementIn) -> dict[str, Any]:
    at = ctx.clock()
    try:
        with ctx.engine.begin() as conn:
            access(conn, principal, ems_no, write=True, officer_write=body.kind == "adjust")
            lines = _lines(body.lines)
            if body.kind == "entry":
                out = E.entry(conn, ems_no, body.docNo, lines, actor=principal.name, at=at)
            elif body.kind == "transfer":
                if not body.toEmsNo:
                    raise LedgerError("流转须给出转入账册toEmsNo", "a transfer needs toEmsNo")
                out = E.transfer(conn, ems_no, body.toEmsNo, body.docNo, lines, actor=principal.name, at=at)
            elif body.kind == "dispose":
                out = E.dispose(
                    conn, ems_no, body.disposal or "", body.docNo, lines, actor=principal.name, at=at
                )
            else:
                out = E.adjust(
                    conn, ems_no, body.docNo, lines, actor=principal.name, at=at, reason=body.reason or ""
                )
    except LedgerError as e:
        raise _refused(e) from None
    return out.to_json()


@router.post(
    "/v1/ledgers/{ems_no}/stocktakes",
    summary="Record a stocktake / 登记盘点",
    status_code=201,
    responses=_WRITE_ERRORS,
)
def record_stocktake(ctx: Context, principal: Caller, ems_no: EmsNo, body: CountIn) -> dict[str, Any]:
    when = body.countedAt or ctx.clock()
    if when.tzinfo is None:
        raise ApiError(
            400, "invalid-request", "盘点时间须带时区", "countedAt needs a time zone", field="countedAt"
        )
    try:
        with ctx.engine.begin() as conn:
            access(conn, principal, ems_no, write=True, officer_write=True)
            counted = {l.itemRecordNo: Decimal(l.qty) for l in body.lines}  # noqa: E741
            if len(counted) != len(body.lines):
                raise LedgerError("盘点数据中料号重复", "an item is counted twice")
            sid = E.record_count(conn, ems_no, counted, counted_at=when, actor=principal.name, note=body.note)
            return E.reconcile(conn, ems_no, sid).to_json()
    except LedgerError as e:
        raise _refused(e) from None


@router.get(
    "/v1/ledgers/{ems_no}/reconciliation",
    summary="Book against counted per item / 对账",
    responses={**_ERRORS, 200: {"content": {"application/json": {}, "text/csv": {}, _XLSX: {}}}},
)
def reconciliation(
    ctx: Context,
    principal: Caller,
    ems_no: EmsNo,
    stocktake: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Any:
    try:
        with ctx.engine.connect() as conn:
            access(conn, principal, ems_no, write=False, officer_write=False)
            rec = E.reconcile(conn, ems_no, stocktake)
    except LedgerError as e:
        raise _refused(e) from None
    name = f"reconciliation-{ems_no}-{rec.stocktake_id}"
    if format == "csv":
        return Response(
            E.reconciliation_csv(rec).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "xlsx":
        with tempfile.TemporaryDirectory() as tmp:
            path = FilePath(tmp) / "r.xlsx"
            E.reconciliation_xlsx(rec, path)
            data = io.BytesIO(path.read_bytes()).getvalue()
        return Response(
            data, media_type=_XLSX, headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'}
        )
    return rec.to_json()
