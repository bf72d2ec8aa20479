"""Hardened XML parsing for messages that come from outside.

Why a module of its own: every byte an enterprise sends passes here first, so this is where hostile input is
stopped (entity expansion, external entities, DTDs, very large or very deep documents) and where the encodings
real senders use (UTF-8 with or without BOM, lower-case names, GBK/GB2312/GB18030 declarations, GBK bytes
declared as UTF-8) are turned into one well-defined UTF-8 document for libxml2.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass, field

from lxml import etree

from cbec.messages.findings import Finding, finding

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# libxml2 refuses nesting beyond 256 levels unless XML_PARSE_HUGE is set; CEB messages need fewer than 10.
MAX_DEPTH = 256

_DECL_RE = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"'][^>]*\?>", re.S)
_DECL_ANY_RE = re.compile(rb"^\s*<\?xml[^>]*\?>", re.S)
_CHINESE_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "euc-cn", "x-gbk", "gb_2312-80", "csgb2312"}
_UTF8_BOM = codecs.BOM_UTF8


def max_message_bytes() -> int:
    """The size limit, overridable by the operator (``CBEC_MAX_MESSAGE_BYTES``)."""
    raw = os.environ.get("CBEC_MAX_MESSAGE_BYTES")
    return int(raw) if raw and raw.isdigit() else DEFAULT_MAX_BYTES


class _RefuseAll(etree.Resolver):
    """Defence in depth: even if a DTD slipped past the check, nothing outside the message is ever read."""

    def resolve(self, system_url: str, public_id: str, context: object) -> None:  # type: ignore[override]
        raise XmlRejected([finding("xml.dtd_forbidden", "/")])


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseAll())
    return parser


_PARSER = _parser()


class XmlRejected(Exception):
    """The bytes cannot be read as a safe XML document; ``findings`` says why."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("; ".join(f.message_en for f in findings))
        self.findings = findings


@dataclass(slots=True)
class ParsedXml:
    root: etree._Element
    encoding: str
    warnings: list[Finding] = field(default_factory=list)
    size: int = 0


def _normalise_encoding(data: bytes) -> tuple[bytes, str, list[Finding]]:
    """Return UTF-8 bytes with a UTF-8 (or no) declaration, the encoding used, and any warnings."""
    warnings: list[Finding] = []
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise XmlRejected([finding("xml.encoding", "/", detail=str(exc))]) from exc
        body = text.encode("utf-8")
        decl = _DECL_ANY_RE.match(body)
        return (body[decl.end() :] if decl else body), "UTF-16", warnings
    m = _DECL_RE.match(data)
    declared = m.group(1).decode("ascii").lower() if m else "utf-8"
    if declared in _CHINESE_FAMILY:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise XmlRejected([finding("xml.encoding", "/", detail=f"declared {declared}: {exc}")]) from exc
        body = text.encode("utf-8")
        decl = _DECL_ANY_RE.match(body)
        return (body[decl.end() :] if decl else body), declared.upper(), warnings
    if declared in {"utf-8", "utf8"}:
        # Checked by libxml2 while parsing; see _gbk_declared_utf8 for the fallback.
        return data, "UTF-8", warnings
    try:
        codecs.lookup(declared)
    except LookupError as exc:
        raise XmlRejected([finding("xml.encoding", "/", detail=f"unknown encoding {declared}")]) from exc
    try:
        text = data.decode(declared)
    except UnicodeDecodeError as exc:
        raise XmlRejected([finding("xml.encoding", "/", detail=f"declared {declared}: {exc}")]) from exc
    body = text.encode("utf-8")
    decl = _DECL_ANY_RE.match(body)
    return (body[decl.end() :] if decl else body), declared.upper(), warnings


def _gbk_declared_utf8(body: bytes) -> bytes | None:
    """Real senders sometimes declare UTF-8 and send GBK: re-encode such bytes, if they are valid GB18030."""
    try:
        body.decode("utf-8")
        return None  # the bytes are fine; the parse failed for another reason
    except UnicodeDecodeError:
        pass
    try:
        text = body.decode("gb18030")
    except UnicodeDecodeError:
        return None
    utf8 = text.encode("utf-8")
    decl = _DECL_ANY_RE.match(utf8)
    return utf8[decl.end() :] if decl else utf8


def parse_untrusted(data: bytes, *, limit: int | None = None) -> ParsedXml:
    """Parse bytes from outside into an element tree, or raise :class:`XmlRejected`."""
    size = len(data)
    limit = max_message_bytes() if limit is None else limit
    if size > limit:
        raise XmlRejected([finding("xml.too_large", "/", size=size, limit=limit)])
    if not data or data.isspace():
        raise XmlRejected([finding("xml.empty", "/")])
    body, encoding, warnings = _normalise_encoding(data)
    # Anywhere in the bytes, not only in a prolog we would have to parse ourselves (a comment can hide a '<'):
    # a CEB message never needs a DTD, and the text cannot occur unescaped outside comments and CDATA.
    # (most messages have no '!' at all: one memchr-speed scan for it spares the two substring searches)
    if b"!" in body and (b"<!DOCTYPE" in body or b"<!ENTITY" in body):
        raise XmlRejected([finding("xml.dtd_forbidden", "/")])
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        if encoding == "UTF-8":
            retry = _gbk_declared_utf8(body)
            if retry is not None:
                parsed = parse_untrusted(retry, limit=limit)
                parsed.warnings.insert(
                    0, finding("tolerated.encoding", "/", declared="UTF-8", used="GB18030")
                )
                parsed.encoding = "GB18030"
                parsed.size = size
                return parsed
        text = str(exc)
        if "depth" in text.lower():
            raise XmlRejected([finding("xml.too_deep", "/", limit=MAX_DEPTH)]) from exc
        if "encoding" in text.lower() or "utf-8" in text.lower():
            raise XmlRejected([finding("xml.encoding", "/", detail=text)]) from exc
        raise XmlRejected([finding("xml.malformed", "/", detail=text)]) from exc
    if root is None:
        raise XmlRejected([finding("xml.empty", "/")])
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype:
        raise XmlRejected([finding("xml.dtd_forbidden", "/")])
    return ParsedXml(root=root, encoding=encoding, warnings=warnings, size=size)


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def best_effort_text(data: bytes) -> str:
    """The message as text for quoting back (CEB900 ``oriBizMessage``): its own encoding when it can be read,
    else replacement characters; characters XML cannot carry are replaced too."""
    try:
        body, _encoding, _w = _normalise_encoding(data)
        text = body.decode("utf-8")
    except (XmlRejected, UnicodeDecodeError):
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
    return _XML_INVALID.sub("\ufffd", text)


def parse_only(data: bytes) -> etree._Element:
    """Plain parse with the same hardened parser: the speed limit the codec benchmark compares against."""
    return etree.fromstring(data, _PARSER)
