"""Derive the CEB message field tables from the official XSDs.

The ~45 CEB message types all share one shape (root -> documents -> head + lines -> leaf fields), so the codec
is driven by a table rather than by a class per message.  This script reads the official 2022 XSDs (in
``../shared/ceb-spec/xsd``) and writes ``src/cbec/messages/data/ceb-2022.json``, which is committed: the
package never needs the XSDs to decode or encode, only to double-check what it writes.

Run: ``python scripts/derive_message_tables.py [--xsd-dir DIR] [--check]``.  ``--check`` exits 1 when the
committed table differs from what the XSDs give (used by the conformance tests).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "src" / "cbec" / "messages" / "data" / "ceb-2022.json"
FAMILIES = {"import": "ceb-import-202205.xsd", "export": "ceb-export-202205.xsd"}
ENVELOPE_PARTS = ("BaseTransfer", "BaseSubscribe", "ExtendMessage")


def _occurs(el: Any, attr: str, default: int) -> int | None:
    raw = el.get(attr)
    if raw is None:
        return default
    if raw == "unbounded":
        return None
    return int(raw)


def _doc(el: Any) -> str:
    node = el.find(f"{XS}annotation/{XS}documentation")
    return (node.text or "").strip() if node is not None else ""


def _time_format(name: str, doc: str, length: int | None) -> str | None:
    upper = doc.upper()
    looks_like_time = "YYYY" in upper or name.endswith(("Time", "Date")) or name in {"ieDate", "opDate"}
    if not looks_like_time:
        return None
    if length == 17:
        return "ts17"
    if length == 14:
        return "ts14"
    if length == 8:
        return "date8"
    return None


def _leaf(el: Any) -> dict[str, Any]:
    name = el.get("name")
    field: dict[str, Any] = {
        "name": name,
        "required": _occurs(el, "minOccurs", 1) != 0,
        "type": "string",
    }
    restriction = el.find(f"{XS}simpleType/{XS}restriction")
    if restriction is None:
        declared = el.get("type", "xs:string")
        field["type"] = {"xs:int": "int", "xs:decimal": "decimal"}.get(declared, "string")
        if declared == "ceb:XMLElement":
            field["type"] = "xml"
    else:
        base = restriction.get("base")
        field["type"] = {"xs:int": "int", "xs:decimal": "decimal", "xs:string": "string"}[base]
        for facet in restriction:
            if not isinstance(facet.tag, str):
                continue
            key = facet.tag.replace(XS, "")
            value = facet.get("value")
            if key in {"length", "minLength", "maxLength", "totalDigits", "fractionDigits"}:
                field[re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()] = int(value)
            elif key == "whiteSpace":
                field["whitespace"] = value
            elif key == "enumeration":
                field.setdefault("enumeration", []).append(value)
            elif key == "pattern":
                field["pattern"] = value
    if el.get("fixed") is not None:
        field["fixed"] = el.get("fixed")
    doc = _doc(el)
    fmt = _time_format(name, doc, field.get("length"))
    if fmt:
        field["format"] = fmt
    field["doc"] = doc
    return field


class _Schema:
    def __init__(self, path: Path) -> None:
        self.root = etree.parse(str(path)).getroot()
        self.tops = {e.get("name"): e for e in self.root.findall(f"{XS}element")}

    def target(self, el: Any) -> Any:
        ref = el.get("ref")
        return self.tops[ref.split(":", 1)[1]] if ref else el

    def children(self, el: Any) -> list[Any]:
        seq = self.target(el).find(f"{XS}complexType/{XS}sequence")
        return [] if seq is None else [c for c in seq if c.tag == f"{XS}element"]

    def is_complex(self, el: Any) -> bool:
        if el.get("ref", "").startswith("ds:"):
            return True
        return self.target(el).find(f"{XS}complexType") is not None

    def name(self, el: Any) -> str:
        ref = el.get("ref")
        return str(ref.split(":", 1)[1] if ref else el.get("name"))

    def entity(self, el: Any) -> list[dict[str, Any]]:
        return [_leaf(c) for c in self.children(el)]


def _describe_message(schema: _Schema, family: str, root_el: Any, entities: dict[str, Any]) -> dict[str, Any]:
    root_name = root_el.get("name")
    children = schema.children(root_el)
    order: list[dict[str, Any]] = []
    document: dict[str, Any] | None = None
    signature_min = 0
    for child in children:
        if child.get("ref", "").startswith("ds:"):
            signature_min = _occurs(child, "minOccurs", 1) or 0
            order.append({"element": "Signature", "namespace": "ds", "min": signature_min, "max": 1})
            continue
        name = schema.name(child)
        entry = {
            "element": name,
            "min": _occurs(child, "minOccurs", 1),
            "max": _occurs(child, "maxOccurs", 1),
        }
        order.append(entry)
        if name in ENVELOPE_PARTS:
            entities[family].setdefault(name, schema.entity(child))
            continue
        if document is not None:
            raise SystemExit(f"{root_name}: two document elements")
        parts = schema.children(child)
        if parts and all(schema.is_complex(p) for p in parts):
            head, lines = parts[0], parts[1] if len(parts) > 1 else None
            document = {
                "element": name,
                "min": entry["min"],
                "max": entry["max"],
                "head": schema.name(head),
                "lines": schema.name(lines) if lines is not None else None,
                "lines_min": _occurs(lines, "minOccurs", 1) if lines is not None else 0,
                "lines_max": _occurs(lines, "maxOccurs", 1) if lines is not None else 0,
            }
            entities[family].setdefault(schema.name(head), schema.entity(head))
            if lines is not None:
                entities[family].setdefault(schema.name(lines), schema.entity(lines))
        else:
            document = {
                "element": name,
                "min": entry["min"],
                "max": entry["max"],
                "head": name,
                "lines": None,
                "lines_min": 0,
                "lines_max": 0,
            }
            entities[family].setdefault(name, schema.entity(child))
    if document is None:
        raise SystemExit(f"{root_name}: no document element")
    code = re.sub(r"\D", "", root_name)
    kind = "data" if any(o["element"] == "BaseTransfer" for o in order) else "receipt"
    return {
        "root": root_name,
        "code": code,
        "family": family,
        "kind": kind,
        "title": _doc(root_el),
        "document": document,
        "children": order,
        "signature_required": signature_min > 0,
        "has_transfer": kind == "data",
    }


def derive(xsd_dir: Path) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    entities: dict[str, dict[str, Any]] = {"import": {}, "export": {}}
    for family, filename in FAMILIES.items():
        schema = _Schema(xsd_dir / filename)
        for name, el in schema.tops.items():
            if re.fullmatch(r"CEB\d{3}Message", name):
                messages[name] = _describe_message(schema, family, el, entities)
    return {
        "source": "GACC CEB message specification 2022-05 (海关跨境电商统一版系统企业对接报文规范 202205版), "
        "official XSDs ceb-import-202205.xsd and ceb-export-202205.xsd",
        "generated_by": "scripts/derive_message_tables.py",
        "namespace": "http://www.chinaport.gov.cn/ceb",
        "messages": dict(sorted(messages.items(), key=lambda kv: kv[1]["code"])),
        "entities": entities,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xsd-dir", type=Path, default=REPO.parent / "shared" / "ceb-spec" / "xsd")
    parser.add_argument("--check", action="store_true", help="compare with the committed table")
    args = parser.parse_args()
    text = json.dumps(derive(args.xsd_dir), ensure_ascii=False, indent=1) + "\n"
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUT} differs from the XSDs; re-run without --check")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
