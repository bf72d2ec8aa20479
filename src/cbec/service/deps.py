"""Request plumbing shared by the routes: the service context, the caller, and errors as JSON.

The caller presents its API key as ``X-API-Key: …`` or ``Authorization: Bearer …``.  A missing, unknown,
expired or revoked key is a 401 and a known key that may not do something a 403, each with the reason in
中文 and English (``{"error": {"status", "code", "reason_zh", "reason_en", "field"}}``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from cbec.rights import Decision, Principal
from cbec.service.context import ServiceContext
from cbec.service.credential_cache import Resolved
from cbec.store import enterprises

MAX_ID = 2**63 - 1
"""Largest row id (64-bit signed, as in SQLite and PostgreSQL): larger ids in paths or bodies are a 422,
never an overflow in the database driver."""

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
"""Pattern for free-text parameters that reach SQL: PostgreSQL refuses NUL in text, and no code, number
or purpose legitimately holds a control character."""


class ApiError(Exception):
    """Answered as ``{"error": …}`` with its HTTP status (see :func:`error_response`)."""

    def __init__(
        self,
        status: int,
        code: str,
        zh: str,
        en: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {en}")
        self.status = status
        self.code = code
        self.zh = zh
        self.en = en
        self.field = field
        self.extra = extra or {}

    @classmethod
    def of(cls, decision: Decision) -> ApiError:
        return cls(
            decision.status,
            decision.code,
            decision.reason_zh,
            decision.reason_en,
            field=decision.field,
            extra={"document": decision.document} if decision.document is not None else None,
        )

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "status": self.status,
                "code": self.code,
                "reason_zh": self.zh,
                "reason_en": self.en,
                "field": self.field,
                **self.extra,
            }
        }


class Problem(BaseModel):
    """One reason a request was refused, when there are several (request validation)."""

    field: str | None = None
    reason_en: str


class ErrorDetail(BaseModel):
    """The error object every refusal carries; routes may add keys (``document``, ``dxpCode`` …)."""

    model_config = ConfigDict(extra="allow")

    status: int = Field(description="the HTTP status again, for clients that lose it")
    code: str = Field(description="machine-readable: `no-credential`, `invalid-request`, `-621005` …")
    reason_zh: str
    reason_en: str
    field: str | None = Field(None, description="the parameter or message field at fault, if one is")
    problems: list[Problem] | None = Field(None, description="request validation: up to 20 problems")


class ErrorBody(BaseModel):
    """``{"error": {…}}``: the shape of every 4xx answer of the API (documented so clients can rely on it)."""

    error: ErrorDetail


_WHY = {
    400: "bad request (the reason and the field at fault are in the body) / 请求有误",
    401: "no valid API key / 缺少或无效的API密钥",
    403: "this enterprise may not do this / 无权操作",
    404: "no such record of yours / 无此记录",
    409: "conflicts with what was stored before / 与已存内容冲突",
    413: "body over the size limit / 请求体超过上限",
    415: "unsupported content type / 不支持的内容类型",
    422: "invalid parameters or body / 请求参数不正确",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for these error statuses, all with :class:`ErrorBody`.

    Declaring 422 here also replaces FastAPI's default ``HTTPValidationError`` schema, which is not what
    this API answers (see the handler in ``app.py``).
    """
    out: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody, "description": _WHY[s]} for s in statuses}
    if 401 in out:
        out[401]["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": '`Bearer realm="cbec"`'}
        }
    return out


AUTH_ERRORS = error_responses(401, 422)
"""What any authenticated operation may answer besides its own statuses."""
BODY_ERRORS = error_responses(400)
"""What an operation with a JSON body may answer as well: a body that is not JSON in UTF-8."""


def error_response(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="cbec"'} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def context(request: Request) -> ServiceContext:
    # async, as is ``caller``: FastAPI runs a plain ``def`` dependency on its thread pool, two thread hops
    # per request that cost more than the work and, under load, queued behind the interpreter lock
    ctx: ServiceContext = request.app.state.cbec
    return ctx


Context = Annotated[ServiceContext, Depends(context)]


# Declared as security schemes (not plain headers) so the OpenAPI tells clients and tools how to
# authenticate; auto_error=False because the refusal must be ours (401 with reasons in 中文/English).
_API_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="API key issued by `cbec enterprise key`",
    auto_error=False,
)
_BEARER = HTTPBearer(
    scheme_name="Bearer",
    description="the same API key as `Authorization: Bearer <key>`",
    auto_error=False,
)


async def caller(
    request: Request,
    ctx: Context,
    x_api_key: Annotated[str | None, Depends(_API_KEY)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    key = x_api_key or (bearer.credentials.strip() if bearer is not None else None)
    if not key:
        raise ApiError(
            401,
            "no-credential",
            "缺少API密钥（X-API-Key 或 Authorization: Bearer）",
            "missing API key (X-API-Key or Authorization: Bearer)",
        )
    found = ctx.credentials.get(key)
    if found is None:  # the store is read on the thread pool, not on the event loop
        found = await run_in_threadpool(resolved, ctx, key)
    request.state.certificates = found.certificates  # for the signature check of this request
    return found.principal


def resolved(ctx: ServiceContext, key: str) -> Resolved:
    """The principal of ``key`` and its certificates, from the short-lived cache or the store (else 401)."""
    cached = ctx.credentials.get(key)
    if cached is not None:
        return cached
    with ctx.engine.connect() as conn:
        found = enterprises.resolve_api_key(conn, key, at=ctx.clock())
        if isinstance(found, Decision):
            raise ApiError.of(found)
        certs = tuple(
            c
            for code in sorted(found.codes)
            for c in enterprises.list_certificates(conn, code)
            if c.revoked_at is None
        )
    value = Resolved(found, certs)
    ctx.credentials.put(key, value)
    return value


Caller = Annotated[Principal, Depends(caller)]
