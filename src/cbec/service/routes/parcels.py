"""Queries: a parcel's full history, and the checkout pre-check (admissible? tax? quota left?).

History answers only what the caller may read: documents it is not a party to are left out, and a parcel
with nothing readable is a 404 whether or not it exists (no probing other enterprises' order numbers).
Personal data comes back masked; a customs officer may ask for it unmasked with a purpose, and every such
read is written to the audit table.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from cbec.engine.buyer_key import buyer_key
from cbec.params.hs import UnknownHsCode
from cbec.privacy import UnmaskRefused, present, unmasking_role
from cbec.rights import Role, authorize_read
from cbec.rules import resident_id
from cbec.rules.basket import BasketError, BasketItem, estimate
from cbec.service.deps import AUTH_ERRORS, BODY_ERRORS, NO_CONTROL, ApiError, Caller, Context, error_responses
from cbec.service.history import Handles, parcel_history
from cbec.store import pii_audit
from cbec.store import quota as quota_repo

router = APIRouter(tags=["queries"])

MESSAGE_OF_KIND = {
    "order": "CEB311Message",
    "payment": "CEB411Message",
    "waybill": "CEB511Message",
    "list": "CEB621Message",
    # exports (docs/exports.md)
    "x_order": "CEB303Message",
    "x_receipts": "CEB403Message",
    "x_waybill": "CEB505Message",
    "x_list": "CEB603Message",
}
Text = Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL)]
Amount = Annotated[str, Field(max_length=20, pattern=r"^[0-9+\-.eE ]*$")]
"""A decimal as text (exact); other characters are refused up front with the field named."""


class ParcelDocument(BaseModel):
    model_config = ConfigDict(extra="allow")

    kind: Literal["order", "payment", "waybill", "list", "x_order", "x_receipts", "x_waybill", "x_list"]
    guid: str
    head: dict[str, Any]
    lines: list[dict[str, Any]]


class ParcelHistory(BaseModel):
    """Documents the history's answer (the route builds it as a dict; nothing is filtered through this)."""

    orderKey: str | None
    waybillKey: str | None
    documents: list[ParcelDocument] = Field(description="only those I may read; personal data masked")
    decisions: list[dict[str, Any]]
    taxBills: list[dict[str, Any]]
    receipts: list[dict[str, Any]] = Field(description="only those addressed to me")
    officerResults: list[dict[str, Any]]


@router.get(
    "/v1/parcels",
    summary="A parcel's full history / 包裹全程记录",
    responses={200: {"model": ParcelHistory}, **AUTH_ERRORS, **error_responses(403, 404)},
)
def parcel(
    ctx: Context,
    principal: Caller,
    orderNo: Text = None,
    ebpCode: Text = None,
    logisticsNo: Text = None,
    logisticsCode: Text = None,
    invtNo: Text = None,
    guid: Text = None,
    unmask: Annotated[bool, Query(description="officers: show personal data in clear (audited)")] = False,
    purpose: Annotated[
        str | None,
        Query(max_length=200, pattern=NO_CONTROL, description="why personal data is shown in clear"),
    ] = None,
) -> dict[str, Any]:
    handles = Handles(orderNo, ebpCode, logisticsNo, logisticsCode, invtNo, guid)
    if not handles.given():
        raise ApiError(
            422,
            "no-handle",
            "请给出 orderNo、logisticsNo、invtNo 或 guid 之一",
            "give one of orderNo, logisticsNo, invtNo or guid",
            field="orderNo",
        )
    now = ctx.clock()
    role = _role(principal.roles)
    with ctx.engine.connect() as conn:
        found = parcel_history(conn, handles, default_codes=tuple(sorted(principal.codes)))
    # orders, payments and waybills carry no customs code: they belong to the district of the parcel's list
    districts = sorted(
        {
            str(d["head"].get(f) or "")
            for d in found.documents
            if d["kind"] in ("list", "x_list")
            for f in ("customsCode", "portCode")
        }
        - {""}
    )
    readable = [
        d
        for d in found.documents
        if authorize_read(
            principal, MESSAGE_OF_KIND[d["kind"]], d["head"], at=now, linked_districts=districts
        ).allowed
    ]
    if not readable:
        raise ApiError(
            404, "not-found", "没有您可查看的该包裹记录", "no record of this parcel that you may read"
        )
    audits: list[pii_audit.PiiAccess] = []
    for d in readable:
        try:
            head = present(d["head"], role=role, unmask=unmask, purpose=purpose)
            lines = [present(x, role=role, unmask=unmask, purpose=purpose) for x in d["lines"]]
        except UnmaskRefused as exc:
            raise ApiError(403, "unmask-refused", exc.zh, exc.en, field="unmask") from None
        d["head"], d["lines"] = head.record, [x.record for x in lines]
        shown = list(head.unmasked) + [f"lines[].{f}" for x in lines for f in x.unmasked]
        if shown:
            audits.append(
                pii_audit.PiiAccess(
                    actor=principal.credential or principal.name,
                    role=role,
                    document_ref=d["guid"],
                    fields=tuple(dict.fromkeys(shown)),
                    purpose=purpose or "",
                    document_kind=d["kind"],
                )
            )
    if audits:
        with ctx.engine.begin() as conn:
            pii_audit.record(conn, audits)
    lists_readable = any(d["kind"] in ("list", "x_list") for d in readable)
    out = found.to_json()
    out["documents"] = readable
    if not lists_readable:
        out["decisions"], out["taxBills"], out["officerResults"] = [], [], []
    out["receipts"] = [
        r
        for r in out["receipts"]
        if r["recipient"] in principal.codes
        or Role.OFFICER in principal.roles
        or Role.ADMIN in principal.roles
    ]
    return out


