"""The shortcuts of the batch decoder give the answers of the long way round.

The C walk notes facts about each column (any value to trim, all ASCII, shortest and longest value, all
plain numbers); the field checks skip what the facts settle.  The field checks work out exact findings only
for rows flagged in one pass over the batch.  A decoded batch travels between processes as a pickle.
"""

from __future__ import annotations

import pickle
import random
import re
from collections.abc import Callable

import polars as pl
import pytest

from cbec.messages import extract
from cbec.messages.codes import field_code_sets
from cbec.messages.columns import decode_batch, findings_of
from cbec.messages.fieldcheck import INDEX_COLUMNS, ColumnFacts, check_entity, number_facets
from cbec.messages.spec import Entity, message_spec

needs_accelerator = pytest.mark.skipif(
    not extract.accelerator_available(), reason="the C accelerator (_fastleaves) is not built"
)


@needs_accelerator
def test_the_c_whitespace_rule_is_the_one_polars_trims_by() -> None:
    from cbec.messages._fastleaves import needs_trim  # type: ignore[import-not-found]

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    values = [*(c + "a" for c in chars), *("a" + c for c in chars), "", "a", "中文", " 中文 "]
    s = pl.Series(values, dtype=pl.String)
    expected = ((s.str.strip_chars() != s) | (s == "")).to_list()
    got = [needs_trim(v.encode("utf-8")) for v in values]
    assert got == expected


def _frame(rng: random.Random, entity_fields: list[str], rows: int) -> pl.DataFrame:
    pool = [
        "1",
        "12.5",
        "142",
        "007",
        "20261111120000",
        "20261111",
        " 1 ",
        "\u3000x",
        "x\u00a0",
        "",
        "   ",
        "abc",
        "中文名称",
        "é" * 30,
        "x" * 300,
        "12345678901234567890",
        "1e5",
        "-3",
        None,
    ]
    data: dict[str, list[object]] = {
        "_msg": list(range(rows)),
        "_doc": [0] * rows,
        "_line": [0] * rows,
    }
    for name in entity_fields:
        kind = rng.random()
        if kind < 0.4:  # a clean column: what a good sender sends
            data[name] = [rng.choice(["1", "142", "20261111120000", "12.5", "CN", None]) for _ in range(rows)]
        elif kind < 0.5:  # every value present and good for most fields
            data[name] = [rng.choice(["3", "12.5"]) for _ in range(rows)]
        else:
            data[name] = [rng.choice(pool) for _ in range(rows)]
    schema = {c: pl.Int32() for c in INDEX_COLUMNS} | {n: pl.String() for n in entity_fields}
    return pl.DataFrame(data, schema=schema)


def _facts(frame: pl.DataFrame, entity: Entity) -> dict[str, ColumnFacts]:
    """The column facts, worked out the slow way."""
    out = {}
    for f in entity.fields:
        values = [v for v in frame[f.name].to_list() if v is not None]
        kind, whole, frac = number_facets(f)
        if kind == 1:
            pattern = rf"[+-]?[0-9]{{1,{whole}}}" + (rf"(\.[0-9]{{1,{frac}}})?" if frac else "")
            numeric_ok = all(re.fullmatch(pattern, v) for v in values)
        elif kind == 2:
            numeric_ok = all(
                re.fullmatch(rf"[+-]?[0-9]{{1,{whole}}}", v) and -(2**31) <= int(v) < 2**31 for v in values
            )
        else:
            numeric_ok = False
        out[f.name] = ColumnFacts(
            nulls=frame.height - len(values),
            # Python's strip is wider than Unicode White_Space (which Polars trims), but not on these values
            untrimmed=any(not v or v != v.strip() for v in values),
            ascii=all(v.isascii() for v in values),
            min_chars=min((len(v) for v in values), default=-1),
            max_chars=max((len(v) for v in values), default=-1),
            numeric_ok=numeric_ok,
        )
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    ("message_type", "role"),
    [
        ("CEB311Message", "head"),
        ("CEB311Message", "lines"),
        ("CEB621Message", "head"),
        ("CEB511Message", "head"),
    ],
)
def test_column_hints_do_not_change_the_results(seed: int, message_type: str, role: str) -> None:
    spec = message_spec(message_type)
    entity = spec.head if role == "head" else spec.lines
    assert entity is not None
    rng = random.Random(seed)
    frame = _frame(rng, entity.names, 60)
    codes = field_code_sets()
    typed, problems = check_entity(frame, entity, codes)
    typed_h, problems_h = check_entity(frame, entity, codes, facts=_facts(frame, entity))
    assert typed.equals(typed_h, null_equal=True)
    assert problems.equals(problems_h, null_equal=True)
    assert problems.height  # the pool has plenty of bad values


