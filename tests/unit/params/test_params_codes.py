"""Tests for cbec.params.codes: packaged tables, known codes, operator overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbec.params import (
    CodeTableFileError,
    UnknownCode,
    UnknownCodeTable,
    code_table,
    list_tables,
    load_code_tables,
)

REQUIRED_TABLES = {
    "currency",
    "country",
    "unit",
    "transport_mode",
    "trade_mode",
    "wrap_type",
    "id_type",
    "app_type",
    "app_status",
    "order_type",
    "return_status",
    "business_error",
    "dxp_error",
}


def test_required_tables_exist() -> None:
    assert set(list_tables()) >= REQUIRED_TABLES
    assert list_tables() == sorted(list_tables())


@pytest.mark.parametrize("name", list_tables())
def test_every_table_is_well_formed(name: str) -> None:
    table = code_table(name)
    assert table.name == name
    assert table.source and table.title_en and table.title_zh
    assert table.confidence in {"sure", "likely", "guess"}
    assert len(table) > 0
    for entry in table:
        assert isinstance(entry.code, str) and entry.code == entry.code.strip() and entry.code
        assert entry.name_zh.strip() and entry.name_en.strip()
        assert entry.confidence in {"sure", "likely", "guess"}
        assert table.get(entry.code) is entry


@pytest.mark.parametrize(
    ("table", "code", "name_zh", "name_en_part"),
    [
        ("currency", "142", "人民币", "yuan"),
        ("currency", "502", "美元", "US dollar"),
        ("currency", "116", "日本元", "yen"),
        ("currency", "300", "欧元", "Euro"),
        ("country", "142", "中国", "China"),
        ("country", "116", "日本", "Japan"),
        ("country", "502", "美国", "United States"),
        ("country", "303", "英国", "United Kingdom"),
        ("unit", "007", "个", "piece"),
        ("unit", "011", "件", "article"),
        ("unit", "035", "千克", "kilogram"),
        ("transport_mode", "5", "航空运输", "Air"),
        ("transport_mode", "6", "邮件运输", "Post"),
        ("trade_mode", "9610", "跨境贸易电子商务", "e-commerce"),
        ("trade_mode", "0110", "一般贸易", "General trade"),
        ("wrap_type", "2", "纸箱", "Carton"),
        ("id_type", "1", "身份证", "ID card"),
        ("order_type", "W", "海外仓订仓单", "Overseas-warehouse"),
        ("return_status", "800", "放行", "Released"),
        ("return_status", "899", "结关", "closed"),
        ("dxp_error", "0002", "数据包不能通过schema验证", "schema"),
    ],
)
def test_known_codes(table: str, code: str, name_zh: str, name_en_part: str) -> None:
    t = code_table(table)
    assert t.contains(code)
    entry = t.get(code)
    assert entry is not None
    assert entry.code == code
    assert entry.name_zh == name_zh
    assert name_en_part in entry.name_en


def test_currency_carries_iso_codes() -> None:
    currency = code_table("currency")
    assert currency["142"].attr("iso") == "CNY"
    assert currency["502"].attr("iso") == "USD"
    assert currency["142"].confidence == "sure"


def test_leading_zeros_are_kept() -> None:
    unit = code_table("unit")
    assert unit.contains("007") and not unit.contains("7")
    assert code_table("trade_mode").contains("0110")
    assert code_table("dxp_error").contains("0001") and not code_table("dxp_error").contains("1")


def test_trade_modes_of_cbec() -> None:
    assert {"9610", "1210", "1239", "9710", "9810", "0110"} <= set(code_table("trade_mode").codes())


def test_small_enumerations() -> None:
    assert set(code_table("app_type").codes()) == {"1", "2", "3"}
    assert set(code_table("app_status").codes()) == {"1", "2"}
    assert set(code_table("order_type").codes()) == {"I", "E", "B", "W"}
    assert set(code_table("tax_bill_status").codes()) == {"1", "2", "3"}


def test_return_statuses() -> None:
    statuses = code_table("return_status")
    expected = {"1", "2", "3", "4", "100", "120", "300", "399", "500", "501", "502", "503", "599", "700"}
    assert expected | {"505", "600", "800", "899"} <= set(statuses.codes())
    for entry in statuses:
        assert int(entry.code) > 0
        assert entry.name_zh and entry.name_en
        receipts = (entry.attr("receipts") or "").split()
        assert receipts, entry.code
    assert "622" in (statuses["899"].attr("receipts") or "").split()
    assert "214" in (statuses["600"].attr("receipts") or "").split()


def test_business_errors_are_negative() -> None:
    errors = code_table("business_error")
    assert len(errors) > 150
    for entry in errors:
        assert int(entry.code) < 0, entry.code
        assert entry.name_zh and entry.name_en
        assert entry.attr("family") and entry.attr("message")


@pytest.mark.parametrize(
    ("code", "family", "zh_part"),
    [
        ("-301010", "order", "已存在相同编号的订单"),
        ("-401007", "payment", "已存在相同编号的支付单"),
        ("-621005", "import_list", "超过单笔限额"),
        ("-621018", "import_list", "年度限额"),
        ("-621028", "import_list", "加签数据比对失败"),
        ("-621029", "import_list", "验签失败"),
        ("-623005", "cancel", "撤单"),
        ("-625209", "return", "表体序号"),
        ("-800003", "entry_detail", "已存在"),
        ("-10101", "enterprise", "无效企业类型"),
    ],
)
def test_known_business_errors(code: str, family: str, zh_part: str) -> None:
    entry = code_table("business_error")[code]
    assert entry.attr("family") == family
    assert zh_part in entry.name_zh


def test_codes_listed_twice_in_the_spec_keep_both_texts() -> None:
    entry = code_table("business_error")["-621027"]
    assert "gnum" in (entry.attr("alt_zh") or "")
    assert entry.attr("alt_en")


def test_dxp_errors() -> None:
    dxp = code_table("dxp_error")
    assert {"0001", "0002", "0999", "1001", "1002", "1003", "1004", "2001", "3003"} <= set(dxp.codes())
    assert all(len(code) == 4 and code.isdigit() for code in dxp.codes())


def test_lookup_errors() -> None:
    currency = code_table("currency")
    assert currency.get("999999") is None
    with pytest.raises(UnknownCode, match="currency"):
        currency["999999"]
    with pytest.raises(UnknownCodeTable, match="currencies"):
        code_table("currencies")


def test_tables_are_cached_and_immutable() -> None:
    assert code_table("currency") is code_table("currency")
    assert load_code_tables() is load_code_tables()
    entry = code_table("currency")["142"]
    with pytest.raises(AttributeError):
        entry.name_en = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.attrs["iso"] = "XXX"  # type: ignore[index]


@given(st.text(max_size=8))
def test_contains_agrees_with_get(code: str) -> None:
    table = code_table("country")
    assert table.contains(code) == (table.get(code) is not None) == (code in table)


# ----------------------------------------------------------------------------------- operator files

EXTRA_CURRENCY = """
tables:
  - name: currency
    merge: extend
    title_en: Currency additions
    title_zh: 币制补充
    source: operator test file
    confidence: guess
    entries:
      - {code: "133", name_zh: 韩国元, name_en: Korean won, attrs: {iso: KRW}}
