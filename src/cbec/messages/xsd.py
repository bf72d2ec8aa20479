"""Validation against the official XSDs.

The XSDs are GACC's files; the project does not ship copies.  They are read from ``$CBEC_XSD_DIR`` or from
``../shared/ceb-spec/xsd`` beside the checkout.  When they are absent, :func:`xsd_available` says so and
callers fall back to the field-table checks, which are derived from the same XSDs.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from lxml import etree

from cbec.messages.findings import Finding, finding
from cbec.paths import ceb_spec_dir

FILES = {
    "import": "ceb-import-202205.xsd",
    "export": "ceb-export-202205.xsd",
    "terminal": "ceb-terminal-202205.xsd",
}


def xsd_dir() -> Path:
    env = os.environ.get("CBEC_XSD_DIR")
    return Path(env) if env else ceb_spec_dir() / "xsd"


def xsd_available() -> bool:
    return all((xsd_dir() / f).is_file() for f in FILES.values())


@cache
def schema(family: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    doc = etree.parse(str(xsd_dir() / FILES[family]), parser)
    return etree.XMLSchema(doc)


def validate_tree(root: etree._Element, family: str) -> list[Finding]:
    """Findings (DXP code 0002) for every XSD violation, with the line and the schema's own message."""
    xs = schema(family)
    if xs.validate(root):
        return []
    out = []
    for err in xs.error_log:  # type: ignore[attr-defined]
        path = err.path or "/"
        out.append(finding("xml.schema", path, detail=f"line {err.line}: {err.message}"))
    return out


def validate_bytes(data: bytes, family: str) -> list[Finding]:
    from cbec.messages.safe_xml import XmlRejected, parse_untrusted

    try:
        parsed = parse_untrusted(data)
    except XmlRejected as rej:
        return rej.findings
    return validate_tree(parsed.root, family)
