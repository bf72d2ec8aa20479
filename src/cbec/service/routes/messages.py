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

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cbec.messages.decode import DecodedMessage
from cbec.messages.signature import requires_signature, verify_message
from cbec.rights import Principal, authorize_send
from cbec.service.context import ServiceContext
from cbec.service.deps import ApiError, Caller, Context, ErrorDetail, error_responses
from cbec.service.intake import Intake, read_body
from cbec.store import Outcome
from cbec.store import inbox as inbox_repo
from cbec.store.schema import message_subscriber

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
    certificates = getattr(request.state, "certificates", ())
    content_type = request.headers.get("content-type")
    # decoding, checking and the inbox commit block: off the event loop, so that one request waiting for
    # the database does not hold up the others
    return await run_in_threadpool(_take, ctx, principal, body, content_type, certificates)


def _take(
    ctx: ServiceContext,
    principal: Principal,
    body: bytes,
    content_type: str | None,
    certificates: tuple[Any, ...],
) -> JSONResponse:
    return _accept(ctx, principal, read_body(body, content_type), certificates)


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


def _accept(
    ctx: ServiceContext, principal: Principal, intake: Intake, certificates: tuple[Any, ...] = ()
) -> JSONResponse:
    if not intake.ok or intake.decoded is None:
        return JSONResponse(_format_refusal(intake), status_code=400)
    decoded = intake.decoded
    now = ctx.clock()
    heads = [d.head for d in decoded.documents]
    decision = authorize_send(principal, decoded.message_type, heads, at=now, transfer=decoded.transfer)
    if not decision.allowed:
        raise ApiError.of(decision)
    if ctx.settings.verify_signatures:
        _check_signature(ctx, intake, decoded, certificates)
    packed, digest = inbox_repo.pack(intake.xml, ctx.data_keys)
    guid = (decoded.guid or digest)[:64]
    item = inbox_repo.InboxItem(
        guid=guid,
        message_type=decoded.message_type[:32],
        raw=packed,
        sender=_sender(principal, decoded),
        dxp_id=(decoded.transfer or {}).get("dxpId"),
        received_at=now,
        codec=inbox_repo.SEALED,
        sha256=digest,
    )
    with ctx.engine.begin() as conn:
        outcome = inbox_repo.accept(conn, [item])[0]
        if outcome.outcome == Outcome.NEW and decoded.subscribes:
            rows = {
                str(s.get("dxpAddress"))[:100]: str(s.get("status") or "ALL")[:4]
                for s in decoded.subscribes
                if s.get("dxpAddress")
            }
            conn.execute(
                message_subscriber.insert(),
                [{"inbox_id": outcome.id, "dxp_address": a, "status": st} for a, st in rows.items()],
            )
    if outcome.outcome == Outcome.CONFLICT:
        raise ApiError(
            409,
            "guid-conflict",
            f"报文guid {guid} 已以不同内容接收，未保存",
            f"guid {guid} was received before with different content; not stored",
            field="guid",
        )
    if ctx.clearing is not None:
        ctx.clearing.wake()
    return JSONResponse(
        {
            "accepted": True,
            "outcome": "new" if outcome.outcome == Outcome.NEW else "repeat",
            "guid": guid,
            "inboxId": outcome.id,
            "messageType": decoded.message_type,
            "documents": len(decoded.documents),
            "receivedAt": now.isoformat(),
            "format": {
                "returnStatus": "0",
                "warnings": [f.to_dict() for f in intake.findings if f.severity == "warning"][:50],
            },
        },
        status_code=202,
    )


def _sender(principal: Principal, decoded: DecodedMessage) -> str:
    """The code the receipts go to: the message's copCode when it is the caller's, else the caller's own."""
    cop = str((decoded.transfer or {}).get("copCode") or "")
    if cop and principal.owns(cop):
        return cop[:32]
    return (sorted(principal.codes)[0] if principal.codes else principal.name)[:32]


def _format_refusal(intake: Intake) -> dict[str, Any]:
    first = intake.errors[0] if intake.errors else None
    return {
        "accepted": False,
        "error": {
            "status": 400,
            "code": "format",
            "returnStatus": intake.format_status(),
            "reason_zh": f"报文格式检查未通过：{first.message_zh}" if first else "报文格式检查未通过",
            "reason_en": f"the message failed the format check: {first.message_en}"
            if first
            else "the message failed the format check",
            "field": (first.field or first.path) if first else None,
            "findings": [f.to_dict() for f in intake.errors[:100]],
        },
        "ceb900": intake.format_receipt().decode("utf-8"),
    }


def _check_signature(
    ctx: ServiceContext, intake: Intake, decoded: DecodedMessage, certificates: tuple[Any, ...]
) -> None:
    """Refuse a message whose signature is missing where required, or does not verify with any of the
    sender's registered certificates (the verdict of the last one tried explains why)."""
    heads = [d.head for d in decoded.documents]
    if decoded.signature is None and not requires_signature(decoded.message_type, heads):
        return  # unsigned, and need not be
    at = ctx.clock()
    verdict = verify_message(intake.xml, None, at=at)
    for cert in certificates:
        verdict = verify_message(intake.xml, cert.info.pem, at=at, key_name=cert.key_name)
        if verdict.ok:
            return
    raise ApiError(
        400,
        verdict.business_code or verdict.dxp_code or "signature",
        verdict.reason_zh,
        verdict.reason_en,
        field="ds:Signature",
        extra={"dxpCode": verdict.dxp_code, "businessCode": verdict.business_code},
    )
