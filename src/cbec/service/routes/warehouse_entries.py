"""CEB711 warehouse-entry details (入库明细单) over HTTP: the list, and one entry with its lines and the
CEB712 receipts that answered it.  The entries themselves arrive as CEB711 messages (``POST /v1/messages``);
see :mod:`cbec.engine.warehouse`.

An entry is named by its ``guid``: the CEB711 head's record id, required and unique (the enterprise's
``copNo`` is optional and only unique within that enterprise, so it is a filter of the list, not an address).

Who may read which entry (:func:`scope_of`, :func:`readable`; the same for the console):

* a supervised-site operator: the entries sent under its own codes (``operatorCode``), and under codes
  granted to it in the operator role for CEB711;
* a customs officer: the entries declared at a customs office of their district (``customsCode``; a
  district ending in 00 covers its two-digit family, :func:`cbec.store.console_queries.district_prefix`);
* an administrator: every entry;
* anyone else: 403 with the reason in 中文 and English.  As for ledgers, an entry someone else may see is a
  403 (``not-yours`` / ``other-district``) and the list simply leaves it out; a guid nobody stored is a 404.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from lxml import etree
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from cbec.rights import Principal, Role
from cbec.rights.read import operator_codes
from cbec.rules.lifecycle import CHINA
from cbec.service.deps import AUTH_ERRORS, MAX_ID, NO_CONTROL, ApiError, Caller, Context, error_responses
from cbec.store import warehouse_entries as repo

router = APIRouter(tags=["warehouse entries"])
MESSAGE = "CEB711Message"
Guid = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9\-]+$",
        description="the CEB711 head's guid (36 characters in the specification)",
    ),
]
Text = Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_CONTROL)]
Waybill = Annotated[
    str | None,
    Query(min_length=1, max_length=64, pattern=NO_CONTROL, description="a line names this waybill"),
]


class EntryStatus(IntEnum):
    """The outcome of an entry: its last CEB712 ``returnStatus``."""

    concluded = 399  # 审结: accepted (after 120 入库)
    refused = 100  # 退单


class WarehouseEntryLine(BaseModel):
    gnum: int
    logisticsNo: str
    found: bool = Field(description="cbec knew a waybill (CEB511) of the head's logisticsCode by this number")


class WarehouseEntryReceipt(BaseModel):
    receiptId: int = Field(description="the CEB712 message (`GET /v1/receipts/{id}` for its recipient)")
    createdAt: datetime
    returnStatus: str
    returnTime: str | None
    returnInfo: str | None


class WarehouseEntry(BaseModel):
    guid: str
    copNo: str | None
    customsCode: str | None
    operatorCode: str | None
    sender: str | None
    billNo: str | None
    logisticsCode: str | None
    status: int = Field(description="399 concluded (accepted), 100 refused")
    code: str | None = Field(description="the refusal's code (−800000, −800001), if refused")
    reason_zh: str
    reason_en: str
    receivedAt: datetime
    lineCount: int
    linesNotFound: int = Field(description="lines whose waybill cbec did not know")


class WarehouseEntryPage(BaseModel):
    entries: list[WarehouseEntry]
    next: int | None = Field(description="pass as `before` for the next (older) page; null on the last page")


class WarehouseEntryDetail(WarehouseEntry):
    lines: list[WarehouseEntryLine]
    receipts: list[WarehouseEntryReceipt] = Field(description="the CEB712 returns that answered this entry")


def scope_of(principal: Principal, at: datetime) -> repo.EntryScope:
    """What the principal may read, or 403 for a role that reads no entries."""
    if Role.ADMIN in principal.roles:
        return repo.EntryScope(everything=True)
    district = principal.district if Role.OFFICER in principal.roles else None
    codes = operator_codes(principal, at, MESSAGE)
    if district or codes:
        return repo.EntryScope(operator_codes=codes, district=district)
    if Role.OFFICER in principal.roles:
        raise ApiError(
            403,
            "no-district",
            "关员账号未登记关区，无法查看入库明细单",
            "your officer account has no customs district",
        )
    raise ApiError(
        403,
        "role",
        "只有监管场所经营人、海关关员和管理员可以查看入库明细单",
        "only supervised-site operators, customs officers and administrators may see warehouse-entry details",
    )


def readable(conn: Connection, principal: Principal, guid: str, at: datetime) -> repo.EntryRow:
    """The entry, if the principal may read it; else 403 (someone else's) or 404 (nobody's)."""
    scope = scope_of(principal, at)
    row = repo.entry_by_guid(conn, guid)
    if row is None:
        raise ApiError(404, "not-found", f"没有入库明细单{guid}", f"no warehouse-entry detail {guid}")
    if scope.covers(row.operator_code, row.customs_code):
        return row
    if scope.district:
        raise ApiError(
            403,
            "other-district",
            f"入库明细单{guid}不是在本关区申报的",
            f"warehouse-entry detail {guid} was not declared in your district",
        )
    raise ApiError(
        403,
        "not-yours",
        f"入库明细单{guid}不是本企业发送的",
        f"warehouse-entry detail {guid} was not sent under your codes",
    )


def entry_json(row: repo.EntryRow) -> dict[str, Any]:
    return {
        "guid": row.guid,
        "copNo": row.cop_no,
        "customsCode": row.customs_code,
        "operatorCode": row.operator_code,
        "sender": row.sender,
        "billNo": row.bill_no,
        "logisticsCode": row.logistics_code,
        "status": row.status,
        "code": row.code,
        "reason_zh": row.reason_zh,
        "reason_en": row.reason_en,
        "receivedAt": row.received_at.isoformat(),
        "lineCount": row.line_count,
        "linesNotFound": row.lines_not_found,
    }


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _returns_of(guid: str, found: list[repo.ReceiptXml]) -> list[dict[str, Any]]:
    """This entry's ``DeliveryReturn`` elements in the CEB712 messages of its batch, in order."""
    out: list[dict[str, Any]] = []
    for r in found:
        root = etree.fromstring(r.xml, _PARSER)
        for ret in root.iter("{*}DeliveryReturn"):
            fields = {etree.QName(el).localname: (el.text or "") for el in ret}
            if fields.get("guid") != guid:
                continue
            out.append(
                {
                    "receiptId": r.id,
                    "createdAt": r.created_at.isoformat(),
                    "returnStatus": fields.get("returnStatus", ""),
                    "returnTime": fields.get("returnTime"),
                    "returnInfo": fields.get("returnInfo"),
                }
            )
    return sorted(out, key=lambda a: (a["returnTime"] or "", a["receiptId"]))


