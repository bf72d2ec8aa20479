"""The CEB message catalogue, loaded from the field table derived from the official XSDs.

Every message type is described once, as data (``data/ceb-2022.json``, produced by
``scripts/derive_message_tables.py``).  The generic decoder and encoder read these descriptions; there is no
class per message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

CEB_NS = "http://www.chinaport.gov.cn/ceb"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DXP_NS = "http://www.chinaport.gov.cn/dxp"

FieldType = Literal["string", "decimal", "int", "xml"]
TimeFormat = Literal["ts14", "ts17", "date8"]

TIME_PATTERNS: dict[str, str] = {"ts14": "%Y%m%d%H%M%S", "ts17": "%Y%m%d%H%M%S%3f", "date8": "%Y%m%d"}


@dataclass(frozen=True, slots=True)
class Field:
    """One leaf element of a CEB entity, with the facets the XSD puts on it."""

    name: str
    type: FieldType
    required: bool
    doc: str = ""
    length: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    total_digits: int | None = None
    fraction_digits: int | None = None
    format: TimeFormat | None = None
    fixed: str | None = None  # the XSD's fixed="" value (import currency is always 142)

    @property
    def notation(self) -> str:
        """The spec's own notation (C..18, C36, N19,5, N9) — what an enterprise developer recognises."""
        if self.type == "decimal":
            return f"N{self.total_digits},{self.fraction_digits or 0}"
        if self.type == "int":
            return f"N{self.total_digits}" if self.total_digits else "int"
        if self.length is not None:
            return f"C{self.length}"
        if self.max_length is not None:
            low = str(self.min_length) if self.min_length and self.min_length > 1 else ""
            return f"C{low}..{self.max_length}"
        return "C"


@dataclass(frozen=True, slots=True)
class Entity:
    """An ordered group of fields (a head, a line, BaseTransfer …)."""

    name: str
    fields: tuple[Field, ...]
    index: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def get(self, name: str) -> Field | None:
        i = self.index.get(name)
        return None if i is None else self.fields[i]


@dataclass(frozen=True, slots=True)
class ChildSlot:
    element: str
    min: int
    max: int | None
    namespace: str = "ceb"


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """How one message type is built: root, document element, head/lines entities, child order."""

    root: str
    code: str
    family: Literal["import", "export"]
    kind: Literal["data", "receipt"]
    title: str
    document: str
    documents_min: int
    documents_max: int | None
    head: Entity
    lines: Entity | None
    lines_min: int
    lines_max: int | None
    children: tuple[ChildSlot, ...]
    signature_required: bool

    @property
    def wrapped(self) -> bool:
        """True when the document element wraps a head and lines (Order → OrderHead + OrderList)."""
        return self.document != self.head.name


def _entity(name: str, raw: list[dict[str, Any]]) -> Entity:
    fields = tuple(
        Field(
            name=f["name"],
            type=f["type"],
            required=f["required"],
            doc=f.get("doc", ""),
            length=f.get("length"),
            min_length=f.get("min_length"),
            max_length=f.get("max_length"),
            total_digits=f.get("total_digits"),
            fraction_digits=f.get("fraction_digits"),
            format=f.get("format"),
            fixed=f.get("fixed"),
        )
        for f in raw
    )
    return Entity(name=name, fields=fields, index={f.name: i for i, f in enumerate(fields)})


@dataclass(frozen=True)
class Catalogue:
    messages: dict[str, MessageSpec]
    envelope: dict[str, Entity]
    source: str

    def get(self, root: str) -> MessageSpec | None:
        return self.messages.get(root)


@cache
def catalogue() -> Catalogue:
    raw = json.loads(resources.files("cbec.messages").joinpath("data/ceb-2022.json").read_text("utf-8"))
    messages: dict[str, MessageSpec] = {}
    for root, m in raw["messages"].items():
        ents = raw["entities"][m["family"]]
        doc = m["document"]
        messages[root] = MessageSpec(
            root=root,
            code=m["code"],
            family=m["family"],
            kind=m["kind"],
            title=m["title"],
            document=doc["element"],
            documents_min=doc["min"],
            documents_max=doc["max"],
            head=_entity(doc["head"], ents[doc["head"]]),
            lines=_entity(doc["lines"], ents[doc["lines"]]) if doc["lines"] else None,
            lines_min=doc["lines_min"],
            lines_max=doc["lines_max"],
            children=tuple(
                ChildSlot(c["element"], c["min"], c["max"], c.get("namespace", "ceb")) for c in m["children"]
            ),
            signature_required=m["signature_required"],
        )
    envelope = {
        name: _entity(name, raw["entities"]["import"][name])
        for name in ("BaseTransfer", "BaseSubscribe", "ExtendMessage")
    }
    return Catalogue(messages=messages, envelope=envelope, source=raw["source"])


_ROOT_RE = re.compile(r"^CEB(\d{3})(Message)?$")


def resolve_root(local_name: str) -> tuple[MessageSpec | None, bool]:
    """Find the spec for a root element name; the flag says the name was not the canonical one.

    The official CEB214 sample uses ``CEB214`` as its root; we accept the short form and warn.
    """
    cat = catalogue()
    spec = cat.get(local_name)
    if spec is not None:
        return spec, False
    m = _ROOT_RE.match(local_name)
    if m:
        spec = cat.get(f"CEB{m.group(1)}Message")
        return spec, spec is not None
    return None, False


def message_spec(root: str) -> MessageSpec:
    spec, _ = resolve_root(root)
    if spec is None:
        raise KeyError(f"unknown CEB message type {root!r}")
    return spec


def message_types() -> list[str]:
    return list(catalogue().messages)
