"""``POST /v1/messages``: an enterprise sends a CEB message; it is checked, stored, then acknowledged.

Order of checks, cheapest and least revealing first: the caller's key (401), the size, the format (CEB900
with the DXP code: the body is refused and nothing is stored), the caller's right to send this type under
these codes (403), the signature where the spec requires one (refused with 1001–1004 / −621028/−621029).
Only then is the message stored in the inbox and committed, and only after the commit is it acknowledged
(202): an acknowledged message is never lost, and the clearing loop answers it with business receipts on the
feed.  The same message again is answered from the inbox (``repeat``), never processed twice; the same guid
with other bytes is a 409.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cbec.service.accepting import Submitted, accept_many
from cbec.service.deps import ApiError, Caller, Context, ErrorDetail, error_responses

router = APIRouter(tags=["messages"])

_RECORD = {"type": "object", "description": "field name → text or number, as in the spec"}
_BODY = {
    "requestBody": {
        "required": True,
        "description": "A CEB business message (CEB311Message …) as XML, the same in a DxpMsg envelope, or "
        "its JSON form: {messageType, documents: [{head, lines}], baseTransfer, baseSubscribe, guid}.",
        "content": {
            "application/xml": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["messageType", "documents"],
                    "properties": {
                        "messageType": {"type": "string", "example": "CEB311Message"},
                        "guid": {"type": "string", "maxLength": 64},
                        "documents": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"head": _RECORD, "lines": {"type": "array", "items": _RECORD}},
                            },
                        },
                        "baseTransfer": _RECORD,
                        "baseSubscribe": {"type": "array", "items": _RECORD},
                    },
                }
            },
        },
    }
}


class FormatCheck(BaseModel):
    returnStatus: str = Field(description="`0`: the format check passed")
    warnings: list[dict[str, Any]] = Field(description="what was tolerated (up to 50)")


class Acknowledged(BaseModel):
    """Documents the acknowledgement (the route builds it as a dict; nothing is filtered through this)."""

    accepted: bool
    outcome: str = Field(description="`new`, or `repeat` when this very message was stored before")
    guid: str
    inboxId: int
    messageType: str
    documents: int
    receivedAt: str
    format: FormatCheck


class Refusal(BaseModel):
    """A format refusal (``accepted: false``, findings and the CEB900 receipt) or a signature refusal."""

    model_config = ConfigDict(extra="allow")

    accepted: bool | None = None
    error: ErrorDetail
    ceb900: str | None = Field(None, description="the CEB900 format receipt, as customs would send it")


@router.post(
    "/v1/messages",
    status_code=202,
    openapi_extra=_BODY,
    summary="Send a CEB message (stored before it is acknowledged) / 发送CEB报文",
    responses={
        202: {"model": Acknowledged, "description": "stored; business receipts follow on the feed"},
        400: {
            "model": Refusal,
            "description": "format check failed (CEB900 receipt in the body) or bad signature",
        },
        **error_responses(401, 403, 409, 413),
    },
)
async def send_message(request: Request, ctx: Context, principal: Caller) -> JSONResponse:
    body = await _read_limited(request, ctx.settings.max_body)
    submitted = Submitted(
        principal, body, request.headers.get("content-type"), getattr(request.state, "certificates", ())
    )
    if ctx.intake is None:  # no intake thread (an app used without its lifespan): one at a time
        return (await run_in_threadpool(accept_many, ctx, [submitted]))[0]
    # decoding, checking and the inbox commit happen on the intake thread, together with whatever else
    # arrived meanwhile (one decode call, one commit); the event loop stays free
    return await asyncio.wrap_future(ctx.intake.submit(submitted))


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    # ASCII digits only ("²".isdigit() is true), and no int() of an absurdly long header
    if declared.isascii() and declared.isdigit() and (len(declared) > 15 or int(declared) > limit):
        raise _too_large(int(declared) if len(declared) <= 15 else 10**15, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        "too-large",
        f"报文大小{size}字节超过上限{limit}字节",
        f"message of {size} bytes is over the limit of {limit}",
    )
