"""From an HTTP request body to a message the inbox can store: XML as sent, a DxpMsg envelope, or JSON.

A JSON body is the same documents as the XML message (``{"messageType", "documents": [{"head", "lines"}],
"baseTransfer", "baseSubscribe"}``, field names as in the spec, numbers as strings or numbers); it is turned
into the CEB XML by the strict writer, so the inbox only ever holds CEB XML and replay has one path.  Any
problem in the body becomes findings with the field and the reason in 中文 and English, and a CEB900 format
receipt, exactly as for XML.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree

from cbec.messages.columns import decode_batch
from cbec.messages.decode import DecodedMessage, decode, messages_from_batch
from cbec.messages.encode import EncodeError, OutDocument, build
from cbec.messages.findings import Finding, finding
from cbec.messages.format_receipt import build_format_receipt, return_status
from cbec.messages.rowdecode import decode_messages
from cbec.messages.safe_xml import best_effort_text
from cbec.messages.spec import catalogue, message_spec

XML_TYPES = ("application/xml", "text/xml")
JSON_TYPE = "application/json"

# Characters XML 1.0 cannot carry (NUL, most C0 controls, lone surrogates, U+FFFE/FFFF): a JSON string
# holding one could never become the CEB XML the inbox keeps, so it is a refusal naming the field.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>", re.S)
ROWS_UP_TO = 32
"""Batches of at most this many XML messages are decoded value by value (see :func:`read_bodies`)."""
_MAX_TEXT = 4000
"""Longer than any CEB field (the longest, a note, is 1000): refused before the writer sees it."""


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
        # Findings quote what was sent (an unknown root, a field name): make every quote XML-safe so the
        # receipt about a bad message can always be written.
        errors = [
            replace(f, path=_clean(f.path), message_zh=_clean(f.message_zh), message_en=_clean(f.message_en))
            for f in self.errors
        ]
        mtype = _clean(self.message_type) if self.message_type else None
        return build_format_receipt(
            errors, _quotable(self.xml), message_type=mtype, cop_msg_id=_clean(cop_msg_id) or None
        )

    def format_status(self) -> str:
        """CEB900 ``returnStatus`` of the format check: 0 when it passed, else the DXP error class."""
        return return_status(self.errors) if self.errors else "0"


def read_body(body: bytes, content_type: str | None) -> Intake:
    """Read a request body; JSON when the content type says so, XML (business message or DxpMsg) otherwise."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == JSON_TYPE or kind.endswith("+json"):
        return _from_json(body)
    try:
        decoded = decode_messages([body], lines=False)[0]  # heads are all intake reads
    except (LookupError, UnicodeError) as exc:
        # A declared "encoding" that is a codec but not a text encoding (zlib, rot13, undefined …): the
        # decoder only expects unknown names and bad bytes.  Refused like any other encoding problem.
        return Intake(
            xml=body, decoded=None, findings=[finding("xml.encoding", "/", detail=_clean(str(exc)))]
        )
    return _intake(body, decoded)


def read_bodies(bodies: Sequence[tuple[bytes, str | None]]) -> list[Intake]:
    """:func:`read_body` for several requests at once: the XML ones decode as one batch.

    The requests that arrive together are read in one call; each message is still judged on its own.  Up to
    :data:`ROWS_UP_TO` messages go through the value-by-value decoder, more through the columnar one, whose
    fixed cost per call (about 6 ms) only pays off over a few dozen messages (on the development VM, for
    generated traffic of 1–100 documents a message: 2.4 ms a message by rows at any batch size; by columns
    8.7 ms alone, 3.5 in sixteens, 1.9 in sixty-fours).
    """
    out: list[Intake | None] = [None] * len(bodies)
    xml_at: list[int] = []
    for i, (body, content_type) in enumerate(bodies):
        kind = (content_type or "").split(";")[0].strip().lower()
        if kind == JSON_TYPE or kind.endswith("+json"):
            out[i] = _from_json(body)
        else:
            xml_at.append(i)
    if len(xml_at) == 1:
        out[xml_at[0]] = read_body(*bodies[xml_at[0]])
    elif xml_at:
        try:
            decoded = _decode_heads([bodies[i][0] for i in xml_at])
        except (LookupError, UnicodeError):  # one odd "encoding" in the lot: read each alone
            for i in xml_at:
                out[i] = read_body(*bodies[i])
        else:
            for i, message in zip(xml_at, decoded, strict=True):
                out[i] = _intake(bodies[i][0], message)
    return [x for x in out if x is not None]


def _decode_heads(xml: list[bytes]) -> list[DecodedMessage]:
    if len(xml) <= ROWS_UP_TO:
        return decode_messages(xml, lines=False)
    return messages_from_batch(decode_batch(xml), lines=False)


def _intake(xml: bytes, decoded: DecodedMessage) -> Intake:
    return Intake(xml=xml, decoded=decoded, findings=[*decoded.findings, *_envelope_lengths(decoded)])


def _envelope_lengths(decoded: DecodedMessage) -> list[Finding]:
    """BaseTransfer / BaseSubscribe fields over their spec length, which the decoder lets through.

    The inbox keeps ``dxpId`` and the subscribers' addresses in columns of that size: on PostgreSQL an
    over-long value would fail the insert (a 500) after every other check had passed.
    """
    envelope = catalogue().envelope
    out: list[Finding] = []
    parts = [("BaseTransfer", decoded.transfer or {})] + [("BaseSubscribe", s) for s in decoded.subscribes]
    for name, record in parts:
        for f in envelope[name].fields:
            value = record.get(f.name)
            if f.max_length is not None and isinstance(value, str) and len(value) > f.max_length:
                out.append(
                    finding(
                        "field.length",
                        f"/{decoded.message_type}/{name}/{f.name}",
                        field=f.name,
                        actual=len(value),
                        expected=f"≤{f.max_length}",
                    )
                )
    return out


