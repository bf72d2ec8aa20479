"""The CEB900 format-check receipt (报文格式校验回执) built from findings.

``returnStatus`` is negative for a format failure (spec §7): we send ``-1`` for unreadable XML (DXP 0001) and
``-2`` for a message that parses but breaks the schema or the field rules (DXP 0002).  A message without
errors gets no CEB900 at all: it goes on to the business receipts.  ``returnInfo`` lists each error with its
path, in Chinese and English, within the field's 5,000 characters; ``oriBizMessage`` carries the original
message as the spec requires.
"""

from __future__ import annotations

from datetime import datetime

from cbec.messages.encode import OutDocument, encode, new_guid
from cbec.messages.findings import Finding
from cbec.messages.safe_xml import best_effort_text

RETURN_INFO_LIMIT = 5000


def return_status(errors: list[Finding]) -> str:
    return "-1" if any(e.dxp_code == "0001" for e in errors) else "-2"


def return_info(errors: list[Finding]) -> str:
    parts = [f"{e.path}: {e.message_zh} / {e.message_en}" for e in errors]
    text = "; ".join(parts)
    if len(text) > RETURN_INFO_LIMIT:
        suffix = f" … (+{len(parts)} errors in all)"
        text = text[: RETURN_INFO_LIMIT - len(suffix)] + suffix
    return text


def build_format_receipt(
    errors: list[Finding],
    original: bytes,
    *,
    message_type: str | None,
    cop_msg_id: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """Encode a CEB900Message for a refused message."""
    original_text = best_effort_text(original)
    head = {
        "guid": new_guid(),
        "returnStatus": return_status(errors),
        "returnInfo": return_info(errors) or "format check failed",
        "returnTime": now or datetime.now(),
        "oriCopMsgId": cop_msg_id or "unknown",
        "oriMessageType": (message_type or "unknown")[:15],
        "oriBizMessage": original_text,
    }
    return encode("CEB900Message", [OutDocument(head)])
