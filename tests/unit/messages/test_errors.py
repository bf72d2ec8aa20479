"""What the reader refuses, how it says so, and the CEB900 format receipt built from it.

Each error case edits the official CEB311 sample in one place and expects one finding with a stable code, the
path of the element, the DXP code and a message in Chinese and English.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cbec.messages.decode import DecodedMessage, decode
from cbec.messages.findings import CATALOGUE, Finding
from cbec.messages.format_receipt import RETURN_INFO_LIMIT, build_format_receipt, return_info, return_status
from cbec.messages.xsd import validate_bytes

ORDER_NO = "<ceb:orderNo>order20160321116421002</ceb:orderNo>"
HEAD = "/CEB311Message/Order[1]/OrderHead"
LINE = "/CEB311Message/Order[1]/OrderList[1]"


def _code_tables_ready() -> bool:
    try:
        from cbec.messages.codes import field_code_sets

        return "currency" in field_code_sets()
    except Exception:
        return False


code_tables = pytest.mark.xfail(not _code_tables_ready(), reason="code tables pending", strict=False)


@dataclass(frozen=True)
class Case:
    edit: Callable[[str], str]
    code: str
    path: str
    dxp: str = "0002"
    field: str | None = None


def _sub(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def _remove_all_orders(text: str) -> str:
    return re.sub(r"\s*<ceb:Order>.*?</ceb:Order>", "", text, flags=re.S)


def _remove_first_lines(text: str) -> str:
    first = re.search(r"<ceb:Order>.*?</ceb:Order>", text, re.S)
    assert first
    without = re.sub(r"\s*<ceb:OrderList>.*?</ceb:OrderList>", "", first.group(0), flags=re.S)
    return text.replace(first.group(0), without, 1)


def _remove_first_head(text: str) -> str:
    return re.sub(r"<ceb:OrderHead>.*?</ceb:OrderHead>", "", text, count=1, flags=re.S)


def _many_orders(text: str) -> str:
    first = re.search(r"\t<ceb:Order>.*?</ceb:Order>\n", text, re.S)
    assert first
    body = _remove_all_orders(text)
    return body.replace("\n\t<ceb:BaseTransfer>", "\n" + first.group(0) * 101 + "\t<ceb:BaseTransfer>", 1)


CASES: dict[str, Case] = {
    "unclosed-tag": Case(_sub("</ceb:OrderHead>", ""), "xml.malformed", "/", "0001"),
    "truncated": Case(lambda t: t[: len(t) // 2], "xml.malformed", "/", "0001"),
    "not-xml": Case(lambda t: "this is not XML", "xml.malformed", "/", "0001"),
    "empty": Case(lambda t: "", "xml.empty", "/", "0001"),
    "wrong-root": Case(lambda t: "<foo/>", "root.not_message", "/foo"),
    "unknown-ceb-root": Case(
        lambda t: t.replace("CEB311Message", "CEB999Message"), "root.unknown", "/CEB999Message"
    ),
    "guid-attribute-missing": Case(
        _sub(' guid="4CDE1CFD-EDED-46B1-946C-B8022E42FC94"', ""),
        "root.attribute_missing",
        "/CEB311Message/@guid",
        field="guid",
    ),
    "no-documents": Case(_remove_all_orders, "document.missing", "/CEB311Message"),
    "too-many-documents": Case(_many_orders, "document.too_many", "/CEB311Message"),
    "head-missing": Case(_remove_first_head, "document.head_missing", "/CEB311Message/Order[1]"),
    "lines-missing": Case(_remove_first_lines, "document.lines_missing", "/CEB311Message/Order[1]"),
    "required-removed": Case(
        lambda t: t.replace("\n            " + ORDER_NO, "", 1),
        "field.required",
        f"{HEAD}/orderNo",
        field="orderNo",
    ),
    "required-empty": Case(
        _sub(ORDER_NO, "<ceb:orderNo></ceb:orderNo>"), "field.required", f"{HEAD}/orderNo", field="orderNo"
    ),
    "required-blank": Case(
        _sub(ORDER_NO, "<ceb:orderNo>  </ceb:orderNo>"), "field.required", f"{HEAD}/orderNo", field="orderNo"
    ),
    "decimal-letters": Case(
        _sub("<ceb:goodsValue>14000</ceb:goodsValue>", "<ceb:goodsValue>12a</ceb:goodsValue>"),
        "field.decimal",
        f"{HEAD}/goodsValue",
        field="goodsValue",
    ),
    "decimal-fraction": Case(
        _sub("<ceb:freight>5000</ceb:freight>", "<ceb:freight>1.123456</ceb:freight>"),
        "field.decimal",
        f"{HEAD}/freight",
        field="freight",
    ),
    "decimal-too-long": Case(
        _sub("<ceb:freight>5000</ceb:freight>", "<ceb:freight>123456789012345</ceb:freight>"),
        "field.decimal",
        f"{HEAD}/freight",
        field="freight",
    ),
    "decimal-exponent": Case(
        _sub("<ceb:qty>100</ceb:qty>", "<ceb:qty>1e3</ceb:qty>"), "field.decimal", f"{LINE}/qty", field="qty"
    ),
    "decimal-comma": Case(
        _sub("<ceb:price>20</ceb:price>", "<ceb:price>1,5</ceb:price>"),
        "field.decimal",
        f"{LINE}/price",
        field="price",
    ),
    "over-length": Case(
        _sub(ORDER_NO, f"<ceb:orderNo>{'X' * 61}</ceb:orderNo>"),
        "field.length",
        f"{HEAD}/orderNo",
        field="orderNo",
    ),
    "wrong-fixed-length": Case(
        _sub("<ceb:guid>4CDE1CFD-EDED-46B1-946C-B8022E42FC94</ceb:guid>", "<ceb:guid>4CDE1CFD</ceb:guid>"),
        "field.length",
        f"{HEAD}/guid",
        field="guid",
    ),
    "bad-month": Case(
        _sub("<ceb:appTime>20160308112701</ceb:appTime>", "<ceb:appTime>20161399112701</ceb:appTime>"),
        "field.time",
        f"{HEAD}/appTime",
        field="appTime",
    ),
    "bad-day": Case(
        _sub("<ceb:appTime>20160308112701</ceb:appTime>", "<ceb:appTime>20160230112701</ceb:appTime>"),
        "field.time",
        f"{HEAD}/appTime",
        field="appTime",
    ),
    "bad-hour": Case(
        _sub("<ceb:appTime>20160308112701</ceb:appTime>", "<ceb:appTime>20160308250000</ceb:appTime>"),
        "field.time",
        f"{HEAD}/appTime",
        field="appTime",
    ),
    "short-time": Case(
        _sub("<ceb:appTime>20160308112701</ceb:appTime>", "<ceb:appTime>201603081127</ceb:appTime>"),
        "field.time",
        f"{HEAD}/appTime",
        field="appTime",
    ),
    "iso-time": Case(
        _sub("<ceb:appTime>20160308112701</ceb:appTime>", "<ceb:appTime>2016-03-08T11:27</ceb:appTime>"),
        "field.time",
        f"{HEAD}/appTime",
        field="appTime",
    ),
    "bad-integer": Case(
        _sub("<ceb:gnum>1</ceb:gnum>", "<ceb:gnum>x</ceb:gnum>"),
        "field.integer",
        f"{LINE}/gnum",
        field="gnum",
    ),
    "integer-with-fraction": Case(
        _sub("<ceb:gnum>1</ceb:gnum>", "<ceb:gnum>1.5</ceb:gnum>"),
        "field.integer",
        f"{LINE}/gnum",
        field="gnum",
    ),
    "nested-value": Case(
        _sub("<ceb:note>test</ceb:note>", "<ceb:note><ceb:x>1</ceb:x></ceb:note>"),
        "field.nested",
        f"{HEAD}/note",
        field="note",
    ),
}


@pytest.fixture(scope="module")
def base(sample_text: Callable[[str], str]) -> str:
    return sample_text("CEB311")


def _build(base: str, case: Case) -> bytes:
    return case.edit(base).encode("utf-8")


@pytest.mark.parametrize("name", list(CASES))
def test_error_case(base: str, name: str) -> None:
    case = CASES[name]
    decoded = decode(_build(base, case))
    assert not decoded.ok
    got = [(e.code, e.path) for e in decoded.errors]
    assert (case.code, case.path) in got, got
    assert len({code for code, _ in got}) == 1, f"one kind of error expected: {got}"
    error = next(e for e in decoded.errors if e.path == case.path)
    assert error.severity == "error"
    assert error.dxp_code == case.dxp
    assert error.field == case.field


def test_baseline_is_clean(base: str) -> None:
    decoded = decode(base.encode("utf-8"))
    assert decoded.ok and decoded.findings == []


def test_sixty_characters_is_within_the_limit(base: str) -> None:
    decoded = decode(_sub(ORDER_NO, f"<ceb:orderNo>{'X' * 60}</ceb:orderNo>")(base).encode())
    assert decoded.ok
    assert decoded.documents[0].head["orderNo"] == "X" * 60


def test_field_errors_name_the_value_and_the_rule(base: str) -> None:
    decoded = decode(_build(base, CASES["decimal-letters"]))
    (error,) = decoded.errors
    assert "12a" in error.message_en and "12a" in error.message_zh
    assert "N19,5" in error.message_en
    decoded = decode(_build(base, CASES["over-length"]))
    (error,) = decoded.errors
    assert "61" in error.message_en and "C..60" in error.message_en
    decoded = decode(_build(base, CASES["bad-month"]))
    (error,) = decoded.errors
    assert "20161399112701" in error.message_en and "YYYYMMDDhhmmss" in error.message_en


def test_every_error_in_every_line_is_reported(base: str) -> None:
    text = base.replace("<ceb:qty>100</ceb:qty>", "<ceb:qty>x</ceb:qty>")
    decoded = decode(text.encode())
    assert {e.path for e in decoded.errors} == {
        f"/CEB311Message/Order[{k}]/OrderList[1]/qty" for k in range(1, 7)
    }


# --- code tables --------------------------------------------------------------------------------------------


@code_tables
def test_code_table_fields_are_mapped() -> None:
    from cbec.messages.codes import FIELD_TABLES, field_code_sets

    assert "currency" in FIELD_TABLES
    assert "appType" in FIELD_TABLES
    sets = field_code_sets()
    codes = sets["currency"][0] if isinstance(sets["currency"], tuple) else sets["currency"]
    assert "142" in codes and "999" not in codes


def _strict(field_name: str) -> bool:
    from cbec.messages.codes import FIELD_TABLES

    entry = FIELD_TABLES[field_name]
    return bool(entry[1]) if isinstance(entry, tuple) else True


@code_tables
def test_bad_currency(base: str) -> None:
    # import documents: the XSD fixes currency to 142, so anything else is an error whatever the table says
    text = _sub("<ceb:currency>142</ceb:currency>", "<ceb:currency>999</ceb:currency>")(base)
    for decoded in (decode(text.encode(), strict_codes=True), decode(text.encode())):
        found = [f for f in decoded.findings if f.field == "currency"]
        assert [f.path for f in found] == [f"{HEAD}/currency"]
        (f,) = found
        assert "999" in f.message_en and "999" in f.message_zh and "142" in f.message_en
        assert (f.code, f.severity, f.dxp_code) == ("field.fixed", "error", "0002")


@code_tables
def test_currency_outside_the_partial_table_is_a_warning(load_sample: Callable[[str], bytes]) -> None:
    # export orders carry any currency; cbec's currency table is partial, so a miss is accepted with a warning
    text = load_sample("CEB303").decode("utf-8-sig")
    text = re.sub(r"<ceb:currency>[^<]*</ceb:currency>", "<ceb:currency>999</ceb:currency>", text)
    decoded = decode(text.encode(), strict_codes=True)
    found = [f for f in decoded.findings if f.field == "currency"]
    assert found and all(f.code == "tolerated.code" and f.severity == "warning" for f in found)
    assert not _strict("currency")
    assert decoded.ok


@code_tables
def test_bad_code_in_a_complete_table(base: str) -> None:
    text = _sub("<ceb:appType>1</ceb:appType>", "<ceb:appType>9</ceb:appType>")(base)
    strict = decode(text.encode(), strict_codes=True)
    assert [(e.code, e.path) for e in strict.errors] == [("field.code", f"{HEAD}/appType")]
    assert strict.errors[0].dxp_code == "0002"
    assert "9" in strict.errors[0].message_en
    lenient = decode(text.encode())
    assert [(w.code, w.path) for w in lenient.warnings] == [("field.code", f"{HEAD}/appType")]


@code_tables
def test_codes_are_not_checked_when_asked(base: str) -> None:
    text = _sub("<ceb:appType>1</ceb:appType>", "<ceb:appType>9</ceb:appType>")(base)
    assert decode(text.encode(), check_codes=False).findings == []


# --- messages in two languages ------------------------------------------------------------------------------


_CJK = re.compile(r"[\u4e00-\u9fff]")


def _check_messages(f: Finding) -> None:
    assert f.message_zh and f.message_en, f
    assert _CJK.search(f.message_zh), f.message_zh
    assert not _CJK.search(f.message_en.split("'")[0]), f.message_en
    for text in (f.message_zh, f.message_en):
        assert "{" not in text.replace("{http", ""), f"unformatted template: {text}"
    assert f.code in CATALOGUE
    assert f.dxp_code == CATALOGUE[f.code][0] or f.severity == "warning"


@pytest.mark.parametrize("name", list(CASES))
def test_every_finding_has_zh_and_en_messages(base: str, name: str) -> None:
    decoded = decode(_build(base, CASES[name]))
    assert decoded.findings
    for f in decoded.findings:
        _check_messages(f)


def test_every_catalogue_entry_formats() -> None:
    from cbec.messages.findings import finding

    details: dict[str, Any] = {
        "detail": "d",
        "size": 1,
        "limit": 2,
        "root": "r",
        "element": "e",
        "count": 3,
        "actual": 4,
        "expected": "x",
        "value": "v",
        "table": "t",
        "namespace": "n",
        "canonical": "c",
        "declared": "a",
        "used": "b",
    }
    for code in CATALOGUE:
        f = finding(code, "/x", field="f", **details)
        _check_messages(f)
        assert f.severity == ("warning" if code.startswith("tolerated.") else "error")


# --- the CEB900 format receipt ------------------------------------------------------------------------------


def _receipt(original: bytes, decoded: DecodedMessage) -> tuple[bytes, DecodedMessage]:
    message_type = decoded.spec.root if decoded.spec else None
    receipt = build_format_receipt(decoded.errors, original, message_type=message_type)
    assert validate_bytes(receipt, "import") == []
    back = decode(receipt)
    assert back.errors == []
    assert back.message_type == "CEB900Message"
    assert len(back.documents) == 1
    return receipt, back


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("unclosed-tag", "-1"),
        ("truncated", "-1"),
        ("not-xml", "-1"),
        ("wrong-root", "-2"),
        ("required-removed", "-2"),
        ("decimal-letters", "-2"),
        ("bad-month", "-2"),
        ("lines-missing", "-2"),
    ],
)
def test_format_receipt(base: str, name: str, status: str) -> None:
    original = _build(base, CASES[name])
    decoded = decode(original)
    _, back = _receipt(original, decoded)
    head = back.documents[0].head
    assert head["returnStatus"] == status == return_status(decoded.errors)
    assert head["oriBizMessage"] == original.decode("utf-8").strip()
    for error in decoded.errors:
        assert error.path in head["returnInfo"]
        assert error.message_en in head["returnInfo"] and error.message_zh in head["returnInfo"]
    expected_type = "CEB311Message" if decoded.spec else "unknown"
    assert head["oriMessageType"] == expected_type
    assert len(head["guid"]) == 36 and head["guid"] == head["guid"].upper()
    assert head["returnTime"] is not None


@pytest.mark.parametrize("original", [b"", b"  \n"], ids=["empty", "blank"])
def test_format_receipt_for_an_empty_message(original: bytes) -> None:
    decoded = decode(original)
    assert [e.code for e in decoded.errors] == ["xml.empty"]
    receipt = build_format_receipt(decoded.errors, original, message_type=None)
    assert validate_bytes(receipt, "import") == []
    head = decode(receipt).documents[0].head
    assert head["returnStatus"] == "-1"
    assert not head["oriBizMessage"]


def test_format_receipt_keeps_the_original_bom_and_all(load_sample: Callable[[str], bytes]) -> None:
    original = load_sample("CEB311").replace(b"<ceb:goodsValue>14000", b"<ceb:goodsValue>x", 1)
    decoded = decode(original)
    _, back = _receipt(original, decoded)
    # the byte-order mark is an encoding detail, not content: it is not quoted back
    assert back.documents[0].head["oriBizMessage"] == original.decode("utf-8-sig").strip()


def test_return_info_is_cut_to_its_limit(base: str) -> None:
    text = base
    for tag in ("goodsValue", "freight", "discount", "taxTotal", "acturalPaid", "qty", "price", "totalPrice"):
        text = re.sub(rf"<ceb:{tag}>[^<]*</ceb:{tag}>", f"<ceb:{tag}>bad</ceb:{tag}>", text)
    original = text.encode("utf-8")
    decoded = decode(original)
    assert len(decoded.errors) == 6 * 5 + 12 * 3
    assert len(return_info(decoded.errors)) <= RETURN_INFO_LIMIT
    assert "66 errors in all" in return_info(decoded.errors)
    _, back = _receipt(original, decoded)
    assert len(back.documents[0].head["returnInfo"]) <= RETURN_INFO_LIMIT


@pytest.mark.parametrize(
    "original",
    [b"\x00\x01garbage", b"\xff\xfe<\x00a\x00", b"<a>\x07</a>"],
    ids=["nul-bytes", "utf16-fragment", "control-char"],
)
def test_format_receipt_for_binary_garbage(original: bytes) -> None:
    decoded = decode(original)
    assert decoded.errors
    receipt = build_format_receipt(decoded.errors, original, message_type=None)
    assert validate_bytes(receipt, "import") == []
    assert decode(receipt).documents[0].head["returnStatus"] == "-1"


def test_format_receipt_of_a_gbk_message_keeps_its_text(base: str) -> None:
    text = base.replace('encoding="UTF-8"', 'encoding="GBK"', 1)
    text = text.replace("<ceb:goodsValue>14000</ceb:goodsValue>", "<ceb:goodsValue>12a</ceb:goodsValue>", 1)
    original = text.encode("gbk")
    decoded = decode(original)
    assert [e.code for e in decoded.errors] == ["field.decimal"]
    _, back = _receipt(original, decoded)
    ori = back.documents[0].head["oriBizMessage"]
    assert "东方物通科技(北京)有限公司" in ori
    assert "\ufffd" not in ori