def _role(roles: frozenset[Role]) -> str:
    names = [str(r) for r in roles]
    return unmasking_role(names) or (names[0] if names else "unknown")


class BasketLineIn(BaseModel):
    # ASCII digits only: str.isdigit() also takes "²" or "١", which the ID check and the tariff do not.
    hs10: str = Field(min_length=10, max_length=10, pattern=r"^[0-9]{10}$", description="10-digit HS code")
    price: Amount = Field(description="unit price, CNY", examples=["199.00"])
    qty: Amount = "1"
    qty1: Amount | None = Field(None, description="total in the first legal unit")
    qty2: Amount | None = Field(None, description="total in the second legal unit")


class PrecheckIn(BaseModel):
    buyerIdNumber: str = Field(
        min_length=18,
        max_length=18,
        pattern=r"^[0-9]{17}[0-9Xx]$",
        description="PRC resident ID number (18)",
    )
    items: list[BasketLineIn] = Field(min_length=1, max_length=100)
    freight: Amount = "0"
    insurance: Amount = "0"
    date: str | None = Field(
        None,
        max_length=10,
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        description="YYYY-MM-DD (default: today)",
    )


class PrecheckLine(BaseModel):
    model_config = ConfigDict(extra="allow")

    gnum: int
    hs10: str
    qty: str
    price: str
    payable: str | None


class PrecheckOut(BaseModel):
    """Documents the estimate (amounts as exact decimal text; tax amounts null when not admissible)."""

    model_config = ConfigDict(extra="allow")

    on: str
    lines: list[PrecheckLine]
    goods_value: str
    tax_total: str | None
    amount_to_pay: str | None
    admissible: bool
    reject_code: str | None
    reason_zh: str
    reason_en: str
    quota_remaining: str


@router.post(
    "/v1/checkout/precheck",
    summary="Checkout pre-check: admissible, tax, quota left / 下单预检",
    responses={200: {"model": PrecheckOut}, **AUTH_ERRORS, **BODY_ERRORS, **error_responses(403)},
)
def precheck(ctx: Context, principal: Caller, body: PrecheckIn) -> dict[str, Any]:
    if not principal.roles & {Role.PLATFORM, Role.ECOMMERCE, Role.ADMIN, Role.OFFICER}:
        raise ApiError(
            403,
            "role",
            "仅电商平台、电商企业可做下单预检",
            "only platforms and e-commerce enterprises may pre-check a checkout",
        )
    if not resident_id.is_valid(body.buyerIdNumber):
        raise ApiError(
            422,
            "-621012",
            "订购人身份证号码校验不通过",
            "the buyer's ID number fails its check digit",
            field="buyerIdNumber",
        )
    try:
        day = date.fromisoformat(body.date) if body.date else ctx.clock().date()
        items = [
            BasketItem(i.hs10, _dec(i.price, "price"), _dec(i.qty, "qty"), _opt(i.qty1), _opt(i.qty2))
            for i in body.items
        ]
    except ValueError as exc:
        raise ApiError(422, "bad-number", f"数值或日期有误：{exc}", f"bad number or date: {exc}") from None
    key = buyer_key(body.buyerIdNumber, ctx.buyer_secret)
    with ctx.engine.connect() as conn:
        used_fen = quota_repo.used(conn, [key], day.year)[key]
    try:
        result = estimate(
            items,
            freight=body.freight,
            insurance=body.insurance,
            on=day,
            used_quota=Decimal(used_fen) / 100,
            params=ctx.params,
            hs=ctx.hs,
        )
    except UnknownHsCode as exc:
        raise ApiError(
            422,
            "unknown-hs",
            f"税则表中没有商品编码 {exc.hs10}",
            f"HS code {exc.hs10} is not in the tariff",
            field="items",
        ) from None
    except (BasketError, ArithmeticError) as exc:
        raise ApiError(422, "basket", f"购物篮有误：{exc}", f"bad basket: {exc}", field="items") from None
    except LookupError as exc:  # no rule in force on that day
        raise ApiError(
            422, "no-rule", f"该日期无适用规则：{exc}", f"no rule in force on that date: {exc}", field="date"
        ) from None
    return result.to_dict()


def _dec(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what}={text!r}") from None
    if not value.is_finite():
        raise ValueError(f"{what}={text!r}")
    return value


def _opt(text: str | None) -> Decimal | None:
    return None if text is None else _dec(text, "quantity")
