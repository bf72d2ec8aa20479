"""Walk a parsed CEB message and collect its field values as raw strings, row by row.

This is the only per-element Python in the decoder, so it is kept lean: one dict lookup per leaf maps the tag
(with the CEB namespace, or with none at all) to a column position.  Everything that is unusual — another
namespace, an unknown element, a duplicate, elements out of XSD order — takes a slower path that records a
warning.  Typing and field checks happen afterwards on whole columns (see :mod:`cbec.messages.fieldcheck`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
from lxml import etree

from cbec.messages.fieldcheck import ColumnFacts, number_facets
from cbec.messages.findings import Finding, finding
from cbec.messages.spec import CEB_NS, DS_NS, Entity, MessageSpec, resolve_root

Row = list[str | None]

_fast_walk: Any
_ColumnSink: Any
_ABI_VERSION = 3  # the interface of _fastleaves this module speaks
try:  # the optional C walk (see _fastleaves.pyx); same results, a fraction of the cost
    from cbec.messages import _fastleaves  # type: ignore[attr-defined]

    if getattr(_fastleaves, "ABI_VERSION", None) != _ABI_VERSION:  # pragma: no cover - a stale build
        raise ImportError("stale _fastleaves build")
    _fast_walk = _fastleaves.walk
    _ColumnSink = _fastleaves.ColumnSink
except ImportError:  # pragma: no cover - depends on the build
    _fast_walk = None
    _ColumnSink = None


def accelerator_available() -> bool:
    return _fast_walk is not None


_LOCAL: dict[Any, str] = {}


def local_name(tag: Any) -> str:
    """'{ns}name' -> 'name' (memoised: the same few hundred tags recur in every message)."""
    name = _LOCAL.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
        if len(_LOCAL) < 4096:
            _LOCAL[tag] = name
    return name


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


@dataclass(slots=True)
class SignatureInfo:
    """What the message's ds:Signature says about itself (verification lives in :mod:`signature`)."""

    present: bool
    namespace_ok: bool = True
    signature_method: str | None = None
    digest_method: str | None = None
    key_name: str | None = None
    has_certificate: bool = False


@dataclass(slots=True)
class EntitySink:
    """Rows of one entity (a head or a line kind) for one message type, across a batch."""

    spec: MessageSpec
    entity: Entity
    role: str  # "head" or "lines"
    tagmap: dict[str, int]
    names: dict[bytes, int] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    msg: list[int] = field(default_factory=list)
    doc: list[int] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    columns: Any = None  # a C ColumnSink when the accelerator walks (rows and keys are there); else here
    # what the C walk noticed about each column (for the field checks), once ``frame`` has run
    facts: dict[str, ColumnFacts] = field(default_factory=dict)

    def frame(self) -> pl.DataFrame:
        """The collected values as String columns, with the _msg/_doc/_line keys first."""
        names = self.entity.names
        if self.columns is None:
            values = pl.DataFrame(self.rows, schema={c: pl.String() for c in names}, orient="row")
            return values.with_columns(
                pl.Series("_msg", self.msg, pl.Int32()),
                pl.Series("_doc", self.doc, pl.Int32()),
                pl.Series("_line", self.line, pl.Int32()),
            ).select("_msg", "_doc", "_line", *names)
        frame = pl.from_arrow(pa.Table.from_arrays(self._arrays(), names=["_msg", "_doc", "_line", *names]))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def lists(self) -> tuple[list[list[str | None]], list[int], list[int], list[int]]:
        """The collected values as Python lists, one per field, then the _msg, _doc and _line keys.

        For a handful of messages (see :mod:`cbec.messages.rowdecode`) this is cheaper than a frame.
        """
        if self.columns is None:
            width = len(self.entity.fields)
            columns = [list(c) for c in zip(*self.rows, strict=True)] if self.rows else [[]] * width
            return columns, list(self.msg), list(self.doc), list(self.line)
        arrays = self._arrays()
        keys = [a.to_pylist() for a in arrays[:3]]
        return [a.to_pylist() for a in arrays[3:]], keys[0], keys[1], keys[2]

    def _arrays(self) -> list[pa.Array]:
        """The C sink's buffers as Arrow arrays, without a copy (string_view is Polars' own layout): the
        three keys, then one column per field; ``facts`` is filled on the way."""
        n = self.columns.nrows
        keys, columns = self.columns.export()
        arrays = [pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(k)]) for k in keys]
        facts = {}
        for name, (valid, nulls, views, chunks, noticed) in zip(self.entity.names, columns, strict=True):
            buffers = [pa.py_buffer(valid) if nulls else None, pa.py_buffer(views)]
            buffers += [pa.py_buffer(c) for c in chunks]
            arrays.append(pa.Array.from_buffers(pa.string_view(), n, buffers, null_count=nulls))
            untrimmed, non_ascii, min_chars, max_chars, numeric_ok = noticed
            facts[name] = ColumnFacts(nulls, untrimmed, not non_ascii, min_chars, max_chars, numeric_ok)
        self.facts = facts
        return arrays