def entry_detail(conn: Connection, row: repo.EntryRow) -> dict[str, Any]:
    """The entry with its lines and the CEB712 returns that answered it."""
    return {
        **entry_json(row),
        "lines": [
            {"gnum": line.gnum, "logisticsNo": line.logistics_no, "found": line.found}
            for line in repo.entry_lines(conn, row.id)
        ],
        "receipts": _returns_of(row.guid, repo.entry_receipts(conn, row)),
    }


def day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Beijing days ``since``..``until`` (both included) as ``[start, end)`` in UTC; None where unbounded
    (including a day at the calendar's edge, which has no instant before or after it)."""

    def start(d: date) -> datetime | None:
        try:
            return datetime.combine(d, time(0), CHINA).astimezone(UTC)
        except OverflowError:
            return None

    end = None
    if until is not None and until < date.max:
        end = start(until + timedelta(days=1))
    return (start(since) if since is not None else None), end


def entry_filter(
    *,
    status: int | None,
    since: date | None,
    until: date | None,
    logistics_no: str | None,
    operator_code: str | None,
    cop_no: str | None,
) -> repo.EntryFilter:
    """The list's filters, or 422 naming the field at fault."""
    if since is not None and until is not None and until < since:
        raise ApiError(
            422,
            "invalid-request",
            "截止日期早于起始日期",
            "until is before since",
            field="until",
        )
    start, end = day_bounds(since, until)
    return repo.EntryFilter(
        status=status,
        since=start,
        until=end,
        logistics_no=logistics_no,
        operator_code=operator_code,
        cop_no=cop_no,
    )


@router.get(
    "/v1/warehouse-entries",
    summary="Warehouse-entry details, newest first / 入库明细单列表",
    responses={200: {"model": WarehouseEntryPage}, **AUTH_ERRORS, **error_responses(403)},
)
def list_entries(
    ctx: Context,
    principal: Caller,
    status: Annotated[EntryStatus | None, Query(description="399 concluded, 100 refused")] = None,
    since: Annotated[date | None, Query(description="received on or after this day (Beijing)")] = None,
    until: Annotated[date | None, Query(description="received on or before this day (Beijing)")] = None,
    logisticsNo: Waybill = None,
    operatorCode: Text = None,
    copNo: Text = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    scope = scope_of(principal, ctx.clock())
    filters = entry_filter(
        status=int(status) if status is not None else None,
        since=since,
        until=until,
        logistics_no=logisticsNo,
        operator_code=operatorCode,
        cop_no=copNo,
    )
    with ctx.engine.connect() as conn:
        rows = repo.list_entries(conn, scope, filters, before=before, limit=limit)
    return {
        "entries": [entry_json(r) for r in rows],
        "next": rows[-1].id if len(rows) == limit else None,
    }


@router.get(
    "/v1/warehouse-entries/{guid}",
    summary="One warehouse-entry detail: lines and CEB712 receipts / 入库明细单",
    responses={200: {"model": WarehouseEntryDetail}, **AUTH_ERRORS, **error_responses(403, 404)},
)
def show_entry(ctx: Context, principal: Caller, guid: Guid) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        row = readable(conn, principal, guid, ctx.clock())
        return entry_detail(conn, row)
