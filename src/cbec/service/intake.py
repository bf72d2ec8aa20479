"""From an HTTP request body to a message the inbox can store: XML as sent, a DxpMsg envelope, or JSON.

A JSON body is the same documents as the XML message (``{"messageType", "documents": [{"head", "lines"}],
"baseTransfer", "baseSubscribe"}``, field names as in the spec, numbers as strings or numbers); it is turned
into the CEB XML by the strict writer, so the inbox only ever holds CEB XML and replay has one path.  Any
problem in the body becomes findings with the field and the reason in 中文 and English, and a CEB900 format
receipt, exactly as for XML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cbec.messages.decode import DecodedMessage, decode
from cbec.messages.encode import EncodeError, OutDocument, build
from cbec.messages.findings import Finding, finding
from cbec.messages.format_receipt import build_format_receipt, return_status
from cbec.messages.spec import message_spec

XML_TYPES = ("application/xml", "text/xml")
JSON_TYPE = "application/json"


@dataclass(slots=True)
class Intake:
    """A message read from a request: its CEB XML, what it decodes to, and whether it can be accepted."""

    xml: bytes
    decoded: DecodedMessage | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.decoded is not None and not self.errors

    @property
    def message_type(self) -> str | None:
        return self.decoded.message_type if self.decoded is not None else None

    def format_receipt(self) -> bytes:
        """The CEB900 receipt for a refused message (its original embedded, as customs does)."""
        cop_msg_id = self.decoded.envelope.cop_msg_id if self.decoded and self.decoded.envelope else None
        return build_format_receipt(
            self.errors, self.xml, message_type=self.message_type, cop_msg_id=cop_msg_id
        )

    def format_status(self) -> str:
        """CEB900 ``returnStatus`` of the format check: 0 when it passed, else the DXP error class."""
        return return_status(self.errors) if self.errors else "0"


def read_body(body: bytes, content_type: str | None) -> Intake:
    """Read a request body; JSON when the content type says so, XML (business message or DxpMsg) otherwise."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == JSON_TYPE or kind.endswith("+json"):
        return _from_json(body)
    decoded = decode(body)
    return Intake(xml=body, decoded=decoded, findings=list(decoded.findings))


def _from_json(body: bytes) -> Intake:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Intake(xml=body, decoded=None, findings=[_json_problem("$", f"not valid JSON: {exc}")])
    if not isinstance(data, dict):
        return Intake(xml=body, decoded=None, findings=[_json_problem("$", "the body must be a JSON object")])
    mtype = data.get("messageType")
    if not isinstance(mtype, str):
        return Intake(
            xml=body, decoded=None, findings=[_json_problem("$.messageType", "missing or not a string")]
        )
    try:
        message_spec(mtype)
    except KeyError:
        return Intake(xml=body, decoded=None, findings=[finding("root.unknown", "$.messageType", root=mtype)])
    docs = data.get("documents")
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        return Intake(
            xml=body, decoded=None, findings=[_json_problem("$.documents", "must be a list of objects")]
        )
    out_docs = []
    for k, doc in enumerate(docs):
        head = doc.get("head", {})
        lines = doc.get("lines", [])
        if not isinstance(head, dict) or not isinstance(lines, list):
            return Intake(
                xml=body,
                decoded=None,
                findings=[_json_problem(f"$.documents[{k}]", "head must be an object, lines a list")],
            )
        out_docs.append(OutDocument(_plain(head), [_plain(x) for x in lines if isinstance(x, dict)]))
    transfer = data.get("baseTransfer")
    subscribes = data.get("baseSubscribe") or []
    guid = data.get("guid")
    try:
        root = build(
            mtype,
            out_docs,
            transfer=_plain(transfer) if isinstance(transfer, dict) else None,
            subscribes=[_plain(s) for s in subscribes if isinstance(s, dict)],
            guid=str(guid) if guid else None,
        )
    except EncodeError as exc:
        return Intake(xml=body, decoded=None, findings=list(exc.findings))
    from lxml import etree

    xml = bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    decoded = decode(xml)
    return Intake(xml=xml, decoded=decoded, findings=list(decoded.findings))


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """JSON values as the writer takes them: numbers as exact decimal text, nulls dropped."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        elif isinstance(value, int | float):
            out[key] = repr(value) if isinstance(value, float) else str(value)
        else:
            out[key] = value
    return out


def _json_problem(path: str, detail: str) -> Finding:
    return finding("xml.malformed", path, detail=detail)