def _tagmap(entity: Entity) -> dict[str, int]:
    m: dict[str, int] = {}
    for i, f in enumerate(entity.fields):
        m["{%s}%s" % (CEB_NS, f.name)] = i  # noqa: UP031 - hot-path constant built once
        m[f.name] = i
    return m


@dataclass(slots=True)
class RawMessage:
    """The envelope-level facts of one message, with the findings of the structural walk."""

    index: int
    spec: MessageSpec | None
    root_name: str
    namespace: str
    guid: str | None = None
    version: str | None = None
    encoding: str = "UTF-8"
    transfer: dict[str, str | None] | None = None
    subscribes: list[dict[str, str | None]] = field(default_factory=list)
    extend: dict[str, str | None] | None = None
    signature: SignatureInfo | None = None
    documents: int = 0
    findings: list[Finding] = field(default_factory=list)
    size: int = 0

    @property
    def message_type(self) -> str:
        return self.spec.root if self.spec else self.root_name


class Extractor:
    """Collects rows for many messages into per-entity sinks (one extractor per batch)."""

    def __init__(self, *, accelerated: bool = True) -> None:
        self.accelerated = accelerated
        self.sinks: dict[tuple[str, str], EntitySink] = {}
        self._envelope_maps: dict[str, dict[str, int]] = {}

    def sink(self, spec: MessageSpec, role: str) -> EntitySink:
        key = (spec.root, role)
        s = self.sinks.get(key)
        if s is None:
            entity = spec.head if role == "head" else spec.lines
            assert entity is not None
            s = EntitySink(
                spec=spec,
                entity=entity,
                role=role,
                tagmap=_tagmap(entity),
                names={f.name.encode(): i for i, f in enumerate(entity.fields)},
                columns=_ColumnSink(entity.names, [number_facets(f) for f in entity.fields])
                if self.accelerated and _ColumnSink
                else None,
            )
            self.sinks[key] = s
        return s

    # --- leaves -------------------------------------------------------------------------------------------
    def _leaves(self, el: etree._Element, sink: EntitySink, path: str, raw: RawMessage) -> Row:
        get = sink.tagmap.get
        row: Row = [None] * len(sink.entity.fields)
        last = -1
        for child in el:
            i = get(child.tag)  # type: ignore[call-overload]
            if i is None:
                i = self._odd_leaf(child, sink, path, raw)
                if i is None:
                    continue
            if row[i] is not None:
                self._leaf_duplicate(sink, i, path, raw)
                continue
            text = child.text
            if len(child):  # a leaf with element children (mixed or indented): not a simple value
                name = sink.entity.fields[i].name
                raw.findings.append(finding("field.nested", f"{path}/{name}", field=name))
                continue
            row[i] = text
            if i < last:
                name = sink.entity.fields[i].name
                raw.findings.append(finding("tolerated.order", f"{path}/{name}", element=name))
            last = i
        return row

    def _leaf_duplicate(self, sink: EntitySink, i: int, path: str, raw: RawMessage) -> None:
        name = sink.entity.fields[i].name
        raw.findings.append(finding("tolerated.duplicate", f"{path}/{name}", element=name))

    def _odd_leaf(self, child: etree._Element, sink: EntitySink, path: str, raw: RawMessage) -> int | None:
        tag = child.tag
        if not isinstance(tag, str):
            return None
        name = local_name(tag)
        i = sink.entity.index.get(name)
        if i is None:
            raw.findings.append(finding("tolerated.unknown_element", f"{path}/{name}", element=name))
            return None
        # a known field in a foreign namespace: accept once per namespace, remember it
        sink.tagmap[tag] = i
        return i

    def _envelope(
        self, el: etree._Element, entity: Entity, path: str, raw: RawMessage
    ) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for child in el:
            name = local_name(child.tag)
            if not name:
                continue
            if entity.get(name) is None:
                raw.findings.append(finding("tolerated.unknown_element", f"{path}/{name}", element=name))
                continue
            if name == "Message":
                values[name] = etree.tostring(child, encoding="unicode")
                continue
            text = (child.text or "").strip()
            values[name] = text or None
        return values

    # --- documents ------------------------------------------------------------------------------------------
    def _document(self, el: etree._Element, spec: MessageSpec, k: int, raw: RawMessage) -> None:
        path = f"/{spec.root}/{spec.document}[{k + 1}]"
        head_sink = self.sink(spec, "head")
        if not spec.wrapped:
            head_sink.rows.append(self._leaves(el, head_sink, path, raw))
            head_sink.msg.append(raw.index)
            head_sink.doc.append(k)
            head_sink.line.append(0)
            return
        head_seen = False
        n_lines = 0
        head_name, lines_name = spec.head.name, spec.lines.name if spec.lines else None
        for part in el:
            name = local_name(part.tag)
            if name == head_name:
                if head_seen:
                    raw.findings.append(finding("tolerated.duplicate", f"{path}/{name}", element=name))
                    continue
                head_seen = True
                if n_lines:
                    raw.findings.append(finding("tolerated.order", f"{path}/{name}", element=name))
                head_sink.rows.append(self._leaves(part, head_sink, f"{path}/{name}", raw))
                head_sink.msg.append(raw.index)
                head_sink.doc.append(k)
                head_sink.line.append(0)
            elif lines_name is not None and name == lines_name:
                line_sink = self.sink(spec, "lines")
                line_sink.rows.append(self._leaves(part, line_sink, f"{path}/{name}[{n_lines + 1}]", raw))
                line_sink.msg.append(raw.index)
                line_sink.doc.append(k)
                line_sink.line.append(n_lines)
                n_lines += 1
            elif name:
                raw.findings.append(finding("tolerated.unknown_element", f"{path}/{name}", element=name))
        if not head_seen:
            raw.findings.append(finding("document.head_missing", path, element=head_name))
        if lines_name is not None:
            if n_lines < spec.lines_min:
                raw.findings.append(finding("document.lines_missing", path, element=lines_name))
            if spec.lines_max is not None and n_lines > spec.lines_max:
                raw.findings.append(
                    finding(
                        "document.too_many_lines",
                        path,
                        element=lines_name,
                        count=n_lines,
                        limit=spec.lines_max,
                    )
                )

    # --- messages -------------------------------------------------------------------------------------------
    def add(
        self,
        root: etree._Element,
        index: int,
        *,
        encoding: str = "UTF-8",
        size: int = 0,
        findings: list[Finding] | None = None,
    ) -> RawMessage:
        tag = root.tag if isinstance(root.tag, str) else ""
        name = local_name(tag)
        ns = _namespace(tag)
        spec, renamed = resolve_root(name)
        raw = RawMessage(
            index=index,
            spec=spec,
            root_name=name,
            namespace=ns,
            encoding=encoding,
            size=size,
            findings=list(findings or []),
        )
        if spec is None:
            code = "root.unknown" if name.startswith("CEB") else "root.not_message"
            raw.findings.append(finding(code, f"/{name}", root=name))
            return raw
        if renamed:
            raw.findings.append(finding("tolerated.root_name", f"/{name}", root=name, canonical=spec.root))
        if ns != CEB_NS:
            raw.findings.append(finding("tolerated.namespace", f"/{spec.root}", namespace=ns or "(none)"))
        self._attributes(root, spec, raw)
        if _fast_walk is not None and self.accelerated:
            sequence = self._documents_fast(root, spec, raw)
        else:
            sequence = self._documents_python(root, spec, raw)
        slots = {c.element: pos for pos, c in enumerate(spec.children)}
        last_slot = -1
        order_warned = False
        for position, cname in sequence:
            slot = slots.get(cname)
            if slot is None:
                raw.findings.append(
                    finding("tolerated.unknown_element", f"/{spec.root}/{cname}", element=cname)
                )
                continue
            if slot < last_slot and not order_warned:
                raw.findings.append(finding("tolerated.order", f"/{spec.root}/{cname}", element=cname))
                order_warned = True
            last_slot = max(last_slot, slot)
            if cname != spec.document:
                self._envelope_part(root[position], cname, spec, raw)
        self._message_checks(spec, raw)
        return raw

    def _documents_python(
        self, root: etree._Element, spec: MessageSpec, raw: RawMessage
    ) -> list[tuple[int, str]]:
        """Read the documents; return (position, name) of the root's children in order (documents once)."""
        sequence: list[tuple[int, str]] = []
        for position, child in enumerate(root):
            cname = local_name(child.tag)
            if not cname:
                continue
            if cname == spec.document:
                if raw.documents == 0 or sequence[-1][1] != cname:
                    sequence.append((position, cname))
                self._document(child, spec, raw.documents, raw)
                raw.documents += 1
            else:
                sequence.append((position, cname))
        return sequence

    def _documents_fast(
        self, root: etree._Element, spec: MessageSpec, raw: RawMessage
    ) -> list[tuple[int, str]]:
        head = self.sink(spec, "head")
        lines = self.sink(spec, "lines") if spec.lines is not None else None
        docs, others, first_doc, events = _fast_walk(
            root,
            raw.index,
            spec.document.encode(),
            spec.wrapped,
            spec.head.name.encode(),
            spec.lines.name.encode() if spec.lines is not None else None,
            head.columns,
            lines.columns if lines else _ColumnSink([]),
            spec.lines_min,
            -1 if spec.lines_max is None else spec.lines_max,
        )
        raw.documents = docs
        for kind, k, part, j, name_b in events:
            self._walk_event(spec, raw, kind, k, part, j, name_b.decode())
        # lxml counts only elements here too (comments and PIs were removed by the parser)
        sequence = [(pos, name.decode()) for pos, name in others]
        if first_doc >= 0:
            sequence.append((first_doc, spec.document))
            sequence.sort()
        return sequence

    def _walk_event(
        self, spec: MessageSpec, raw: RawMessage, kind: str, k: int, part: str, j: int, name: str
    ) -> None:
        doc_path = f"/{spec.root}/{spec.document}[{k + 1}]"
        if part == "head":
            path = f"{doc_path}/{spec.head.name}" if spec.wrapped else doc_path
        elif part == "lines":
            assert spec.lines is not None
            path = f"{doc_path}/{spec.lines.name}[{j + 1}]"
        else:
            path = doc_path
        add = raw.findings.append
        if kind == "unknown":
            add(finding("tolerated.unknown_element", f"{path}/{name}", element=name))
        elif kind == "duplicate":
            add(finding("tolerated.duplicate", f"{path}/{name}", element=name))
        elif kind == "nested":
            add(finding("field.nested", f"{path}/{name}", field=name))
        elif kind == "order":
            add(finding("tolerated.order", f"{path}/{name}", element=name))
        elif kind == "head_duplicate":
            add(finding("tolerated.duplicate", f"{path}/{name}", element=name))
        elif kind == "head_order":
            add(finding("tolerated.order", f"{path}/{name}", element=name))
        elif kind == "head_missing":
            add(finding("document.head_missing", path, element=name))
        elif kind == "lines_missing":
            add(finding("document.lines_missing", path, element=name))
        elif kind == "lines_too_many":
            add(finding("document.too_many_lines", path, element=name, count=j, limit=spec.lines_max))

    def _envelope_part(self, child: etree._Element, cname: str, spec: MessageSpec, raw: RawMessage) -> None:
        if cname == "BaseTransfer":
            if raw.transfer is not None:
                raw.findings.append(
                    finding("tolerated.duplicate", f"/{spec.root}/BaseTransfer", element="BaseTransfer")
                )
                return
            raw.transfer = self._envelope(
                child, self._entity("BaseTransfer"), f"/{spec.root}/BaseTransfer", raw
            )
        elif cname == "BaseSubscribe":
            raw.subscribes.append(
                self._envelope(child, self._entity("BaseSubscribe"), f"/{spec.root}/BaseSubscribe", raw)
            )
        elif cname == "ExtendMessage":
            raw.extend = self._envelope(
                child, self._entity("ExtendMessage"), f"/{spec.root}/ExtendMessage", raw
            )
        elif cname == "Signature":
            raw.signature = _signature_info(child)
            if not raw.signature.namespace_ok:
                raw.findings.append(finding("tolerated.signature_namespace", f"/{spec.root}/Signature"))

    def _entity(self, name: str) -> Entity:
        from cbec.messages.spec import catalogue

        return catalogue().envelope[name]

    def _attributes(self, root: etree._Element, spec: MessageSpec, raw: RawMessage) -> None:
        guid = root.get("guid")
        version = root.get("version")
        if not guid:
            raw.findings.append(finding("root.attribute_missing", f"/{spec.root}/@guid", field="guid"))
        else:
            guid = guid.strip()
            if len(guid) != 36 or guid != guid.upper():
                raw.findings.append(
                    finding("tolerated.guid", f"/{spec.root}/@guid", field="guid", value=guid)
                )
        raw.guid = guid
        if not version:
            raw.findings.append(finding("root.attribute_missing", f"/{spec.root}/@version", field="version"))
        else:
            version = version.strip()
            if version.lower().startswith("v"):
                canonical = version[1:]
                raw.findings.append(
                    finding("tolerated.version", f"/{spec.root}/@version", value=version, canonical=canonical)
                )
                version = canonical
        raw.version = version

    def _message_checks(self, spec: MessageSpec, raw: RawMessage) -> None:
        if raw.documents < spec.documents_min:
            raw.findings.append(finding("document.missing", f"/{spec.root}", element=spec.document))
        if spec.documents_max is not None and raw.documents > spec.documents_max:
            raw.findings.append(
                finding(
                    "document.too_many",
                    f"/{spec.root}",
                    element=spec.document,
                    count=raw.documents,
                    limit=spec.documents_max,
                )
            )
        if spec.kind == "data" and raw.transfer is None:
            raw.findings.append(finding("tolerated.transfer_missing", f"/{spec.root}"))
        if spec.signature_required and raw.signature is None:
            # The XSD requires it; the business decision (refuse appStatus 2 unsigned) is the service's.
            raw.findings.append(finding("signature.missing", f"/{spec.root}", severity="warning"))


def _signature_info(el: etree._Element) -> SignatureInfo:
    ns = _namespace(el.tag) if isinstance(el.tag, str) else ""
    info = SignatureInfo(present=True, namespace_ok=ns == DS_NS)
    for node in el.iter():
        name = local_name(node.tag)
        if name == "SignatureMethod":
            info.signature_method = node.get("Algorithm")
        elif name == "DigestMethod":
            info.digest_method = node.get("Algorithm")
        elif name == "KeyName":
            info.key_name = (node.text or "").strip() or None
        elif name == "X509Certificate":
            info.has_certificate = bool((node.text or "").strip())
    return info
