"""Decode one CEB message into typed records (documents with head and lines) and its findings.

The same column pipeline as a batch is used (a batch of one), so a parcel arriving over HTTP and ten million
in a replay are read by one piece of code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cbec.messages.columns import ColumnBatch
from cbec.messages.envelope import DxpEnvelope
from cbec.messages.extract import RawMessage, SignatureInfo
from cbec.messages.findings import Finding
from cbec.messages.spec import MessageSpec

Record = dict[str, Any]


@dataclass
class Document:
    """One business document: its head and, for head+lines messages, its lines."""

    head: Record
    lines: list[Record] = field(default_factory=list)


@dataclass
class DecodedMessage:
    message_type: str
    spec: MessageSpec | None
    guid: str | None
    version: str | None
    encoding: str
    documents: list[Document]
    transfer: dict[str, str | None] | None
    subscribes: list[dict[str, str | None]]
    extend: dict[str, str | None] | None
    signature: SignatureInfo | None
    envelope: DxpEnvelope | None
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view: Decimals and times as the strings the spec uses."""
        return {
            "messageType": self.message_type,
            "family": self.spec.family if self.spec else None,
            "guid": self.guid,
            "version": self.version,
            "encoding": self.encoding,
            "documents": [
                {
                    "head": _json_record(d.head),
                    **({"lines": [_json_record(x) for x in d.lines]} if d.lines else {}),
                }
                for d in self.documents
            ],
            "baseTransfer": self.transfer,
            "baseSubscribe": self.subscribes,
            "extendMessage": self.extend,
            "signature": None
            if self.signature is None
            else {
                "present": True,
                "signatureMethod": self.signature.signature_method,
                "digestMethod": self.signature.digest_method,
                "keyName": self.signature.key_name,
                "hasCertificate": self.signature.has_certificate,
            },
            "envelope": None if self.envelope is None else self.envelope.__dict__ | {},
            "errors": [f.to_dict() for f in self.errors],
            "warnings": [f.to_dict() for f in self.warnings],
        }


def plain_decimal(d: Decimal) -> str:
    """14000.00000 -> '14000', 1.50000 -> '1.5' (never exponent notation)."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _json_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return plain_decimal(v)
    if isinstance(v, datetime):
        return v.isoformat(timespec="milliseconds") if v.microsecond else v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def _json_record(r: Record) -> Record:
    return {k: _json_value(v) for k, v in r.items() if v is not None}


def messages_from_batch(batch: ColumnBatch, *, lines: bool = True) -> list[DecodedMessage]:
    """Every message of a batch as records, in one pass over each table (not one filter per message).

    ``lines=False`` leaves the document lines out (the service's intake needs only the heads: turning
    every line into a record is a good part of its work per message).
    """
    heads: dict[int, dict[int, Document]] = {}
    for (root, entity), frame in batch.tables.items():
        spec = next((r.spec for r in batch.raw if r.spec is not None and r.spec.root == root), None)
        if spec is None or entity != spec.head.name:
            continue
        for rec in frame.sort("_msg", "_doc").to_dicts():
            m, d = int(rec.pop("_msg")), int(rec.pop("_doc"))
            rec.pop("_line")
            heads.setdefault(m, {})[d] = Document(head=rec)
    for (root, entity), frame in batch.tables.items():
        spec = next((r.spec for r in batch.raw if r.spec is not None and r.spec.root == root), None)
        if not lines or spec is None or spec.lines is None or entity != spec.lines.name:
            continue
        for rec in frame.sort("_msg", "_doc", "_line").to_dicts():
            m, d = int(rec.pop("_msg")), int(rec.pop("_doc"))
            rec.pop("_line")
            heads.setdefault(m, {}).setdefault(d, Document(head={})).lines.append(rec)
    by_msg: dict[int, list[Finding]] = {}
    for row in batch.findings.iter_rows(named=True):
        by_msg.setdefault(row["_msg"], []).append(
            Finding(
                row["severity"],
                row["code"],
                row["path"],
                row["field"],
                row["message_zh"],
                row["message_en"],
                row["dxp_code"] or "",
            )
        )
    out = []
    for raw in batch.raw:
        docs = heads.get(raw.index, {})
        out.append(
            message_of(
                raw,
                [docs[k] for k in sorted(docs)],
                batch.envelopes.get(raw.index),
                by_msg.get(raw.index, []),
            )
        )
    return out


def message_of(
    raw: RawMessage, documents: list[Document], envelope: DxpEnvelope | None, findings: list[Finding]
) -> DecodedMessage:
    """The decoded message of one walked message, its documents and findings (both decoders end here)."""
    return DecodedMessage(
        message_type=raw.message_type,
        spec=raw.spec,
        guid=raw.guid,
        version=raw.version,
        encoding=raw.encoding,
        documents=documents,
        transfer=raw.transfer,
        subscribes=raw.subscribes,
        extend=raw.extend,
        signature=raw.signature,
        envelope=envelope,
        findings=findings,
    )


def decode(data: bytes, *, check_codes: bool = True, strict_codes: bool = False) -> DecodedMessage:
    """Decode one message (business XML or DxpMsg envelope). Never raises on bad input: see ``.errors``.

    One message goes value by value (:mod:`cbec.messages.rowdecode`): the same result as the columnar
    decoder, without its fixed cost per call.
    """
    from cbec.messages.rowdecode import decode_messages  # it builds on this module's records

    return decode_messages([data], check_codes=check_codes, strict_codes=strict_codes)[0]


def decode_file(path: str | Path, *, check_codes: bool = True) -> DecodedMessage:
    return decode(Path(path).read_bytes(), check_codes=check_codes)
