"""Masking: what is hidden stays hidden, masking twice changes nothing, records and XML by field name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbec.privacy.access import UnmaskRefused, may_unmask, personal_fields, present, unmasking_role
from cbec.privacy.fields import PERSONAL_FIELDS, Kind
from cbec.privacy.masking import (
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_record,
    mask_value,
    mask_xml,
    mask_xml_bytes,
    redact_text,
)

DIGITS = "0123456789"
ID18 = st.tuples(st.text(DIGITS, min_size=17, max_size=17), st.sampled_from(DIGITS + "X")).map(
    lambda t: t[0] + t[1]
)
MOBILE = st.tuples(st.sampled_from("3456789"), st.text(DIGITS, min_size=9, max_size=9)).map(
    lambda t: "1" + t[0] + t[1]
)


@given(ID18)
def test_a_masked_id_number_never_shows_its_middle(value: str) -> None:
    masked = mask_id_number(value)
    assert len(masked) == 18 and masked[:3] == value[:3] and masked[-4:] == value[-4:]
    assert masked[3:-4] == "*" * 11
    assert value[6:14] not in masked  # the date of birth
    assert value not in masked


@given(MOBILE)
def test_a_masked_phone_never_shows_its_middle(value: str) -> None:
    masked = mask_phone(value)
    assert masked == value[:3] + "****" + value[-4:]
    assert not re.search(r"\d{5}", masked)  # the hidden digits cannot be read back with their neighbours


@given(st.sampled_from(list(Kind)), st.text(max_size=40))
def test_masking_is_idempotent_and_keeps_the_length(kind: Kind, value: str) -> None:
    once = mask_value(kind, value)
    assert mask_value(kind, once) == once
    assert len(once) == len(value)


@given(st.text(min_size=3, max_size=30))
def test_a_masked_name_keeps_only_its_ends(value: str) -> None:
    masked = mask_name(value)
    assert masked[0] == value[0] and masked[-1] == value[-1] and set(masked[1:-1]) <= {"*"}


@given(st.text(alphabet=DIGITS + "-+ ()", max_size=30))
def test_phone_masks_keep_at_most_seven_digits(value: str) -> None:
    masked = mask_phone(value)
    assert sum(c.isdigit() for c in masked) <= 7
    assert [c for c in masked if not c.isdigit() and c != "*"] == [
        c for c in value if not c.isdigit()
    ]  # separators stay where they were


def test_examples_from_the_documentation() -> None:
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("010-12345678") == "010-****5678"
    assert (mask_name("张三明"), mask_name("张三"), mask_name("张")) == ("张*明", "张*", "*")
    assert mask_address("北京市朝阳区建国路88号") == "北京市朝阳区******"


def test_every_personal_field_of_the_spec_is_known() -> None:
    """The field tables name each natural person's field: all of them are in PERSONAL_FIELDS."""
    spec = json.loads(
        (Path(__file__).resolve().parents[3] / "src/cbec/messages/data/ceb-2022.json").read_text()
    )
    names = {f["name"] for family in spec["entities"].values() for fields in family.values() for f in fields}
    personal = {
        n
        for n in names
        if re.search(r"IdNumber|Telephone|^telephone$|^buyerName$|^payerName$|^consignee|RegNo$", n)
    } - {"consigneeDistrict"}
    assert personal <= set(PERSONAL_FIELDS)
    assert set(PERSONAL_FIELDS) <= names


def test_records_are_masked_by_field_name_nested_and_prefixed() -> None:
    record = {
        "orderNo": "13812345678",  # not personal, even if it looks like a phone
        "buyerIdNumber": "11010519491231002X",
        "payerName": "李四",
        "o_buyerTelephone": "13912345678",
        "lines": [{"consignee": "王小五", "qty": 1}],
        "buyerRegNo": None,
    }
    masked = mask_record(record)
    assert masked == {
        "orderNo": "13812345678",
        "buyerIdNumber": "110***********002X",
        "payerName": "李*",
        "o_buyerTelephone": "139****5678",
        "lines": [{"consignee": "王*五", "qty": 1}],
        "buyerRegNo": None,
    }
    assert record["buyerIdNumber"] == "11010519491231002X"  # a copy: the original is unchanged
    assert mask_record(masked) == masked


