"""The value-by-value decoder gives what the columnar decoder gives.

The service's intake decodes a few messages at a time by rows (:mod:`cbec.messages.rowdecode`), ``cbec clear``
thousands at a time by columns (:mod:`cbec.messages.columns`).  A message must not be accepted by one and
refused by the other, nor decoded to other values.  Properties: the field checks agree value for value on
generated columns (with no facts, so every check runs), and whole messages — official samples with generated
values put into their fields — decode to the same documents and the same findings in the same order.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cbec.messages.codes import field_code_sets
from cbec.messages.columns import decode_batch
from cbec.messages.decode import DecodedMessage, messages_from_batch
from cbec.messages.fieldcheck import INDEX_COLUMNS, check_entity
from cbec.messages.rowcheck import WHITESPACE, check_columns
from cbec.messages.rowdecode import decode_messages
from cbec.messages.spec import Entity, Field, message_spec

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "ceb-spec" / "samples"
CODES = field_code_sets()
ENTITIES = [
    message_spec("CEB621Message").head,
    message_spec("CEB621Message").lines,
    message_spec("CEB311Message").head,
    message_spec("CEB411Message").head,
    message_spec("CEB511Message").head,
    message_spec("CEB625Message").head,
    message_spec("CEB711Message").head,
]

_PAD = st.sampled_from(["", "", "", " ", "\t", "\n", "\u3000", "\xa0", " \u2003 "])
_ODD = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=12,
)
_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=20)
_NUMBERISH = st.text(alphabet="0123456789.+-e ١٢", max_size=16)


def _time_text(fmt: str) -> st.SearchStrategy[str]:
    layout = {"ts14": "%Y%m%d%H%M%S", "ts17": "%Y%m%d%H%M%S%f", "date8": "%Y%m%d"}[fmt]
    width = {"ts14": 14, "ts17": 17, "date8": 8}[fmt]
    real = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: d.strftime(layout)[:width].rjust(width, "0")
    )
    digits = st.text(alphabet="0123456789", min_size=width - 1, max_size=width + 1)
    odd = st.sampled_from(
        ["00000101000000", "20241231235960", "202401311200 0", "20240230120000", "2024 101", "00000101"]
    )
    return st.one_of(real, digits, odd)


def _values(f: Field) -> st.SearchStrategy[str | None]:
    """Text a sender might put in the field: good, padded, empty, wrong in each way the checks know."""
    options: list[st.SearchStrategy[Any]] = [st.none(), st.just(""), _ODD]
    if f.type == "decimal":
        options += [
            st.decimals(min_value=-(10**14), max_value=10**14, places=f.fraction_digits or 0).map(str),
            _NUMBERISH,
            _DIGITS,
        ]
    elif f.type == "int":
        options += [st.integers(-(2**33), 2**33).map(str), _NUMBERISH, _DIGITS]
    elif f.format is not None:
        options += [_time_text(f.format)] * 3
    else:
        table = CODES.get(f.name)
        if table is not None:
            options += [st.sampled_from(sorted(table[0]))] * 2
        if f.fixed is not None:
            options.append(st.just(f.fixed))
        size = f.length or f.max_length or 20
        options += [
            st.text(alphabet="ABC0123456789中", min_size=max(size - 1, 0), max_size=size + 1),
            st.text(alphabet="ab1", max_size=3),
        ]
    plain = st.one_of(*options)
    return st.one_of(plain, st.tuples(_PAD, plain, _PAD).map(lambda t: None if t[1] is None else "".join(t)))


@st.composite
def _columns(draw: st.DrawFn) -> tuple[Entity, list[list[str | None]]]:
    entity = draw(st.sampled_from(ENTITIES))
    rows = draw(st.integers(1, 4))
    return entity, [[draw(_values(f)) for _ in range(rows)] for f in entity.fields]


def test_the_trim_is_the_one_polars_trims_by() -> None:
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    values = [*(c + "a" + c for c in chars)]
    expected = pl.Series(values, dtype=pl.String).str.strip_chars().to_list()
    assert [v.strip(WHITESPACE) for v in values] == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_columns())
def test_field_checks_agree_value_for_value(case: tuple[Entity, list[list[str | None]]]) -> None:
    entity, columns = case
    rows = len(columns[0])
    raw = pl.DataFrame(
        {
            "_msg": list(range(rows)),
            "_doc": [0] * rows,
            "_line": [0] * rows,
            **{f.name: col for f, col in zip(entity.fields, columns, strict=True)},
        },
        schema={**{c: pl.Int32() for c in INDEX_COLUMNS}, **{f.name: pl.String() for f in entity.fields}},
    )
    typed_frame, problems_frame = check_entity(raw, entity, CODES)
    typed, problems = check_columns(entity, columns, CODES)

    expected = [
        (p["_msg"], p["field"], p["code"], p["value"], p["expected"], p["table"])
        for p in problems_frame.iter_rows(named=True)
    ]
    assert [(p.row, p.field, p.code, p.value, p.expected, p.table) for p in problems] == expected

    failed = {(p.row, p.field) for p in problems if not p.code.startswith("tolerated.")}
    for f, column in zip(entity.fields, typed, strict=True):
        want = typed_frame[f.name].to_list()
        for row in range(rows):
            if (row, f.name) not in failed:  # a value refused may type to anything: it goes no further
                assert column[row] == want[row], (f.name, columns[entity.names.index(f.name)][row])


# --- whole messages -----------------------------------------------------------------------------------------

_SAMPLE_NAMES = [
    "import/CEB311Message.xml",
    "import/CEB411Message.xml",
    "import/CEB511Message.xml",
    "import/CEB621Message.xml",
    "import/CEB623Message.xml",
    "import/CEB625Message.xml",
    "import/CEB711Message.xml",
    "import/CEB622Message.xml",
    "export/CEB603Message.xml",
]
_LEAF = re.compile(rb"<((?:\w+:)?(\w+))>([^<]*)</\1>")


def _sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared specification folder)")
    return path.read_bytes()


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    """An official sample with some of its leaf values replaced by generated text."""
    data = _sample(draw(st.sampled_from(_SAMPLE_NAMES)))
    leaves = list(_LEAF.finditer(data))
    chosen = set(draw(st.lists(st.integers(0, len(leaves) - 1), max_size=6)))
    out, last = [], 0
    for i, leaf in enumerate(leaves):
        if i not in chosen:
            continue
        name = leaf.group(2).decode()
        value = draw(_values(Field(name=name, type="string", required=False, max_length=30)))
        out += [data[last : leaf.start(3)], escape(value or "").encode("utf-8")]
        last = leaf.end(3)
    out.append(data[last:])
    return b"".join(out)


def _same(a: DecodedMessage, b: DecodedMessage) -> None:
    assert a.findings == b.findings
    assert (a.message_type, a.guid, a.version, a.transfer, a.subscribes, a.signature) == (
        b.message_type,
        b.guid,
        b.version,
        b.transfer,
        b.subscribes,
        b.signature,
    )
    if not a.errors:  # refused messages go no further than their findings
        assert a.documents == b.documents


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_message(), min_size=1, max_size=3), st.booleans(), st.booleans())
def test_messages_decode_alike(batch: list[bytes], lines: bool, strict: bool) -> None:
    by_columns = messages_from_batch(decode_batch(batch, strict_codes=strict), lines=lines)
    by_rows = decode_messages(batch, lines=lines, strict_codes=strict)
    assert len(by_rows) == len(by_columns)
    for a, b in zip(by_columns, by_rows, strict=True):
        _same(a, b)


def test_time_values_python_cannot_hold_are_refused_not_crashed() -> None:
    """Year 0000 parsed as a date-time once crashed the decoder (Python has no year 0); a leap second rolled
    into the next day, and a space was read as a zero."""
    data = _sample("import/CEB311Message.xml")
    for bad in (b"00000101000000", b"20241231235960", b"202401311200 0"):
        xml = re.sub(rb"(<ceb:appTime>)[^<]*", rb"\g<1>" + bad, data, count=1)
        for decoded in (decode_messages([xml])[0], messages_from_batch(decode_batch([xml]))[0]):
            assert [(f.code, f.field) for f in decoded.errors] == [("field.time", "appTime")]


def test_the_intake_reads_by_rows_and_by_columns_alike() -> None:
    from cbec.service.intake import ROWS_UP_TO, read_bodies

    data = _sample("import/CEB621Message.xml")
    few = read_bodies([(data, "application/xml")] * 2)
    many = read_bodies([(data, "application/xml")] * (ROWS_UP_TO + 1))
    assert few[0].decoded == many[0].decoded
    assert few[0].decoded is not None and few[0].decoded.documents