"""


def test_operator_extends_a_table(tmp_path: Path) -> None:
    (tmp_path / "currency.yaml").write_text(EXTRA_CURRENCY, encoding="utf-8")
    table = code_table("currency", tmp_path)
    assert table.contains("133") and table.contains("142")
    assert table["133"].confidence == "guess"
    assert not code_table("currency").contains("133")  # the packaged table is untouched


def test_operator_replaces_a_table(tmp_path: Path) -> None:
    (tmp_path / "currency.yaml").write_text(
        EXTRA_CURRENCY.replace("merge: extend", "merge: replace"), "utf-8"
    )
    table = code_table("currency", str(tmp_path))
    assert table.codes() == ("133",)


def test_operator_adds_a_new_table(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(EXTRA_CURRENCY.replace("name: currency", "name: my_table"), "utf-8")
    with pytest.raises(CodeTableFileError, match="extend"):
        list_tables(tmp_path)
    text = EXTRA_CURRENCY.replace("name: currency", "name: my_table").replace(
        "merge: extend", "merge: replace"
    )
    (tmp_path / "x.yaml").write_text(text, "utf-8")
    assert "my_table" in list_tables(tmp_path / ".")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('code: "133"', "code: 007", "quoted"),
        ("confidence: guess", "confidence: maybe", "confidence"),
        ("name_en: Korean won, ", "", "name_en"),
        ("attrs: {iso: KRW}", "attrs: {iso: 1}", "attrs"),
        ("name_zh: 韩国元", "name_zh: 韩国元, colour: red", "unexpected"),
    ],
)
def test_malformed_operator_tables(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in EXTRA_CURRENCY
    (tmp_path / "bad.yaml").write_text(EXTRA_CURRENCY.replace(old, new), encoding="utf-8")
    with pytest.raises(CodeTableFileError, match=match):
        load_code_tables(tmp_path)


def test_duplicate_codes_are_rejected(tmp_path: Path) -> None:
    line = '      - {code: "133", name_zh: 韩国元, name_en: Korean won, attrs: {iso: KRW}}\n'
    (tmp_path / "dup.yaml").write_text(EXTRA_CURRENCY + line, encoding="utf-8")
    with pytest.raises(CodeTableFileError, match="twice"):
        load_code_tables(tmp_path)
