"""Returns over HTTP: the registry of cross-district return sites, and import returns with their goods back.

* ``GET /v1/return-sites`` — the filed sites one may see: administrators all, officers their district's,
  a site operator its own; ``POST /v1/return-sites`` — file (or re-file, replacing) a site: its operator
  files its own, an administrator any (officers read, they do not file: the filing is the operator's
  declaration, customs' acceptance is the registry entry itself — cbec keeps no separate approval step);
* ``GET /v1/import-returns`` — import returns (CEB625) with their answer, lines, quota and tax given back
  and goods-back state; ``GET /v1/import-returns/overdue`` — the accepted ones whose goods are late or not
  back after the deadline (A-2020-45: 45 days from release), with what was given back, for customs to
  collect again;
* ``POST /v1/import-returns/{guid}/goods-back`` — the goods of an accepted import return are back at the
  original site (no CEB message reports it): by a site operator, an officer of the list's district or an
  administrator.  Idempotent: 201 recorded, 200 the same report again.

Readers see the returns of their own codes, officers their district's, administrators all
(:mod:`cbec.store.return_views`); a return one may not see is a 404 whether or not it exists.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from cbec.rights import Principal, Role
from cbec.rules.lifecycle import customs_date
from cbec.service.deps import AUTH_ERRORS, BODY_ERRORS, NO_CONTROL, ApiError, Caller, Context, error_responses
from cbec.store import export_returns as sites_repo
from cbec.store import goods_back as goods_repo
from cbec.store import return_views as views
from cbec.store import summaries
from cbec.store.db import SQLITE_BEGIN

router = APIRouter(tags=["returns"])

Guid = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]
CUSTOMS = r"^[0-9]{4}$"


def _text_only(value: object) -> object:
    """Dates and times as ISO 8601 text only: pydantic would read a number as seconds since 1970."""
    if not isinstance(value, str):
        raise ValueError("an ISO 8601 string")
    return value


IsoDate = Annotated[date, BeforeValidator(_text_only)]
IsoDateTime = Annotated[datetime, BeforeValidator(_text_only)]


def site_json(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "customsCode": s["customs_code"],
        "operatorCode": s["operator_code"],
        "name": s["name"],
        "loctNo": s["loct_no"],
        "cbecExport": bool(s["cbec_export"]),
        "returnArea": bool(s["return_area"]),
        "dataOpen": bool(s["data_open"]),
        "validFrom": s["valid_from"].isoformat(),
        "validTo": s["valid_to"].isoformat() if s["valid_to"] else None,
        "filedBy": s["filed_by"],
        "filedAt": s["filed_at"].isoformat(),
        "note": s["note"],
    }


def import_return_json(a: dict[str, Any]) -> dict[str, Any]:
    """An import return as the API shows it (fen as integers, ≤ 0: given back)."""
    return {
        "guid": a["guid"],
        "invtNo": a["invt_no"],
        "status": a["status"],
        "code": a["code"],
        "reason": {"zh": a["reason_zh"], "en": a["reason_en"]},
        "decidedAt": a["decided_at"].isoformat(),
        "quotaFen": int(a["quota_fen"]),
        "taxFen": int(a["tax_fen"]),
        "lines": [
            {"gnum": x["gnum"], "qty": x["qty"], "dutiableFen": x["dutiable_fen"], "taxFen": x["tax_fen"]}
            for x in a["lines"]
        ],
        "releasedAt": a["released_at"].isoformat() if a["released_at"] else None,
        "goodsBack": {
            "state": a["goods"],
            "deadline": a["deadline"].isoformat() if a["deadline"] else None,
            "backAt": a["back_at"].isoformat() if a["back_at"] else None,
        },
    }


def _sites_scope(principal: Principal) -> tuple[bool, str | None, frozenset[str]]:
    if Role.ADMIN in principal.roles:
        return True, None, frozenset()
    district = principal.district if Role.OFFICER in principal.roles else None
    operators = principal.codes if Role.OPERATOR in principal.roles else frozenset()
    if district is None and not operators:
        raise ApiError(
            403,
            "role",
            "只有监管场所经营人、关员和管理员可查看退货监管场所备案",
            "only site operators, officers and administrators read the return-site registry",
        )
    return False, district, operators


@router.get(
    "/v1/return-sites",
    summary="Filed cross-district return sites / 退货监管场所备案",
    responses={**AUTH_ERRORS, **error_responses(403)},
)
def list_sites(ctx: Context, principal: Caller) -> dict[str, Any]:
    everything, district, operators = _sites_scope(principal)
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        rows = views.sites_in_scope(conn, everything=everything, district=district, operators=operators)
    return {"sites": [site_json(s) for s in rows]}


class SiteIn(BaseModel):
    customsCode: str = Field(pattern=CUSTOMS, description="customs of the site (4 digits)")
    operatorCode: str = Field(min_length=1, max_length=18, pattern=r"^[0-9A-Za-z]+$")
    name: str = Field(min_length=1, max_length=200, pattern=NO_CONTROL)
    validFrom: IsoDate
    validTo: IsoDate | None = None
    loctNo: str | None = Field(None, max_length=10, pattern=r"^[0-9A-Za-z]*$")
    cbecExport: bool = Field(True, description="a CBEC retail-export supervised site")
    returnArea: bool = Field(True, description="with an independent return area (独立退货区)")
    dataOpen: bool = Field(True, description="its system data open to customs")
    note: str | None = Field(None, max_length=500, pattern=NO_CONTROL)


@router.post(
    "/v1/return-sites",
    summary="File a return site / 退货监管场所备案",
    status_code=201,
    responses={**AUTH_ERRORS, **BODY_ERRORS, **error_responses(403)},
)
def file_site(ctx: Context, principal: Caller, body: SiteIn) -> dict[str, Any]:
    if Role.ADMIN not in principal.roles:
        if Role.OPERATOR not in principal.roles:
            raise ApiError(
                403,
                "role",
                "只有监管场所经营人（备案本企业的场所）或管理员可备案退货监管场所",
                "only a site operator (for its own sites) or an administrator files return sites",
            )
        if body.operatorCode not in principal.codes:
            raise ApiError(
                403,
                "not-own-code",
                f"经营人代码{body.operatorCode}不是本企业的代码",
                f"operator code {body.operatorCode} is not one of your codes",
                field="operatorCode",
            )
    site = sites_repo.Site(
        customs_code=body.customsCode,
        operator_code=body.operatorCode,
        name=body.name,
        valid_from=body.validFrom,
        valid_to=body.validTo,
        loct_no=body.loctNo or None,
        cbec_export=body.cbecExport,
        return_area=body.returnArea,
        data_open=body.dataOpen,
        note=body.note,
    )
    with ctx.engine.begin() as conn:
        try:
            sites_repo.file_site(conn, site, by=principal.name, at=ctx.clock())
        except sites_repo.SiteError as exc:
            raise ApiError(422, "invalid-site", exc.zh, exc.en) from None
        filed = next(
            s
            for s in sites_repo.sites(conn)
            if s["customs_code"] == body.customsCode and s["operator_code"] == body.operatorCode
        )
    return site_json(filed)


def _scope(principal: Principal, at: datetime) -> summaries.SummaryScope:
    scope = summaries.scope_of(principal, at)
    if not (scope.everything or scope.codes or scope.district):
        raise ApiError(403, "role", "无权查看退货", "you may not read returns")
    return scope


@router.get(
    "/v1/import-returns",
    summary="Import returns (CEB625) with their goods-back state / 进口退货",
    responses={**AUTH_ERRORS, **error_responses(403)},
)
def list_import_returns(
    ctx: Context,
    principal: Caller,
    status: Annotated[int | None, Query(ge=0, le=999)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> dict[str, Any]:
    now = ctx.clock()
    scope = _scope(principal, now)
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        counts = views.import_counts(conn, scope)
        rows = views.import_returns(
            conn, scope, ctx.params, as_of=customs_date(now), status=status, limit=limit
        )
    return {
        "counts": {str(k): v for k, v in counts.items()},
        "returns": [import_return_json(a) for a in rows],
    }


@router.get(
    "/v1/import-returns/overdue",
    summary="Accepted import returns whose goods are late / 退货逾期未运抵",
    responses={**AUTH_ERRORS, **error_responses(403)},
)
def overdue(
    ctx: Context,
    principal: Caller,
    asOf: Annotated[
        str | None, Query(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", description="YYYY-MM-DD (Beijing); today")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    now = ctx.clock()
    scope = _scope(principal, now)
    try:  # text, not a date parameter: FastAPI would read a bare number as seconds since 1970
        as_of = date.fromisoformat(asOf) if asOf else customs_date(now)
    except ValueError:
        raise ApiError(
            422, "invalid-request", f"日期无效：{asOf}", f"not a date: {asOf}", field="asOf"
        ) from None
    with ctx.engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"}) as conn:
        rows = views.import_returns(conn, scope, ctx.params, as_of=as_of, overdue_only=True, limit=limit)
    return {"asOf": as_of.isoformat(), "overdue": [import_return_json(a) for a in rows]}


class GoodsBackIn(BaseModel):
    backAt: IsoDateTime = Field(
        description="when the goods were back at the original site (ISO 8601; UTC unless a zone is given)"
    )
    note: str | None = Field(None, max_length=500, pattern=NO_CONTROL)


def _may_report(principal: Principal) -> None:
    if principal.roles & {Role.ADMIN, Role.OFFICER, Role.OPERATOR}:
        return
    raise ApiError(
        403,
        "role",
        "退货运抵由监管场所经营人或关员登记",
        "the site operator or an officer records that returned goods are back",
    )


@router.post(
    "/v1/import-returns/{guid}/goods-back",
    summary="Record that an import return's goods are back / 退货运抵原监管场所",
    status_code=201,
    responses={
        200: {"description": "recorded before with the same time: nothing changed"},
        **AUTH_ERRORS,
        **BODY_ERRORS,
        **error_responses(403, 404, 409),
    },
)
def goods_back(ctx: Context, principal: Caller, guid: Guid, body: GoodsBackIn) -> Any:
    now = ctx.clock()
    _may_report(principal)
    at = body.backAt if body.backAt.tzinfo is not None else body.backAt.replace(tzinfo=UTC)
    if at > now:
        raise ApiError(
            409, "goods-back-refused", "运抵时间不能晚于当前时间", "the goods cannot be back in the future"
        )
    # an officer reports for the lists of its district; operators and administrators for any list (cbec
    # does not know which site an import list went through)
    scope = (
        summaries.SummaryScope(district=principal.district)
        if principal.roles == frozenset({Role.OFFICER}) and principal.district
        else summaries.SummaryScope(everything=True)
    )
    with ctx.engine.begin() as conn:
        found = views.import_returns(conn, scope, ctx.params, as_of=customs_date(now), guid=guid, limit=1)
        if not found:
            raise ApiError(404, "not-found", f"没有进口退货申请{guid}", f"no import return {guid}")
        try:
            result = goods_repo.record_goods_back(
                conn,
                return_guid=guid,
                back_at=at,
                by=principal.name,
                params=ctx.params,
                note=body.note,
                at=now,
            )
        except goods_repo.GoodsBackError as exc:
            raise ApiError(409, "goods-back-refused", exc.zh, exc.en) from None
    out = {
        "guid": result.return_guid,
        "backAt": result.back_at.isoformat(),
        "deadline": result.deadline.isoformat(),
        "onTime": result.on_time,
        "recorded": result.recorded,
    }
    return JSONResponse(out, status_code=201 if result.recorded else 200)
