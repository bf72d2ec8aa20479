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
from fastapi.responses import JSONResponse

from cbec.messages.decode import DecodedMessage
from cbec.messages.signature import verify_message
from cbec.rights import Principal, authorize_send
from cbec.service.context import ServiceContext
from cbec.service.deps import ApiError, Caller, Context
from cbec.service.intake import Intake, read_body
from cbec.store import Outcome, enterprises
from cbec.store import inbox as inbox_repo
from cbec.store.schema import message_subscriber

router = APIRouter(tags=["messages"])

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
                        "guid": {"type": "string"},
                        "documents": {"type": "array", "items": {"type": "object"}},
                        "baseTransfer": {"type": "object"},
                        "baseSubscribe": {"type": "array", "items": {"type": "object"}},
                    },
                }
            },
        },
    }
}


@router.post(
    "/v1/messages",
    status_code=202,
    openapi_extra=_BODY,
    summary="Send a CEB message (stored before it is acknowledged) / 发送CEB报文",
    responses={
        202: {"description": "stored; business receipts follow on the feed"},
        400: {"description": "format check failed (CEB900 receipt in the body) or bad signature"},
        401: {"description": "no valid API key"},
        403: {"description": "this enterprise may not send this message or use these codes"},
        409: {"description": "this guid was stored before with different content"},
        413: {"description": "message over the size limit"},
    },
)
async def send_message(request: Request, ctx: Context, principal: Caller) -> JSONResponse:
    body = await _read_limited(request, ctx.settings.max_body)
    intake = read_body(body, request.headers.get("content-type"))
    return _accept(ctx, principal, intake)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
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


def _accept(ctx: ServiceContext, principal: Principal, intake: Intake) -> JSONResponse:
    if not intake.ok or intake.decoded is None:
        return JSONResponse(_format_refusal(intake), status_code=400)
    decoded = intake.decoded
    now = ctx.clock()
    heads = [d.head for d in decoded.documents]
    decision = authorize_send(principal, decoded.message_type, heads, at=now, transfer=decoded.transfer)
    if not decision.allowed:
        raise ApiError.of(decision)
    if ctx.settings.verify_signatures:
        _check_signature(ctx, principal, intake, decoded)
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
    return {
        "accepted": False,
        "error": {
            "status": 400,
            "code": "format",
            "returnStatus": intake.format_status(),
            "reason_zh": "报文格式检查未通过",
            "reason_en": "the message failed the format check",
            "findings": [f.to_dict() for f in intake.errors[:100]],
        },
        "ceb900": intake.format_receipt().decode("utf-8"),
    }


def _check_signature(
    ctx: ServiceContext, principal: Principal, intake: Intake, decoded: DecodedMessage
) -> None:
    with ctx.engine.connect() as conn:
        certs = [
            c
            for code in sorted(principal.codes)
            for c in enterprises.list_certificates(conn, code)
            if c.revoked_at is None
        ]
    at = ctx.clock()
    verdict = verify_message(intake.xml, None, at=at)
    if verdict.ok:
        return  # unsigned and need not be
    for cert in certs:
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