def test_rows_keep_their_order_and_problems_their_schema() -> None:
    entity = message_spec("CEB311Message").lines
    assert entity is not None
    frame = pl.DataFrame(
        {"_msg": [2, 0, 1], "_doc": [0, 0, 0], "_line": [0, 1, 0]}
        | {n: ["1", "1", "1"] for n in entity.names},
        schema={c: pl.Int32() for c in INDEX_COLUMNS} | {n: pl.String() for n in entity.names},
    )
    typed, problems = check_entity(frame, entity, {})
    assert typed["_msg"].to_list() == [2, 0, 1]
    assert problems.height  # "1" is too short for the fixed-length fields
    assert problems.columns == [*INDEX_COLUMNS, "field", "code", "value", "expected", "table"]


@needs_accelerator
def test_the_c_walk_reports_its_column_hints_truly(load_sample: Callable[[str], bytes]) -> None:
    text = load_sample("CEB311").decode("utf-8-sig")
    odd = text.replace("<ceb:orderNo>", "<ceb:orderNo> ", 1)
    odd = odd.replace("<ceb:note>test", "<ceb:note>\u3000中", 1)
    ex = extract.Extractor()
    from cbec.messages.safe_xml import parse_untrusted

    for i, t in enumerate([text, odd]):
        ex.add(parse_untrusted(t.encode()).root, i)
    for sink in ex.sinks.values():
        frame = sink.frame()
        assert sink.facts == _facts(frame, sink.entity), sink.entity.name
    heads = ex.sinks[("CEB311Message", "head")].facts
    assert heads["orderNo"].untrimmed and not heads["note"].ascii
    assert not heads["consignee"].ascii and heads["goodsValue"].numeric_ok


@needs_accelerator
def test_the_c_walk_counts_characters_of_any_script(load_sample: Callable[[str], bytes]) -> None:
    from xml.sax.saxutils import escape

    from cbec.messages.safe_xml import parse_untrusted

    text = load_sample("CEB311").decode("utf-8-sig")
    rng = random.Random(3)
    alphabet = "aZ09 \u00e9\u00a0\u4e2d\u6587\u3000\U0001f600\u2028-+."
    ex = extract.Extractor()
    for i in range(20):
        parts = re.split(r"(?<=<ceb:itemName>)[^<]*(?=</ceb:itemName>)", text)
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in parts[1:]]
        edited = parts[0] + "".join(escape(v) + rest for v, rest in zip(values, parts[1:], strict=True))
        ex.add(parse_untrusted(edited.encode()).root, i)
    lines = ex.sinks[("CEB311Message", "lines")]
    frame = lines.frame()
    assert lines.facts == _facts(frame, lines.entity)
    assert lines.facts["itemName"].max_chars > 30 and not lines.facts["itemName"].ascii


def test_a_decoded_batch_pickles(load_sample: Callable[[str], bytes]) -> None:
    items = [load_sample("CEB311"), b"<unclosed", load_sample("CEB621"), load_sample("CEB214")]
    batch = decode_batch(items)
    back = pickle.loads(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))
    pairs = [(back.messages, batch.messages), (back.findings, batch.findings)]
    assert set(back.tables) == set(batch.tables)
    pairs += [(back.tables[key], table) for key, table in batch.tables.items()]
    for got, want in pairs:
        assert got.schema == want.schema
        assert got.equals(want, null_equal=True)
    assert back.rejected() == batch.rejected() == {1}
    assert [r.message_type for r in back.raw] == [r.message_type for r in batch.raw]
    assert findings_of(back, 1) == findings_of(batch, 1)