class _Refused(Exception):
    """A JSON body that cannot become a CEB message; ``finding`` names where and why."""

    def __init__(self, found: Finding) -> None:
        super().__init__(found.message_en)
        self.finding = found


def _from_json(body: bytes) -> Intake:
    try:
        mtype, out_docs, transfer, subscribes, guid = _json_message(body)
        root = build(mtype, out_docs, transfer=transfer, subscribes=subscribes, guid=guid)
    except _Refused as exc:
        return Intake(xml=body, decoded=None, findings=[exc.finding])
    except EncodeError as exc:
        return Intake(xml=body, decoded=None, findings=list(exc.findings))
    xml = bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return _intake(xml, decode(xml))


def _json_message(
    body: bytes,
) -> tuple[str, list[OutDocument], dict[str, Any] | None, list[dict[str, Any]], str | None]:
    """The JSON body's parts as the writer takes them, or :class:`_Refused` at the first wrong shape."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise _Refused(_json_problem("$", "nested too deeply")) from None
    except ValueError as exc:  # not JSON, not UTF-8/16/32, or an integer of thousands of digits
        raise _Refused(_json_problem("$", f"not valid JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise _Refused(_json_problem("$", "the body must be a JSON object"))
    mtype = data.get("messageType")
    if not isinstance(mtype, str) or not mtype:
        raise _Refused(_json_problem("$.messageType", "missing or not a string"))
    try:
        message_spec(mtype)
    except KeyError:
        raise _Refused(finding("root.unknown", "$.messageType", root=_clean(mtype)[:64])) from None
    docs = data.get("documents")
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise _Refused(_json_problem("$.documents", "must be a list of objects"))
    out_docs = []
    for k, doc in enumerate(docs):
        head = doc.get("head", {})
        lines = doc.get("lines", [])
        if not isinstance(head, dict) or not isinstance(lines, list):
            raise _Refused(_json_problem(f"$.documents[{k}]", "head must be an object, lines a list"))
        out_docs.append(
            OutDocument(
                _record(head, f"$.documents[{k}].head"),
                [_record(x, f"$.documents[{k}].lines[{j}]") for j, x in enumerate(lines)],
            )
        )
    transfer = data.get("baseTransfer")
    if transfer is not None and not isinstance(transfer, dict):
        raise _Refused(_json_problem("$.baseTransfer", "must be an object"))
    subscribes = data.get("baseSubscribe")
    if subscribes is None:
        subscribes = []
    if not isinstance(subscribes, list):
        raise _Refused(_json_problem("$.baseSubscribe", "must be a list of objects"))
    guid = data.get("guid")
    if guid is not None and not (isinstance(guid, str) and 0 < len(guid) <= 64 and not _NOT_XML.search(guid)):
        raise _Refused(_json_problem("$.guid", "must be text of 1 to 64 characters"))
    return (
        mtype,
        out_docs,
        _record(transfer, "$.baseTransfer") if transfer is not None else None,
        [_record(s, f"$.baseSubscribe[{i}]") for i, s in enumerate(subscribes)],
        guid,
    )


def _record(record: object, path: str) -> dict[str, Any]:
    """One head, line, BaseTransfer or BaseSubscribe as the writer takes it: flat, text, XML-safe.

    Numbers become exact decimal text and nulls are dropped; nested objects or lists, non-finite numbers
    and characters XML cannot carry are refused with the field's path, since no CEB field holds them.
    """
    if not isinstance(record, dict):
        raise _Refused(_json_problem(path, "must be an object"))
    out: dict[str, Any] = {}
    for key, value in record.items():
        where = f"{path}.{_clean(key)[:64]}"
        if _NOT_XML.search(key) or len(key) > 64:
            raise _Refused(_json_problem(where, "field name is not a CEB field name"))
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "1" if value else "0"
        elif isinstance(value, int):
            out[key] = str(value)  # json.loads already refuses integers of more than 4,300 digits
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _Refused(_json_problem(where, "not a finite number"))
            out[key] = repr(value)
        elif isinstance(value, str):
            if _NOT_XML.search(value):
                raise _Refused(_json_problem(where, "holds a character XML cannot carry (e.g. NUL)"))
            if len(value) > _MAX_TEXT:
                raise _Refused(_json_problem(where, f"longer than {_MAX_TEXT} characters"))
            out[key] = value
        else:
            raise _Refused(_json_problem(where, "must be text or a number, not an object or a list"))
    return out


def _json_problem(path: str, detail: str) -> Finding:
    return replace(finding("xml.malformed", path, detail=detail), field=path)


def _clean(text: str | None) -> str:
    """Text quoted back to the sender, with what XML cannot carry replaced (receipts are XML)."""
    return _NOT_XML.sub("\ufffd", text or "")


def _quotable(original: bytes) -> bytes:
    """The original for the receipt's ``oriBizMessage``, even when its declared encoding is unusable."""
    try:
        best_effort_text(original)
        return original
    except (LookupError, UnicodeError):
        text = original.decode("utf-8", errors="replace")
        return _XML_DECL.sub(b"", text.encode("utf-8"), count=1)
