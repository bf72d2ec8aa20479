"""Decode a batch of messages straight into column tables — the form the rule engine works on.

One table per document kind and message type (``("CEB311Message", "OrderHead")``, ``("CEB311Message",
"OrderList")`` …), each row keyed by ``_msg`` (position of the message in the batch), ``_doc`` (document
within the message) and ``_line``.  Per-message facts (type, guid, sender, signature) form the ``messages``
table, and every error and warning the ``findings`` table.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from cbec.messages.codes import CodeSets
from cbec.messages.envelope import DxpEnvelope, is_envelope, unwrap
from cbec.messages.extract import EntitySink, Extractor, RawMessage
from cbec.messages.fieldcheck import check_entity
from cbec.messages.findings import CATALOGUE, Finding, finding
from cbec.messages.safe_xml import XmlRejected, parse_untrusted
from cbec.messages.spec import MessageSpec

FINDING_SCHEMA = {
    "_msg": pl.Int32(),
    "severity": pl.String(),
    "code": pl.String(),
    "path": pl.String(),
    "field": pl.String(),
    "message_zh": pl.String(),
    "message_en": pl.String(),
    "dxp_code": pl.String(),
}


def code_sets() -> CodeSets:
    from cbec.messages.codes import field_code_sets

    return field_code_sets()


@dataclass
class ColumnBatch:
    """Typed column tables for a batch of decoded messages."""

    messages: pl.DataFrame
    tables: dict[tuple[str, str], pl.DataFrame]
    findings: pl.DataFrame
    raw: list[RawMessage] = field(default_factory=list)
    envelopes: dict[int, DxpEnvelope] = field(default_factory=dict)

    def table(self, message_type: str, entity: str) -> pl.DataFrame:
        return self.tables[(message_type, entity)]

    def errors(self) -> pl.DataFrame:
        return self.findings.filter(pl.col("severity") == "error")

    def rejected(self) -> set[int]:
        """Batch positions of messages with at least one error."""
        return set(self.errors()["_msg"].to_list())

    # A batch decoded in a worker process travels back pickled: the frames go as Arrow IPC with plain
    # (offset) strings, which is smaller than Polars' own string views and several times faster to write
    # and read than pickling the frames themselves.
    def __getstate__(self) -> dict[str, object]:
        return {
            "messages": frame_to_ipc(self.messages),
            "tables": {key: frame_to_ipc(table) for key, table in self.tables.items()},
            "findings": frame_to_ipc(self.findings),
            "raw": self.raw,
            "envelopes": self.envelopes,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.messages = frame_from_ipc(state["messages"])
        self.tables = {key: frame_from_ipc(data) for key, data in state["tables"].items()}
        self.findings = frame_from_ipc(state["findings"])
        self.raw = state["raw"]
        self.envelopes = state["envelopes"]


def concat_batches(batches: Sequence[ColumnBatch]) -> ColumnBatch:
    """Batches decoded apart (in worker processes) as one, in order: each one's messages follow the last's.

    The clearer decodes in small batches, so that both cores start early, and clears several at once, so
    that the rules run over larger frames; every message position (``_msg``, ``RawMessage.index``, the
    envelopes' keys) is shifted by the messages of the batches before it.
    """
    if len(batches) == 1:
        return batches[0]
    placed: list[tuple[ColumnBatch, int]] = []  # each batch with the position of its first message
    start = 0
    for b in batches:
        placed.append((b, start))
        start += len(b.raw)

    def shifted(frame: pl.DataFrame, offset: int) -> pl.DataFrame:
        return frame.with_columns((pl.col("_msg") + offset).cast(pl.Int32)) if offset else frame

    def joined(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]

    keys = dict.fromkeys(key for b in batches for key in b.tables)
    return ColumnBatch(
        messages=joined([shifted(b.messages, o) for b, o in placed]),
        tables={
            key: joined([shifted(b.tables[key], o) for b, o in placed if key in b.tables]) for key in keys
        },
        findings=joined([shifted(b.findings, o) for b, o in placed]),
        raw=[replace(r, index=r.index + o) for b, o in placed for r in b.raw],
        envelopes={i + o: e for b, o in placed for i, e in b.envelopes.items()},
    )


def frame_to_ipc(frame: pl.DataFrame) -> bytes:
    """A frame as Arrow IPC bytes with plain (offset) strings, for the trip to or from a worker process."""
    out = io.BytesIO()
    frame.write_ipc(out, compression="uncompressed", compat_level=pl.CompatLevel.oldest())
    return out.getvalue()


def frame_from_ipc(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(data)


def parse_one(data: bytes, index: int, extractor: Extractor) -> tuple[RawMessage, DxpEnvelope | None]:
    try:
        parsed = parse_untrusted(data)
    except XmlRejected as rej:
        return RawMessage(
            index=index, spec=None, root_name="", namespace="", findings=rej.findings, size=len(data)
        ), None
    root = parsed.root
    envelope: DxpEnvelope | None = None
    warnings = parsed.warnings
    if is_envelope(root):
        envelope, inner, env_findings = unwrap(root)
        if inner is None:
            return RawMessage(
                index=index,
                spec=None,
                root_name="DxpMsg",
                namespace="",
                findings=env_findings,
                size=len(data),
            ), envelope
        try:
            parsed = parse_untrusted(inner)
        except XmlRejected as rej:
            return RawMessage(
                index=index,
                spec=None,
                root_name="DxpMsg",
                namespace="",
                findings=rej.findings,
                size=len(data),
            ), envelope
        root = parsed.root
        warnings = warnings + parsed.warnings
    raw = extractor.add(root, index, encoding=parsed.encoding, size=len(data), findings=warnings)
    return raw, envelope


def _sink_frame(sink: EntitySink) -> pl.DataFrame:
    return sink.frame()


def _problem_paths(problems: pl.DataFrame, spec: MessageSpec, role: str) -> pl.DataFrame:
    doc = pl.format("/{}/{}[{}]", pl.lit(spec.root), pl.lit(spec.document), pl.col("_doc") + 1)
    if not spec.wrapped:
        path = pl.format("{}/{}", doc, pl.col("field"))
    elif role == "head":
        path = pl.format("{}/{}/{}", doc, pl.lit(spec.head.name), pl.col("field"))
    else:
        assert spec.lines is not None
        path = pl.format("{}/{}[{}]/{}", doc, pl.lit(spec.lines.name), pl.col("_line") + 1, pl.col("field"))
    return problems.with_columns(path.alias("path"))


def problem_path(spec: MessageSpec, role: str, doc: int, line: int, field: str) -> str:
    """Where a field's problem is, as a finding's path (what ``_problem_paths`` computes for a frame)."""
    where = f"/{spec.root}/{spec.document}[{doc + 1}]"
    if not spec.wrapped:
        return f"{where}/{field}"
    if role == "head":
        return f"{where}/{spec.head.name}/{field}"
    assert spec.lines is not None
    return f"{where}/{spec.lines.name}[{line + 1}]/{field}"


def softened_codes(spec: MessageSpec, strict_codes: bool) -> set[str]:
    """The problem codes that are only warnings in this message.

    Receipts are issued by customs, not sent to us for a decision: a missing required field or an odd code
    there (the official CEB792 sample lacks ``gseqno``) is a warning, since refusing to read it helps nobody.
    Code-table violations in data messages are errors only when ``strict_codes`` (the format check); a plain
    decode reports them as warnings, as the official samples carry placeholder codes.
    """
    if spec.kind == "receipt":
        return {"field.required", "field.code"}
    return set() if strict_codes else {"field.code"}


def problem_finding(
    code: str, path: str, field: str, value: str | None, expected: str, table: str, softened: set[str]
) -> Finding:
    """One problem row as a finding (the same words whichever path found it)."""
    return finding(
        code,
        path,
        field=field,
        value=value,
        expected=expected,
        table=table,
        actual=len(value.strip()) if value else 0,
        severity="warning" if code in softened else None,
    )


def _problem_findings(problems: pl.DataFrame, spec: MessageSpec, strict_codes: bool) -> pl.DataFrame:
    """Turn problem rows into finding rows (message text formatted per row: problems are few)."""
    rows = []
    softened = softened_codes(spec, strict_codes)
    for p in problems.iter_rows(named=True):
        f = problem_finding(p["code"], p["path"], p["field"], p["value"], p["expected"], p["table"], softened)
        rows.append(
            {
                "_msg": p["_msg"],
                "severity": f.severity,
                "code": f.code,
                "path": f.path,
                "field": f.field,
                "message_zh": f.message_zh,
                "message_en": f.message_en,
                "dxp_code": f.dxp_code,
            }
        )
    return pl.DataFrame(rows, schema=FINDING_SCHEMA)


def _structural_findings(raws: list[RawMessage]) -> pl.DataFrame:
    rows = [
        {
            "_msg": r.index,
            "severity": f.severity,
            "code": f.code,
            "path": f.path,
            "field": f.field,
            "message_zh": f.message_zh,
            "message_en": f.message_en,
            "dxp_code": f.dxp_code,
        }
        for r in raws
        for f in r.findings
    ]
    return pl.DataFrame(rows, schema=FINDING_SCHEMA)


def _messages_frame(raws: list[RawMessage], envelopes: dict[int, DxpEnvelope]) -> pl.DataFrame:
    def t(r: RawMessage, key: str) -> str | None:
        return r.transfer.get(key) if r.transfer else None

    return pl.DataFrame(
        {
            "_msg": [r.index for r in raws],
            "message_type": [r.message_type for r in raws],
            "family": [r.spec.family if r.spec else None for r in raws],
            "guid": [r.guid for r in raws],
            "version": [r.version for r in raws],
            "encoding": [r.encoding for r in raws],
            "documents": [r.documents for r in raws],
            "copCode": [t(r, "copCode") for r in raws],
            "copName": [t(r, "copName") for r in raws],
            "dxpId": [t(r, "dxpId") for r in raws],
            "signed": [bool(r.signature) for r in raws],
            "signature_method": [r.signature.signature_method if r.signature else None for r in raws],
            "enveloped": [r.index in envelopes for r in raws],
            "bytes": [r.size for r in raws],
        },
        schema_overrides={"_msg": pl.Int32(), "documents": pl.Int32(), "bytes": pl.Int64()},
    )


def parse_all(items: Iterable[bytes]) -> tuple[Extractor, list[RawMessage], dict[int, DxpEnvelope]]:
    """Parse and walk every message into one extractor: its sinks, each message's facts, the envelopes."""
    extractor = Extractor()
    raws: list[RawMessage] = []
    envelopes: dict[int, DxpEnvelope] = {}
    for i, data in enumerate(items):
        raw, envelope = parse_one(data, i, extractor)
        raws.append(raw)
        if envelope is not None:
            envelopes[i] = envelope
    return extractor, raws, envelopes


def decode_batch(
    items: Iterable[bytes], *, check_codes: bool = True, strict_codes: bool = False
) -> ColumnBatch:
    """Decode many messages into typed column tables, with every finding.

    ``strict_codes`` makes a value outside a complete code table an error (as the format check does).
    """
    extractor, raws, envelopes = parse_all(items)
    codes = code_sets() if check_codes else {}
    tables: dict[tuple[str, str], pl.DataFrame] = {}
    problem_frames = [_structural_findings(raws)]
    for (root, _role), sink in extractor.sinks.items():
        raw_frame = _sink_frame(sink)
        typed, problems = check_entity(raw_frame, sink.entity, codes, facts=sink.facts)
        tables[(root, sink.entity.name)] = typed
        if problems.height:
            problem_frames.append(
                _problem_findings(_problem_paths(problems, sink.spec, sink.role), sink.spec, strict_codes)
            )
    findings = pl.concat(problem_frames) if len(problem_frames) > 1 else problem_frames[0]
    return ColumnBatch(
        messages=_messages_frame(raws, envelopes),
        tables=tables,
        findings=findings.sort("_msg", maintain_order=True),
        raw=raws,
        envelopes=envelopes,
    )


def findings_of(batch: ColumnBatch, index: int) -> list[Finding]:
    """The findings of one message of the batch, as objects."""
    out = []
    for row in batch.findings.filter(pl.col("_msg") == index).iter_rows(named=True):
        out.append(
            Finding(
                severity=row["severity"],
                code=row["code"],
                path=row["path"],
                field=row["field"],
                message_zh=row["message_zh"],
                message_en=row["message_en"],
                dxp_code=row["dxp_code"] or CATALOGUE.get(row["code"], ("",))[0],
            )
        )
    return out
