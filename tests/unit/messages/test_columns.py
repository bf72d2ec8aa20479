"""Batch decoding into column tables: one typed table per (message type, entity), keyed by _msg/_doc/_line.

Row counts are checked against an independent count of the samples with plain lxml.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise

import polars as pl
import pytest
from lxml import etree

from cbec.messages.columns import ColumnBatch, concat_batches, decode_batch
from cbec.messages.envelope import wrap
from cbec.messages.spec import message_spec

BATCH = ["CEB311", "CEB621", "CEB311", "CEB411", "CEB507", "CEB711", "CEB312", "CEB303"]
INDEX = ["_msg", "_doc", "_line"]


def _count(raw: bytes, message_type: str) -> tuple[int, list[int]]:
    """Documents and lines per document of a sample, counted with plain lxml."""
    spec = message_spec(message_type)
    root = etree.fromstring(raw)
    docs = [el for el in root if isinstance(el.tag, str) and etree.QName(el).localname == spec.document]
    lines = []
    for doc in docs:
        if spec.wrapped and spec.lines is not None:
            lines.append(
                sum(
                    1
                    for el in doc
                    if isinstance(el.tag, str) and etree.QName(el).localname == spec.lines.name
                )
            )
        else:
            lines.append(0)
    return len(docs), lines


@pytest.fixture(scope="module")
def items(load_sample: Callable[[str], bytes]) -> list[bytes]:
    return [load_sample(code) for code in BATCH]


@pytest.fixture(scope="module")
def batch(items: list[bytes]) -> ColumnBatch:
    return decode_batch(items)


def test_one_table_per_type_and_entity(batch: ColumnBatch) -> None:
    expected = set()
    for code in set(BATCH):
        spec = message_spec(f"{code}Message")
        expected.add((spec.root, spec.head.name))
        if spec.wrapped and spec.lines is not None:
            expected.add((spec.root, spec.lines.name))
    assert set(batch.tables) == expected
    assert ("CEB311Message", "OrderHead") in batch.tables and (
        "CEB621Message",
        "InventoryList",
    ) in batch.tables


def test_index_columns_come_first_and_then_the_fields_in_xsd_order(batch: ColumnBatch) -> None:
    for (message_type, entity_name), table in batch.tables.items():
        spec = message_spec(message_type)
        entity = spec.head if spec.head.name == entity_name else spec.lines
        assert entity is not None
        assert table.columns == [*INDEX, *entity.names]
        assert all(table.schema[c] == pl.Int32() for c in INDEX)


def test_row_counts_match_the_samples(batch: ColumnBatch, items: list[bytes]) -> None:
    heads: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for code, raw in zip(BATCH, items, strict=True):
        n_docs, n_lines = _count(raw, f"{code}Message")
        heads[code] += n_docs
        lines[code] += sum(n_lines)
    for code in set(BATCH):
        spec = message_spec(f"{code}Message")
        assert batch.table(spec.root, spec.head.name).height == heads[code], code
        if spec.wrapped and spec.lines is not None:
            assert batch.table(spec.root, spec.lines.name).height == lines[code], code


def test_keys_locate_each_row(batch: ColumnBatch, items: list[bytes]) -> None:
    heads = batch.table("CEB311Message", "OrderHead")
    lines = batch.table("CEB311Message", "OrderList")
    positions = [i for i, code in enumerate(BATCH) if code == "CEB311"]
    assert sorted(set(heads["_msg"].to_list())) == positions
    for pos in positions:
        n_docs, n_lines = _count(items[pos], "CEB311Message")
        mine = heads.filter(pl.col("_msg") == pos)
        assert mine["_doc"].to_list() == list(range(n_docs))
        assert set(mine["_line"].to_list()) == {0}
        my_lines = lines.filter(pl.col("_msg") == pos).sort("_doc", "_line")
        expected = [(d, k) for d, n in enumerate(n_lines) for k in range(n)]
        assert list(zip(my_lines["_doc"].to_list(), my_lines["_line"].to_list(), strict=True)) == expected
    assert not heads.select(INDEX).is_duplicated().any()
    assert not lines.select(INDEX).is_duplicated().any()


def test_money_and_quantities_are_decimal_19_5(batch: ColumnBatch) -> None:
    head = batch.table("CEB311Message", "OrderHead")
    for name in ("goodsValue", "freight", "discount", "taxTotal", "acturalPaid"):
        assert head.schema[name] == pl.Decimal(19, 5), name
    lines = batch.table("CEB311Message", "OrderList")
    for name in ("qty", "price", "totalPrice"):
        assert lines.schema[name] == pl.Decimal(19, 5), name
    inventory = batch.table("CEB621Message", "InventoryHead")
    assert inventory.schema["grossWeight"] == pl.Decimal(19, 5)
    assert head["goodsValue"][0] == Decimal("14000")
    assert lines.filter(pl.col("_msg") == 0)["qty"].to_list()[:2] == [Decimal("100"), Decimal("200")]


def test_times_are_datetimes(batch: ColumnBatch) -> None:
    head = batch.table("CEB311Message", "OrderHead")
    assert isinstance(head.schema["appTime"], pl.Datetime)
    first = head["appTime"][0]
    assert (first.year, first.month, first.day, first.hour, first.minute, first.second) == (
        2016,
        3,
        8,
        11,
        27,
        1,
    )
    for (message_type, entity_name), table in batch.tables.items():
        if "appTime" in table.columns:
            assert isinstance(table.schema["appTime"], pl.Datetime), (message_type, entity_name)
            assert table["appTime"].null_count() == 0


def test_codes_stay_strings(batch: ColumnBatch) -> None:
    lines = batch.table("CEB311Message", "OrderList")
    for name in ("unit", "currency", "country", "itemNo", "barCode"):
        assert lines.schema[name] == pl.String(), name
    assert set(lines["unit"].to_list()) == {"007"}, "leading zeros are kept"
    assert set(lines["currency"].to_list()) == {"142"}
    head = batch.table("CEB311Message", "OrderHead")
    assert head.schema["appType"] == pl.String() and head.schema["consigneeDistrict"] == pl.String()
    assert set(head["consigneeDistrict"].to_list()) == {"072750"}
    assert head.schema["ebpName"] == pl.String()
    assert head["ebpName"][0] == "东方物通科技(北京)有限公司"


def test_integers(batch: ColumnBatch) -> None:
    lines = batch.table("CEB311Message", "OrderList")
    assert lines.schema["gnum"] == pl.Int64()
    assert lines.filter(pl.col("_msg") == 0)["gnum"].to_list()[:2] == [1, 2]


def test_messages_table(batch: ColumnBatch, items: list[bytes]) -> None:
    m = batch.messages
    assert m["_msg"].to_list() == list(range(len(BATCH)))
    assert m["message_type"].to_list() == [f"{c}Message" for c in BATCH]
    assert m["documents"].to_list() == [
        _count(raw, f"{c}Message")[0] for c, raw in zip(BATCH, items, strict=True)
    ]
    assert m["family"].to_list() == [message_spec(f"{c}Message").family for c in BATCH]
    assert m["bytes"].to_list() == [len(raw) for raw in items]
    assert m.filter(pl.col("message_type") == "CEB311Message")["copCode"].to_list() == ["1101180326"] * 2


def test_clean_batch_has_no_errors(batch: ColumnBatch) -> None:
    assert batch.errors().height == 0
    assert batch.rejected() == set()


def test_mixed_batch_reports_findings_only_for_the_bad_messages(load_sample: Callable[[str], bytes]) -> None:
    good = load_sample("CEB311")
    text = good.decode("utf-8-sig")
    bad_value = text.replace(
        "<ceb:goodsValue>14000</ceb:goodsValue>", "<ceb:goodsValue>12a</ceb:goodsValue>", 1
    )
    bad_line = text.replace("<ceb:qty>200</ceb:qty>", "<ceb:qty>lots</ceb:qty>", 1)
    items = [
        good,
        b"<unclosed",
        bad_value.encode(),
        load_sample("CEB621"),
        good,
        b"<foo/>",
        bad_line.encode(),
    ]
    batch = decode_batch(items)

    assert batch.rejected() == {1, 2, 5, 6}
    errors = batch.errors()
    assert set(errors["_msg"].to_list()) == {1, 2, 5, 6}
    by_msg = {
        m: sorted(zip(g["code"].to_list(), g["path"].to_list(), strict=True))
        for (m,), g in errors.group_by("_msg")
    }
    assert by_msg[1] == [("xml.malformed", "/")]
    assert by_msg[2] == [("field.decimal", "/CEB311Message/Order[1]/OrderHead/goodsValue")]
    assert by_msg[5] == [("root.not_message", "/foo")]
    assert by_msg[6] == [("field.decimal", "/CEB311Message/Order[1]/OrderList[2]/qty")]
    assert set(batch.findings["_msg"].to_list()) <= {1, 2, 5, 6}

    # the good messages' rows are all there, and the bad value is null, not a crash
    heads = batch.table("CEB311Message", "OrderHead")
    assert sorted(set(heads["_msg"].to_list())) == [0, 2, 4, 6]
    assert heads.filter(pl.col("_msg") == 2)["goodsValue"].to_list()[0] is None
    assert heads.filter(pl.col("_msg") == 4)["goodsValue"].to_list()[0] == Decimal("14000")
    assert batch.table("CEB621Message", "InventoryHead")["_msg"].unique().to_list() == [3]
    assert batch.messages.height == len(items)
    assert batch.messages.filter(pl.col("_msg") == 1)["message_type"].to_list() == [""]


def test_findings_frame_schema(load_sample: Callable[[str], bytes]) -> None:
    batch = decode_batch([b"<x", load_sample("CEB214")])
    assert batch.findings.columns == [
        "_msg",
        "severity",
        "code",
        "path",
        "field",
        "message_zh",
        "message_en",
        "dxp_code",
    ]
    assert batch.findings["_msg"].dtype == pl.Int32()
    assert set(batch.findings.filter(pl.col("_msg") == 1)["severity"].to_list()) == {"warning"}


def test_empty_batch() -> None:
    batch = decode_batch([])
    assert batch.tables == {}
    assert batch.messages.height == 0 and batch.findings.height == 0
    assert batch.rejected() == set()


@pytest.mark.parametrize("cuts", [(1,), (3, 4), (2, 5, 9), (1, 2, 3, 4, 5, 6, 7, 8, 9)])
def test_batches_decoded_apart_and_joined_equal_one_batch(items: list[bytes], cuts: tuple[int, ...]) -> None:
    """The clearer decodes small batches in worker processes and clears several as one
    (``concat_batches``): every position must come out as if the messages had been decoded together."""
    enveloped = wrap(items[2], msg_type="CEB311Message", sender_id="DXPENT0000000001")
    messages = [
        *items,
        b"<not-xml",
        items[1].replace(b"<ceb:currency>142<", b"<ceb:currency>999<"),
        enveloped,
    ]
    bounds = [0, *cuts, len(messages)]
    parts = [decode_batch(messages[a:b]) for a, b in pairwise(bounds)]
    whole = decode_batch(messages)
    joined = concat_batches(parts)
    assert joined.messages.equals(whole.messages)
    assert set(joined.tables) == set(whole.tables)
    for key, table in whole.tables.items():
        assert joined.tables[key].equals(table), key
    assert joined.findings.equals(whole.findings)
    assert whole.findings.height and joined.rejected() == whole.rejected()
    assert [(r.index, r.message_type, r.guid) for r in joined.raw] == [
        (r.index, r.message_type, r.guid) for r in whole.raw
    ]
    assert joined.envelopes.keys() == whole.envelopes.keys() == {len(messages) - 1}
