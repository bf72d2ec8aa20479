"""Decode a few messages straight into records, with no frames: what the service's intake does per request.

:func:`cbec.messages.columns.decode_batch` pays a fixed price per call (a dozen Polars queries, each planned
and run, whatever the number of rows) that is nothing beside a batch of thousands of messages and most of the
work for one.  This path shares the parser and the extractor with it, checks the fields value by value
with :mod:`cbec.messages.rowcheck`, and builds :class:`~cbec.messages.decode.DecodedMessage` objects
directly.  The two give the same messages and the same findings in the same order
(``tests/unit/messages/test_rowdecode.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from cbec.messages.columns import code_sets, parse_all, problem_finding, problem_path, softened_codes
from cbec.messages.decode import DecodedMessage, Document, message_of
from cbec.messages.findings import Finding
from cbec.messages.rowcheck import check_columns


def decode_messages(
    items: Sequence[bytes], *, lines: bool = True, check_codes: bool = True, strict_codes: bool = False
) -> list[DecodedMessage]:
    """Decode each message (business XML or DxpMsg envelope); never raises on bad input: see ``.errors``.

    ``lines=False`` leaves the document lines out of the result (they are still checked).
    """
    extractor, raws, envelopes = parse_all(items)
    tables = code_sets() if check_codes else {}
    findings: list[list[Finding]] = [list(r.findings) for r in raws]
    documents: list[dict[int, Document]] = [{} for _ in raws]
    for (_root, role), sink in extractor.sinks.items():
        values, msgs, docs, line_nos = sink.lists()
        wanted = role == "head" or lines
        typed, problems = check_columns(sink.entity, values, tables, facts=sink.facts, typed=wanted)
        softened = softened_codes(sink.spec, strict_codes)
        for p in problems:
            path = problem_path(sink.spec, role, docs[p.row], line_nos[p.row], p.field)
            findings[msgs[p.row]].append(
                problem_finding(p.code, path, p.field, p.value, p.expected, p.table, softened)
            )
        if not wanted:
            continue
        names = sink.entity.names
        for m, d, record in zip(msgs, docs, zip(*typed, strict=True), strict=True):
            record_dict = dict(zip(names, record, strict=True))
            if role == "head":
                documents[m][d] = Document(head=record_dict)
            else:
                documents[m].setdefault(d, Document(head={})).lines.append(record_dict)
    return [
        message_of(
            raw,
            [documents[raw.index][k] for k in sorted(documents[raw.index])],
            envelopes.get(raw.index),
            findings[raw.index],
        )
        for raw in raws
    ]
