"""The compiled HS table: shape, provenance, the rates the tax rules depend on, and the CBEC combined rates.

The combined-rate checks reproduce the worked examples of the regime reference (§5.2): 9.1 % for ordinary 13 %
goods, 6.3 % for 9 % goods and 23.06 % for high-end cosmetics. If a row's rates drift, those numbers move.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

from cbec.params.hs import (
    CONFIDENCE_LEVELS,
    FRAME_SCHEMA,
    RATE_DTYPE,
    HsRow,
    HsTable,
    UnknownHsCode,
    load_cbec_hs,
    load_tariff,
)

CBEC_SHARE = Decimal("0.7")  # VAT and CT are collected at 70 % within the limits (CGS-2016-18)
BP = Decimal("0.0001")


def combined_rate(row: HsRow) -> Decimal:
    """综合税率 for an ad-valorem line within the limits: duty 0, tax = P × (c + v) / (1 − c) × 0.7."""
    c, v = row.ct_ad_valorem, row.vat_rate
    return ((c + v) / (1 - c) * CBEC_SHARE).quantize(BP, rounding=ROUND_HALF_UP)


def stepwise_rate(row: HsRow, price: Decimal = Decimal(100)) -> Decimal:
    """The same tax computed the long way of §5.2, to show the compact formula is that formula."""
    c, v = row.ct_ad_valorem, row.vat_rate
    ct_full = price / (1 - c) * c
    vat_full = (price + ct_full) * v  # VAT base includes the full CT, not the 70 % CT
    return (CBEC_SHARE * (ct_full + vat_full) / price).quantize(BP, rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def table() -> HsTable:
    return load_cbec_hs()


def ad_valorem_only(row: HsRow) -> bool:
    return row.ct_specific is None


# ----------------------------------------------------------------------------------------------------- shape


def test_loads_a_few_hundred_rows_once(table: HsTable) -> None:
    assert 250 <= len(table) <= 400
    assert load_cbec_hs() is table
    assert load_tariff() is table


def test_codes_are_ten_digits_and_unique(table: HsTable) -> None:
    codes = table.codes()
    assert all(len(code) == 10 and code.isdigit() for code in codes)
    assert len(set(codes)) == len(codes) == len(table)
    assert list(codes) == sorted(codes)


def test_rates_are_ratios_and_units_are_codes(table: HsTable) -> None:
    for row in table:
        for rate in (row.mfn_duty_rate, row.vat_rate, row.ct_ad_valorem):
            assert Decimal(0) <= rate <= Decimal(1), row.hs10
        if row.provisional_duty_rate is not None:
            assert Decimal(0) <= row.provisional_duty_rate <= row.mfn_duty_rate, row.hs10
        assert row.vat_rate in (Decimal("0.13"), Decimal("0.09")), row.hs10
        if row.ct_specific is not None:
            assert row.ct_specific > 0 and row.ct_specific_unit, row.hs10
        assert len(row.unit1) == 3 and row.unit1.isdigit(), row.hs10
        assert row.unit2 is None or (len(row.unit2) == 3 and row.unit2.isdigit()), row.hs10


def test_every_row_says_where_it_comes_from(table: HsTable) -> None:
    for row in table:
        assert row.source.strip(), row.hs10
        assert "duty:" in row.source and "VAT" in row.source and "list:" in row.source, row.hs10
        assert row.confidence in CONFIDENCE_LEVELS, row.hs10
        assert row.positive_list is not None, row.hs10
        assert row.positive_list_confidence in CONFIDENCE_LEVELS, row.hs10
        assert row.name_zh and row.name_en and row.category, row.hs10
    assert {row.confidence for row in table} == set(CONFIDENCE_LEVELS)


def test_units_are_in_the_unit_code_table(table: HsTable) -> None:
    codes = pytest.importorskip("cbec.params.codes")
    try:
        units = codes.code_table("unit")
    except codes.UnknownCodeTable:
        pytest.skip("no unit code table shipped yet")
    for row in table:
        assert row.unit1 in units, row.hs10
        assert row.unit2 is None or row.unit2 in units, row.hs10


def test_covers_the_cbec_categories(table: HsTable) -> None:
    expected = {
        "perfume", "makeup", "skin_care", "hair_care", "infant_formula", "dairy", "supplements", "vitamins",
        "honey_bee", "coffee_tea", "chocolate_confectionery", "snacks", "apparel_knit", "apparel_woven",
        "footwear", "bags", "watches", "phones", "audio", "cameras", "computers", "game_consoles", "toys",
        "sports", "wine", "beer", "spirits", "jewellery", "kitchenware", "small_appliances", "books",
        "pet_food",
    }  # fmt: skip
    assert expected <= set(table.categories())


def test_has_off_list_goods_for_rejection_paths(table: HsTable) -> None:
    off = {row.hs10: row for row in table if row.positive_list is False}
    assert len(off) >= 5
    assert {"tobacco", "live_animals", "weapons"} <= {row.category for row in off.values()}
    # an on-list 8-digit line can still be excluded by the list remark (endangered-species ingredients)
    assert "3304990021" in off and table["3304990029"].positive_list is True


# ------------------------------------------------------------------------------------------------ known rows


def test_perfume_bears_high_end_cosmetics_ct(table: HsTable) -> None:
    for code in ("3303000010", "3303000020"):
        row = table[code]
        assert row.category == "perfume"
        assert row.ct_ad_valorem == Decimal("0.15")
        assert row.ct_threshold_note is not None and "10 CNY/ml(g)" in row.ct_threshold_note
        assert "15 CNY/piece" in row.ct_threshold_note
        assert row.mfn_duty_rate == Decimal("0.03")
        assert (row.unit1, row.unit2) == ("035", "011")


def test_wine_spirits_and_beer(table: HsTable) -> None:
    wine = table["2204210000"]
    assert wine.ct_ad_valorem == Decimal("0.10") and wine.ct_specific is None
    assert (wine.unit1, wine.unit2, wine.mfn_duty_rate) == ("095", "035", Decimal("0.14"))
    whisky = table["2208300000"]
    assert whisky.ct_ad_valorem == Decimal("0.20")
    assert (whisky.ct_specific, whisky.ct_specific_unit) == (Decimal("0.912"), "CNY/L")
    beer = table["2203000000"]
    assert beer.ct_ad_valorem == 0 and (beer.ct_specific, beer.ct_specific_unit) == (Decimal(250), "CNY/t")
    assert beer.ct_threshold_note is not None and "370 USD/t" in beer.ct_threshold_note


def test_books_pay_reduced_vat(table: HsTable) -> None:
    book = table["4901990000"]
    assert (book.vat_rate, book.mfn_duty_rate, book.category) == (Decimal("0.09"), Decimal(0), "books")


def test_luxury_watches_and_jewellery(table: HsTable) -> None:
    watch = table["9102210090"]
    assert watch.ct_ad_valorem == Decimal("0.20")
    assert watch.ct_threshold_note is not None and "10000 CNY" in watch.ct_threshold_note
    assert (watch.unit1, watch.mfn_duty_rate) == ("008", Decimal("0.11"))
    # gold/silver jewellery: CT is levied at retail, not by customs; pearl and gem articles: 10 % at import
    assert table["7113119090"].ct_ad_valorem == 0 and table["7113119090"].unit1 == "036"
    assert table["7116100000"].ct_ad_valorem == Decimal("0.10")


def test_provisional_rate_beats_mfn(table: HsTable) -> None:
    formula = table["1901101090"]
    assert formula.provisional_duty_rate is not None
    assert formula.applicable_duty_rate == formula.provisional_duty_rate < formula.mfn_duty_rate
    shampoo = table["3305100090"]
    assert shampoo.applicable_duty_rate == Decimal("0.02")
    phone = table["8517130000"]
    assert phone.provisional_duty_rate is None and phone.applicable_duty_rate == phone.mfn_duty_rate == 0


# -------------------------------------------------------------------------------------------- combined rates


def test_combined_rate_9_1_percent_for_ordinary_goods(table: HsTable) -> None:
    rows = [r for r in table if r.vat_rate == Decimal("0.13") and r.ct_ad_valorem == 0 and ad_valorem_only(r)]
    assert len(rows) > 100
    assert {combined_rate(r) for r in rows} == {Decimal("0.0910")}
    assert combined_rate(table["1901101090"]) == Decimal("0.0910")  # infant formula


def test_combined_rate_6_3_percent_for_reduced_vat_goods(table: HsTable) -> None:
    rows = [r for r in table if r.vat_rate == Decimal("0.09") and r.ct_ad_valorem == 0 and ad_valorem_only(r)]
    assert {r.hs10 for r in rows} >= {"4901990000", "0401200000", "1509200000"}
    assert {combined_rate(r) for r in rows} == {Decimal("0.0630")}


def test_combined_rate_23_06_percent_for_high_end_cosmetics(table: HsTable) -> None:
    rows = [r for r in table if r.category in {"perfume", "makeup", "skin_care"} and r.ct_ad_valorem > 0]
    assert len(rows) >= 10
    assert {combined_rate(r) for r in rows} == {Decimal("0.2306")}
    # (0.15 + 0.13) / 0.85 × 0.7 = 0.230588…
    assert combined_rate(table["3303000020"]) == Decimal("0.2306")


def test_other_ad_valorem_ct_goods(table: HsTable) -> None:
    assert combined_rate(table["2204210000"]) == Decimal("0.1789")  # wine, 10 % CT
    assert combined_rate(table["7116100000"]) == Decimal("0.1789")  # pearl jewellery, 10 % CT
    assert combined_rate(table["9102210090"]) == Decimal("0.2888")  # luxury watch above 10,000 CNY


@pytest.mark.parametrize("code", ["3303000010", "2204210000", "9101110000", "0401200000", "6404110000"])
def test_compact_formula_is_the_stepwise_formula(table: HsTable, code: str) -> None:
    assert combined_rate(table[code]) == stepwise_rate(table[code])


# ------------------------------------------------------------------------------------------------------- API


def test_lookup_by_code_and_subheading(table: HsTable) -> None:
    assert table.get("0000000000") is None
    assert "3304990029" in table and "3304990029x" not in table
    with pytest.raises(UnknownHsCode, match="0000000000"):
        table["0000000000"]
    skin = {row.hs10 for row in table.by_subheading("330499")}
    assert {"3304990029", "3304990039", "3304990099"} <= skin
    assert table.by_subheading("999999") == ()
    assert {"220421", "330300", "910221"} <= table.subheadings()
    row = table["3304990029"]
    assert (row.hs6, row.hs8) == ("330499", "33049900")


def test_frame_has_decimal_rates(table: HsTable) -> None:
    frame = table.frame()
    assert frame.height == len(table)
    assert dict(frame.schema) == dict(FRAME_SCHEMA)
    for column in (
        "mfn_duty_rate",
        "provisional_duty_rate",
        "applicable_duty_rate",
        "vat_rate",
        "ct_ad_valorem",
    ):
        assert frame.schema[column] == RATE_DTYPE
    assert frame.schema["ct_specific"] == pl.Decimal(12, 5)
    assert frame.schema["positive_list"] == pl.Boolean
    perfume = frame.filter(pl.col("hs10") == "3303000020").row(0, named=True)
    assert perfume["ct_ad_valorem"] == Decimal("0.15") and perfume["hs6"] == "330300"
    formula = frame.filter(pl.col("hs10") == "1901101090").row(0, named=True)
    assert formula["applicable_duty_rate"] == table["1901101090"].provisional_duty_rate


def test_frame_is_a_copy(table: HsTable) -> None:
    first = table.frame()
    first.drop_in_place("source")
    assert "source" in table.frame().columns


def test_frame_supports_vectorised_joins(table: HsTable) -> None:
    lines = pl.DataFrame({"gnum": [1, 2, 3], "hs10": ["3303000020", "4901990000", "0000000000"]})
    joined = lines.join(table.frame().select("hs10", "vat_rate", "positive_list"), on="hs10", how="left")
    assert joined["vat_rate"].to_list() == [Decimal("0.13"), Decimal("0.09"), None]
    assert joined["positive_list"].to_list() == [True, True, None]
