"""The DxpMsg terminal-node envelope (终端节点报文): business XML, Base64-encoded inside ``<Data>``.

Enterprises that build their own connector send this envelope; the e-port unwraps it and routes the business
message by ``MsgType`` and ``ReceiverId``.  Reading is tolerant like the business decoder; writing follows
``ceb-terminal-202205.xsd``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from cbec.messages.extract import local_name
from cbec.messages.findings import Finding, finding
from cbec.messages.spec import DXP_NS, message_spec

# Customs receiver ids on the DXP (regime reference §2.1, likely).
CUSTOMS_IMPORT_RECEIVER = "DXPEDCCEB0000002"
CUSTOMS_EXPORT_RECEIVER = "DXPEDCCEB0000003"


@dataclass(slots=True)
class DxpEnvelope:
    cop_msg_id: str | None = None
    sender_id: str | None = None
    receiver_ids: list[str] = field(default_factory=list)
    create_time: str | None = None
    msg_type: str | None = None
    file_name: str | None = None
    signature_present: bool = False


def is_envelope(root: etree._Element) -> bool:
    return isinstance(root.tag, str) and local_name(root.tag) == "DxpMsg"


def unwrap(root: etree._Element) -> tuple[DxpEnvelope, bytes | None, list[Finding]]:
    """Read the envelope fields and the Base64 business message (None when it cannot be read)."""
    env = DxpEnvelope()
    findings: list[Finding] = []
    data: bytes | None = None
    for child in root:
        name = local_name(child.tag)
        if name == "TransInfo":
            for item in child:
                iname = local_name(item.tag)
                text = (item.text or "").strip() or None
                if iname == "CopMsgId":
                    env.cop_msg_id = text
                elif iname == "SenderId":
                    env.sender_id = text
                elif iname == "CreatTime":
                    env.create_time = text
                elif iname == "MsgType":
                    env.msg_type = text
                elif iname == "ReceiverIds":
                    env.receiver_ids = [
                        (r.text or "").strip() for r in item if local_name(r.tag) == "ReceiverId" and r.text
                    ]
        elif name == "Data":
            text = "".join((child.text or "").split())
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as exc:
                findings.append(finding("xml.malformed", "/DxpMsg/Data", detail=f"Data is not Base64: {exc}"))
        elif name == "AddInfo":
            for item in child:
                if local_name(item.tag) == "FileName":
                    env.file_name = (item.text or "").strip() or None
        elif name == "Signature":
            env.signature_present = True
    if data is None and not findings:
        findings.append(finding("document.missing", "/DxpMsg", element="Data"))
    return env, data, findings


def wrap(
    business_xml: bytes,
    *,
    msg_type: str,
    sender_id: str,
    receiver_ids: list[str] | None = None,
    cop_msg_id: str | None = None,
    created: datetime | None = None,
) -> bytes:
    """Put a business message into a DxpMsg envelope that validates against the terminal XSD."""
    nsmap = {"dxp": DXP_NS}
    root = etree.Element(f"{{{DXP_NS}}}DxpMsg", nsmap=nsmap, ver="1.0")  # type: ignore[arg-type]
    info = etree.SubElement(root, f"{{{DXP_NS}}}TransInfo")
    etree.SubElement(info, f"{{{DXP_NS}}}CopMsgId").text = cop_msg_id or str(uuid.uuid4())
    etree.SubElement(info, f"{{{DXP_NS}}}SenderId").text = sender_id
    receivers = etree.SubElement(info, f"{{{DXP_NS}}}ReceiverIds")
    family = message_spec(msg_type).family
    default = CUSTOMS_IMPORT_RECEIVER if family == "import" else CUSTOMS_EXPORT_RECEIVER
    for rid in receiver_ids or [default]:
        etree.SubElement(receivers, f"{{{DXP_NS}}}ReceiverId").text = rid
    etree.SubElement(info, f"{{{DXP_NS}}}CreatTime").text = (created or datetime.now()).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    etree.SubElement(info, f"{{{DXP_NS}}}MsgType").text = msg_type
    etree.SubElement(root, f"{{{DXP_NS}}}Data").text = base64.b64encode(business_xml).decode("ascii")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