XML = """<?xml version="1.0" encoding="{enc}"?>
<ceb:CEB311Message xmlns:ceb="http://www.chinaport.gov.cn/ceb"><ceb:Order><ceb:OrderHead>
<ceb:orderNo>13812345678</ceb:orderNo>
<ceb:buyerIdNumber>11010519491231002X</ceb:buyerIdNumber>
<ceb:buyerName><![CDATA[张三明]]></ceb:buyerName>
<buyerTelephone> 13812345678 </buyerTelephone>
<ceb:consigneeAddress>北京市朝阳区建国路88号</ceb:consigneeAddress>
<ceb:payerIdNumber/>
</ceb:OrderHead></ceb:Order></ceb:CEB311Message>"""


@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
def test_xml_text_and_bytes(encoding: str) -> None:
    text = XML.format(enc=encoding)
    masked = mask_xml(text)
    assert "<ceb:orderNo>13812345678</ceb:orderNo>" in masked
    assert "<ceb:buyerIdNumber>110***********002X</ceb:buyerIdNumber>" in masked
    assert "<ceb:buyerName><![CDATA[张*明]]></ceb:buyerName>" in masked
    assert "<buyerTelephone> 138****5678 </buyerTelephone>" in masked
    assert "北京市朝阳区******<" in masked and "<ceb:payerIdNumber/>" in masked
    back = mask_xml_bytes(text.encode(encoding)).decode(encoding)  # stays in its own encoding
    assert "11010519491231002X" not in back and "张*明" in back
    assert mask_xml(masked) == masked


def test_broken_xml_is_masked_too() -> None:
    broken = "<ceb:buyerIdNumber>11010519491231002X</ceb:buyerIdNumber><ceb:telephone>13812345678<"
    out = mask_xml_bytes(broken.encode())
    assert b"11010519491231002X" not in out and b"13812345678" not in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id=11010519491231002X;", "id=110***********002X;"),
        ("id 11010519491231002x end", "id 110***********002x end"),
        ("old id 110105491231002", "old id 110*********002"),
        ("call 13812345678.", "call 138****5678."),
        ("call +86 138-1234-5678", "call +86 1**-****-5678"),
        ("office 0755-12345678", "office 075*-****5678"),
        ("order 2026111212345678901234 amount 13812", "order 2026111212345678901234 amount 13812"),
        ("invt 12345678901 guid 1F6C1DA4-0F3C-4B0E-9E0F-123456789012", None),
    ],
)
def test_redaction_by_shape(text: str, expected: str | None) -> None:
    assert redact_text(text) == (text if expected is None else expected)
    assert redact_text(redact_text(text)) == redact_text(text)


def test_who_sees_what() -> None:
    record = {"invtNo": "1", "buyerIdNumber": "11010519491231002X", "lines": [{"consignee": "王五"}]}
    for role in ("platform", "ecommerce_enterprise", "payment", "logistics", "declaring_agent"):
        assert present(record, role=role).record["buyerIdNumber"] == "110***********002X"
        assert not may_unmask(role)
        with pytest.raises(UnmaskRefused, match="customs officers only"):
            present(record, role=role, unmask=True, purpose="curious")
    with pytest.raises(UnmaskRefused):
        present(record, role="administrator", unmask=True, purpose="debugging")
    officer = present(record, role="customs officer")  # masked unless asked for
    assert officer.record["buyerIdNumber"].startswith("110*") and officer.unmasked == ()
    with pytest.raises(UnmaskRefused, match="purpose"):
        present(record, role="customs_officer", unmask=True, purpose=" ")
    shown = present(record, role="Customs-Officer", unmask=True, purpose="manual review 300")
    assert shown.record == record
    assert shown.unmasked == ("buyerIdNumber", "lines[].consignee")
    assert personal_fields({"buyerName": "", "consignee": None}) == []
    assert unmasking_role(["ebp", "ebc"]) is None and unmasking_role(["officer"]) == "officer"
    assert not may_unmask("admin") and not may_unmask("ebp") and may_unmask("officer")
