"""Strict writer: records in, CEB XML out that validates against the official XSD.

Everything is checked before a byte is written — required fields, lengths, digits, time formats — and a bad
record raises :class:`EncodeError` with findings naming the path, rather than emitting a message customs would
bounce with a CEB900.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from cbec.messages.findings import Finding, finding
from cbec.messages.signature import SigningIdentity, sign
from cbec.messages.spec import CEB_NS, TIME_PATTERNS, Entity, Field, MessageSpec, catalogue, message_spec

Record = Mapping[str, Any]
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # xs:int


class EncodeError(ValueError):
    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("; ".join(str(f) for f in findings[:5]))
        self.findings = findings


@dataclass
class OutDocument:
    head: Record
    lines: Sequence[Record] = field(default_factory=list)


def new_guid() -> str:
    return str(uuid.uuid4()).upper()


def format_value(f: Field, value: Any) -> str:
    """The text the spec expects for a value of this field."""
    if isinstance(value, datetime | date) and f.format:
        text = value.strftime(TIME_PATTERNS[f.format].replace("%3f", "%f"))
        return text[:-3] if f.format == "ts17" else text
    if f.type == "decimal":
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        text = format(d, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text or "0"
    if f.type == "int":
        return str(int(value))
    return str(value)


def _check(f: Field, text: str, path: str) -> Finding | None:
    n = len(text)
    if f.type == "decimal":
        try:
            d = Decimal(text)
        except InvalidOperation:
            return finding("field.decimal", path, field=f.name, value=text, expected=f.notation)
        _sign, mantissa, exp = d.as_tuple()
        frac = -int(exp) if int(exp) < 0 else 0
        whole = len(mantissa) - frac
        if frac > (f.fraction_digits or 0) or whole > (f.total_digits or 19) - (f.fraction_digits or 0):
            return finding("field.decimal", path, field=f.name, value=text, expected=f.notation)
        return None
    if f.type == "int":
        digits = text.lstrip("+-")
        if (
            not digits.isdigit()
            or (f.total_digits and len(digits) > f.total_digits)
            or not INT_MIN <= int(text) <= INT_MAX
        ):
            return finding("field.integer", path, field=f.name, value=text, expected=f.notation)
        return None
    if f.fixed is not None and text != f.fixed:
        return finding("field.fixed", path, field=f.name, value=text, expected=f.fixed)
    if f.length is not None and n != f.length:
        return finding("field.length", path, field=f.name, actual=n, expected=f.notation)
    if f.max_length is not None and n > f.max_length:
        return finding("field.length", path, field=f.name, actual=n, expected=f.notation)
    if f.min_length is not None and n < f.min_length:
        return finding("field.length", path, field=f.name, actual=n, expected=f.notation)
    return None


def _ceb(tag: str) -> str:
    return f"{{{CEB_NS}}}{tag}"


def _fill(parent: etree._Element, entity: Entity, record: Record, path: str, problems: list[Finding]) -> None:
    el = etree.SubElement(parent, _ceb(entity.name))
    known = set(entity.index)
    for extra in record.keys() - known:
        if not str(extra).startswith("_"):
            problems.append(
                finding("tolerated.unknown_element", f"{path}/{extra}", element=extra, severity="error")
            )
    for f in entity.fields:
        value = record.get(f.name)
        where = f"{path}/{f.name}"
        try:
            text = None if value is None else format_value(f, value)
        except (ValueError, TypeError, ArithmeticError):
            code = {"decimal": "field.decimal", "int": "field.integer"}.get(f.type, "field.time")
            problems.append(finding(code, where, field=f.name, value=str(value), expected=f.notation))
            continue
        if text is None or (text.strip() == "" and f.min_length != 0):
            # an element the XSD allows to be empty (minLength 0) is written empty rather than dropped
            if f.required:
                problems.append(finding("field.required", where, field=f.name))
            continue
        problem = _check(f, text, where)
        if problem:
            problems.append(problem)
            continue
        etree.SubElement(el, _ceb(f.name)).text = text


def build(
    message_type: str,
    documents: Sequence[OutDocument],
    *,
    transfer: Record | None = None,
    subscribes: Sequence[Record] = (),
    guid: str | None = None,
    version: str = "1.0",
) -> etree._Element:
    """Build the element tree of a message, or raise EncodeError listing every problem."""
    spec = message_spec(message_type)
    problems: list[Finding] = []
    root = etree.Element(_ceb(spec.root), nsmap={"ceb": CEB_NS}, guid=guid or new_guid(), version=version)
    if not documents:
        problems.append(finding("document.missing", f"/{spec.root}", element=spec.document))
    if spec.documents_max is not None and len(documents) > spec.documents_max:
        problems.append(
            finding(
                "document.too_many",
                f"/{spec.root}",
                element=spec.document,
                count=len(documents),
                limit=spec.documents_max,
            )
        )
    for k, doc in enumerate(documents):
        path = f"/{spec.root}/{spec.document}[{k + 1}]"
        _document(root, spec, doc, path, problems)
    if spec.kind == "data":
        envelope = catalogue().envelope
        if transfer is None:
            problems.append(finding("transfer.missing", f"/{spec.root}"))
        else:
            _fill(root, envelope["BaseTransfer"], transfer, f"/{spec.root}/BaseTransfer", problems)
        for i, sub in enumerate(subscribes[:5]):
            _fill(root, envelope["BaseSubscribe"], sub, f"/{spec.root}/BaseSubscribe[{i + 1}]", problems)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise EncodeError(errors)
    return root


def _document(
    root: etree._Element, spec: MessageSpec, doc: OutDocument, path: str, problems: list[Finding]
) -> None:
    if not spec.wrapped:
        _fill(root, spec.head, doc.head, path, problems)
        return
    wrapper = etree.SubElement(root, _ceb(spec.document))
    _fill(wrapper, spec.head, doc.head, f"{path}/{spec.head.name}", problems)
    if spec.lines is None:
        return
    if len(doc.lines) < spec.lines_min:
        problems.append(finding("document.lines_missing", path, element=spec.lines.name))
    if spec.lines_max is not None and len(doc.lines) > spec.lines_max:
        problems.append(
            finding(
                "document.too_many_lines",
                path,
                element=spec.lines.name,
                count=len(doc.lines),
                limit=spec.lines_max,
            )
        )
    for j, line in enumerate(doc.lines):
        _fill(wrapper, spec.lines, line, f"{path}/{spec.lines.name}[{j + 1}]", problems)


def encode(
    message_type: str,
    documents: Sequence[OutDocument],
    *,
    transfer: Record | None = None,
    subscribes: Sequence[Record] = (),
    guid: str | None = None,
    version: str = "1.0",
    signer: SigningIdentity | None = None,
    algorithm: str = "rsa-sha1",
    pretty: bool = False,
) -> bytes:
    """Encode a message to UTF-8 bytes; messages the XSD says must be signed need a ``signer``."""
    root = build(
        message_type, documents, transfer=transfer, subscribes=subscribes, guid=guid, version=version
    )
    spec = message_spec(message_type)
    if pretty:
        etree.indent(root, space="  ")
    if signer is not None:
        sign(root, signer, algorithm)
    elif spec.signature_required:
        raise EncodeError([finding("signature.missing", f"/{spec.root}")])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
