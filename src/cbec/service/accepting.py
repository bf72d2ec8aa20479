"""Taking messages in: format check, rights, signature, then the inbox — for many requests at once.

What ``POST /v1/messages`` does, written for a list of requests so that the intake thread
(:mod:`cbec.service.intake_queue`) can treat together whatever arrived at the same moment: one decode call
for all of them, one transaction for all that passed (group commit).  Each request still gets its own
answer; a refusal of one never affects another.  Order of checks, cheapest and least revealing first: the
format (CEB900 with the DXP code), the right to send this type under these codes (403), the signature where
the spec requires one (1001–1004 / −621028/−621029); only then is the message stored, and only after the
commit acknowledged (202).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse

from cbec.messages.decode import DecodedMessage
from cbec.messages.signature import requires_signature, verify_message
from cbec.rights import Principal, authorize_send
from cbec.service.context import ServiceContext
from cbec.service.deps import ApiError, error_response
from cbec.service.intake import Intake, read_bodies
from cbec.store import Outcome, spool
from cbec.store import inbox as inbox_repo
from cbec.store.db import SQLITE_POLL_LOCK
from cbec.store.schema import message_subscriber

log = logging.getLogger("cbec.service.accepting")


@dataclass(frozen=True, slots=True)
class Submitted:
    """One request as the route hands it over."""

    principal: Principal
    body: bytes
    content_type: str | None
    certificates: tuple[Any, ...] = ()


@dataclass(slots=True)
class _Ready:
    """A message that passed every check, ready for the inbox."""

    intake: Intake
    decoded: DecodedMessage
    item: inbox_repo.InboxItem
    subscribers: dict[str, str]
    now: datetime


def accept_many(ctx: ServiceContext, requests: list[Submitted]) -> list[JSONResponse]:
    """The answer to each request, in order (refusals, or acknowledgements after one commit)."""
    answers: list[JSONResponse | None] = [None] * len(requests)
    ready: dict[int, _Ready] = {}
    intakes = read_bodies([(r.body, r.content_type) for r in requests])
    for i, (request, intake) in enumerate(zip(requests, intakes, strict=True)):
        try:
            ready[i] = _check(ctx, request, intake)
        except ApiError as exc:
            answers[i] = error_response(exc)
        except _Refusal as refusal:
            answers[i] = refusal.response
    if ready:
        try:
            outcomes = _store(ctx, list(ready.values()))
        except Exception:  # one bad row must not cost the others their answer: store each alone
            log.exception("group commit failed; storing the %d messages one by one", len(ready))
            outcomes = []
            for r in ready.values():
                try:
                    outcomes.append(_store(ctx, [r])[0])
                except Exception:
                    log.exception("storing one message failed")
                    outcomes.append(None)
        for i, outcome in zip(ready, outcomes, strict=True):
            answers[i] = _answer(ready[i], outcome)
        if ctx.clearing is not None:
            ctx.clearing.wake()
    return [a if a is not None else _server_error() for a in answers]


class _Refusal(Exception):
    def __init__(self, response: JSONResponse) -> None:
        super().__init__("refused")
        self.response = response


def _check(ctx: ServiceContext, request: Submitted, intake: Intake) -> _Ready:
    if not intake.ok or intake.decoded is None:
        raise _Refusal(JSONResponse(_format_refusal(intake), status_code=400))
    decoded = intake.decoded
    now = ctx.clock()
    heads = [d.head for d in decoded.documents]
    decision = authorize_send(
        request.principal, decoded.message_type, heads, at=now, transfer=decoded.transfer
    )
    if not decision.allowed:
        raise ApiError.of(decision)
    if ctx.settings.verify_signatures:
        _check_signature(ctx, intake, decoded, request.certificates)
    packed, digest = inbox_repo.pack(intake.xml, ctx.data_keys)
    item = inbox_repo.InboxItem(
        guid=(decoded.guid or digest)[:64],
        message_type=decoded.message_type[:32],
        raw=packed,
        sender=_sender(request.principal, decoded),
        dxp_id=(decoded.transfer or {}).get("dxpId"),
        received_at=now,
        codec=inbox_repo.SEALED,
        sha256=digest,
    )
    subscribers = {
        str(s.get("dxpAddress"))[:100]: str(s.get("status") or "ALL")[:4]
        for s in decoded.subscribes
        if s.get("dxpAddress")
    }
    return _Ready(intake, decoded, item, subscribers, now)


def _store(ctx: ServiceContext, ready: list[_Ready]) -> list[inbox_repo.AcceptOutcome | None]:
    """One transaction for all: the messages and the third parties they name in BaseSubscribe."""
    if ctx.spool is not None:  # SQLite: a commit the clearer's writes never hold up (cbec.store.spool)
        return list(spool.put(ctx.spool, ctx.engine, [spool.Spooled(r.item, r.subscribers) for r in ready]))
    # SQLite: poll for the write lock (the clearer's writes end at any moment; see cbec.store.db)
    with ctx.engine.connect().execution_options(**{SQLITE_POLL_LOCK: True}) as conn, conn.begin():
        outcomes = inbox_repo.accept(conn, [r.item for r in ready])
        rows = [
            {"inbox_id": o.id, "dxp_address": a, "status": st}
            for r, o in zip(ready, outcomes, strict=True)
            if o.outcome == Outcome.NEW
            for a, st in r.subscribers.items()
        ]
        if rows:
            conn.execute(message_subscriber.insert(), rows)
    return list(outcomes)


def _answer(ready: _Ready, outcome: inbox_repo.AcceptOutcome | None) -> JSONResponse:
    guid = ready.item.guid
    if outcome is None:
        return _server_error()
    if outcome.outcome == Outcome.CONFLICT:
        return error_response(
            ApiError(
                409,
                "guid-conflict",
                f"报文guid {guid} 已以不同内容接收，未保存",
                f"guid {guid} was received before with different content; not stored",
                field="guid",
            )
        )
    return JSONResponse(
        {
            "accepted": True,
            "outcome": "new" if outcome.outcome == Outcome.NEW else "repeat",
            "guid": guid,
            "inboxId": outcome.id,
            "messageType": ready.decoded.message_type,
            "documents": len(ready.decoded.documents),
            "receivedAt": ready.now.isoformat(),
            "format": {
                "returnStatus": "0",
                "warnings": [f.to_dict() for f in ready.intake.findings if f.severity == "warning"][:50],
            },
        },
        status_code=202,
    )


def _server_error() -> JSONResponse:
    return error_response(
        ApiError(500, "not-stored", "报文未能保存，请重发", "the message could not be stored; send it again")
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
    if not certificates:
        verdict = verify_message(intake.xml, None, at=at)  # says why: no certificate on file
    for cert in certificates:  # the message is parsed once per certificate tried, normally one
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
