"""The CBEC comprehensive tax rule, checked against the law's own examples and amounts worked by hand.

Each expected number below is derived in the test from the formula of the regime reference §5.2, so a reader
can re-check it without running anything.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from _tax_testlib import N19_5, SCHEMA

from cbec.params.dated import ParameterNotInForce, ParameterSet, default_parameters
from cbec.params.hs import HsTable, UnknownHsCode, load_cbec_hs
from cbec.rules.basket import BasketError, BasketItem, estimate
from cbec.rules.tax import (
    CT_THRESHOLDS,
    LINE_OUTPUT_SCHEMA,
    LIST_OUTPUT_SCHEMA,
    OVER_ANNUAL_LIMIT,
    OVER_SINGLE_LIMIT,
    Flag,
    QuantityBasis,
    Treatment,
    annual_check,
    assess,
    dutiable_values,
    list_totals,
    parse_specific_unit,
)

D = Decimal
DAY = date(2024, 5, 1)

INFANT_FORMULA = "1901101010"  # VAT 13 %, no CT
UHT_MILK = "0401200000"  # VAT 9 %, no CT
SKIN_CARE = "3304990029"  # high-end cosmetics: CT 15 % at or above 10 CNY/g; legal units 035 kg, 011 件
SKIN_CARE_OTHER = "3304990099"  # cosmetics labelled in other units (masks by the sheet)
WATCH = "9102210090"  # automatic wrist-watch: CT 20 % at or above 10,000 CNY per piece; legal unit 008 只
WHISKY = "2208300000"  # CT 20 % + 0.912 CNY/L; legal units 095 L, 035 kg
BEER = "2203000000"  # CT 250 CNY/t; legal units 095 L, 035 kg


@pytest.fixture(scope="module")
def params() -> ParameterSet:
    return default_parameters()


@pytest.fixture(scope="module")
def hs() -> HsTable:
    return load_cbec_hs()


def line(
    key: str,
    code: str,
    price: str,
    *,
    qty: str = "1",
    qty1: str | None = "1",
    unit1: str | None = None,
    qty2: str | None = None,
    unit2: str | None = None,
    freight: str = "0",
    insurance: str = "0",
    day: date = DAY,
    gnum: int | None = None,
) -> dict[str, Any]:
    row = load_cbec_hs().get(code)
    return {
        "list_key": key,
        "gnum": gnum,
        "gcode": code,
        "qty": D(qty),
        "qty1": None if qty1 is None else D(qty1),
        "unit1": unit1 if unit1 is not None else (row.unit1 if row else "035"),
        "qty2": None if qty2 is None else D(qty2),
        "unit2": unit2 if unit2 is not None else (row.unit2 if row and qty2 is not None else None),
        "price": D(price),
        "totalPrice": D(price) * D(qty),
        "freight": D(freight),
        "insuredFee": D(insurance),
        "declDate": day,
    }


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    numbered = []
    counters: dict[str, int] = {}
    for row in rows:
        counters[row["list_key"]] = counters.get(row["list_key"], 0) + 1
        numbered.append({**row, "gnum": row["gnum"] or counters[row["list_key"]]})
    return pl.DataFrame(numbered, schema=dict(SCHEMA))


def run(
    params: ParameterSet, hs: HsTable | pl.DataFrame, *rows: dict[str, Any], **kw: Any
) -> tuple[pl.DataFrame, pl.DataFrame]:
    lines = assess(frame(*rows), on="declDate", params=params, hs=hs, **kw)
    return lines, list_totals(lines)


def fen(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def one(df: pl.DataFrame, column: str, index: int = 0) -> Any:
    return df[column][index]


# ------------------------------------------------------------------------------ the combined-rate examples


@pytest.mark.parametrize(
    ("code", "qty1", "expected"),
    [
        (INFANT_FORMULA, "1", D("9.10")),  # 13 % × 70 %
        (UHT_MILK, "1", D("6.30")),  # 9 % × 70 %
        (SKIN_CARE, "0.005", D("23.06")),  # 100 CNY for 5 g = 20 CNY/g: high-end
    ],
)
def test_combined_rate_examples(
    params: ParameterSet, hs: HsTable, code: str, qty1: str, expected: Decimal
) -> None:
    lines, totals = run(params, hs, line("L", code, "100", qty1=qty1))
    assert one(lines, "treatment") == Treatment.WITHIN_LIMITS
    assert one(lines, "payable") == expected
    assert one(totals, "tax_total") == expected
    assert one(totals, "admissible") is True
    assert one(totals, "reject_code") is None


def test_cosmetics_combined_rate_is_the_exact_formula(params: ParameterSet, hs: HsTable) -> None:
    """23.06 % is 0.28 / 0.85 × 0.7 = 0.230588…: unrounded, the rule must give exactly that."""
    lines, _ = run(params, hs, line("L", SKIN_CARE, "100", qty1="0.005"), round_amounts=False)
    exact = D(100) * (D("0.15") + D("0.13")) / (D(1) - D("0.15")) * D("0.7")
    assert abs(one(lines, "payable") - exact) < D("1e-10")
    # the parts: CT_full = P/(1−c)·c, VAT_full on P + the FULL CT, then 70 % of each
    ct_full = D(100) / D("0.85") * D("0.15")
    vat_full = (D(100) + ct_full) * D("0.13")
    assert abs(one(lines, "ct_full") - ct_full) < D("1e-10")
    assert abs(one(lines, "vat_full") - vat_full) < D("1e-10")
    rounded, _ = run(params, hs, line("L", SKIN_CARE, "100", qty1="0.005"))
    assert one(rounded, "ct") == fen(ct_full * D("0.7")) == D("12.35")
    assert one(rounded, "vat") == fen(vat_full * D("0.7")) == D("10.71")


# ------------------------------------------------------------------------------ thresholds


def test_cosmetics_below_the_threshold_pay_no_consumption_tax(params: ParameterSet, hs: HsTable) -> None:
    # 100 CNY for 100 g = 1 CNY/g < 10: not high-end, so only VAT: 100 × 13 % × 70 %
    lines, _ = run(params, hs, line("L", SKIN_CARE, "100", qty1="0.1"))
    assert one(lines, "ct_threshold_met") is False
    assert one(lines, "ct_rate") == 0
    assert one(lines, "ct") == 0
    assert one(lines, "payable") == D("9.10")
    assert one(lines, "flags").to_list() == []


def test_cosmetics_threshold_is_inclusive(params: ParameterSet, hs: HsTable) -> None:
    # exactly 10 CNY/g (100 CNY for 10 g) is high-end ("≥")
    lines, _ = run(params, hs, line("L", SKIN_CARE, "100", qty1="0.01"))
    assert one(lines, "ct_threshold_met") is True
    assert one(lines, "payable") == D("23.06")


def test_cosmetics_threshold_uses_the_dutiable_value(params: ParameterSet, hs: HsTable) -> None:
    # 95 CNY for 10 g is 9.5 CNY/g; with 5 CNY freight the dutiable value is 10 CNY/g: high-end
    without, _ = run(params, hs, line("L", SKIN_CARE, "95", qty1="0.01"))
    with_freight, _ = run(params, hs, line("L", SKIN_CARE, "95", qty1="0.01", freight="5"))
    assert one(without, "ct_threshold_met") is False
    assert one(with_freight, "ct_threshold_met") is True


def test_cosmetics_per_sheet_leg(params: ParameterSet, hs: HsTable) -> None:
    # 100 CNY for a box of 5 masks (片, unit 020), 125 g: 0.8 CNY/g but 20 CNY per sheet ≥ 15 → high-end
    lines, _ = run(
        params, hs, line("L", SKIN_CARE_OTHER, "100", qty1="0.125", unit1="035", qty2="5", unit2="020")
    )
    assert one(lines, "ct_threshold_met") is True
    # 件 (011) counts jars, not sheets: the same box declared as 1 件 is judged by weight only
    lines, _ = run(
        params, hs, line("L", SKIN_CARE_OTHER, "100", qty1="0.125", unit1="035", qty2="1", unit2="011")
    )
    assert one(lines, "ct_threshold_met") is False


def test_threshold_without_a_quantity_charges_the_tax_and_says_so(params: ParameterSet, hs: HsTable) -> None:
    lines, totals = run(params, hs, line("L", SKIN_CARE, "100", qty1=None))
    assert one(lines, "ct_threshold_met") is None
    assert one(lines, "payable") == D("23.06")
    assert Flag.CT_THRESHOLD_NO_QUANTITY in one(lines, "flags").to_list()
    assert Flag.CT_THRESHOLD_NO_QUANTITY in one(totals, "flags").to_list()


def test_every_threshold_note_of_the_compiled_tariff_is_parsed(hs: HsTable) -> None:
    notes = {row.ct_threshold_note for row in hs if row.ct_threshold_note}
    assert notes <= set(CT_THRESHOLDS)
    for threshold in CT_THRESHOLDS.values():
        assert threshold.tests
        for test in threshold.tests:
            assert (test.minimum is None) != (test.minimum_parameter is None)


def test_cheap_watch_within_limits_pays_no_consumption_tax(params: ParameterSet, hs: HsTable) -> None:
    lines, _ = run(params, hs, line("L", WATCH, "3000"))
    assert one(lines, "ct_threshold_met") is False
    assert one(lines, "payable") == fen(D(3000) * D("0.13") * D("0.7")) == D("273.00")


# ------------------------------------------------------------------------------ over the single limit


def test_watch_over_the_limit_as_a_single_item_is_taxed_in_full(params: ParameterSet, hs: HsTable) -> None:
    assert hs[WATCH].applicable_duty_rate == D("0.11")
    lines, totals = run(params, hs, line("L", WATCH, "12000"))
    p, d, c, v = D(12000), D("0.11"), D("0.20"), D("0.13")
    duty = p * d  # 1,320.00
    ct = (p + duty) / (1 - c) * c  # 3,330.00
    vat = (p + duty + ct) * v  # 2,164.50
    assert one(lines, "treatment") == Treatment.FULL
    assert (one(lines, "duty"), one(lines, "ct"), one(lines, "vat")) == (fen(duty), fen(ct), fen(vat))
    assert one(lines, "ct") == one(lines, "ct_full") and one(lines, "vat") == one(lines, "vat_full")
    assert one(lines, "ct_factor") == 1 and one(lines, "vat_factor") == 1
    assert one(lines, "duty_rate") == d and one(lines, "ct_rate") == c
    assert one(totals, "tax_total") == D("6814.50")
    assert one(totals, "admissible") is True
    assert one(totals, "reject_code") is None
    assert "全额征收" in one(totals, "reason_zh")
    assert "single item" in one(totals, "reason_en")


def test_two_items_over_the_limit_are_refused(params: ParameterSet, hs: HsTable) -> None:
    lines, totals = run(params, hs, line("L", WATCH, "3000"), line("L", INFANT_FORMULA, "3000"))
    assert lines["treatment"].to_list() == [Treatment.OVER_LIMIT] * 2
    assert lines["payable"].null_count() == 2
    assert one(totals, "admissible") is False
    assert one(totals, "reject_code") == OVER_SINGLE_LIMIT == "-621005"
    assert one(totals, "tax_total") is None
    assert "超过单笔限额" in one(totals, "reason_zh") and "6000.00" in one(totals, "reason_zh")
    assert "single-transaction limit" in one(totals, "reason_en")


def test_one_line_of_two_pieces_is_not_a_single_item(params: ParameterSet, hs: HsTable) -> None:
    _, totals = run(params, hs, line("L", WATCH, "3000", qty="2"), line("M", WATCH, "6000"))
    assert totals["reject_code"].to_list() == [OVER_SINGLE_LIMIT, None]
    assert totals["treatment"].to_list() == [Treatment.OVER_LIMIT, Treatment.FULL]


@pytest.mark.parametrize(
    ("price", "freight", "treatment"),
    [
        ("4990", "10", Treatment.WITHIN_LIMITS),  # exactly 5,000 incl. freight: within (≤)
        ("4990", "10.01", Treatment.OVER_LIMIT),
        ("5000", "0", Treatment.WITHIN_LIMITS),
    ],
)
def test_the_single_limit_is_inclusive(
    params: ParameterSet, hs: HsTable, price: str, freight: str, treatment: Treatment
) -> None:
    half = str(D(price) / 2)
    _, totals = run(
        params,
        hs,
        line("L", INFANT_FORMULA, half, freight=freight),
        line("L", INFANT_FORMULA, half, freight=freight),
    )
    assert one(totals, "treatment") == treatment


def test_the_limit_follows_the_date(params: ParameterSet, hs: HsTable) -> None:
    """One batch, two dates: 3,000 CNY of two items is over the 2,000 limit of 2018, within 5,000 in 2019."""
    rows = []
    for key, day in (("old", date(2018, 12, 31)), ("new", date(2019, 1, 1))):
        rows += [line(key, INFANT_FORMULA, "1500", day=day), line(key, INFANT_FORMULA, "1500", day=day)]
    _, totals = run(params, hs, *rows)
    assert totals["treatment"].to_list() == [Treatment.OVER_LIMIT, Treatment.WITHIN_LIMITS]
    assert totals["single_limit"].to_list() == [D(2000), D(5000)]
    assert totals["annual_limit"].to_list() == [D(20000), D(26000)]
    assert "[2000.00元]" in totals["reason_zh"][0]


def test_before_2019_an_over_limit_single_item_went_as_general_trade(
    params: ParameterSet, hs: HsTable
) -> None:
    _, totals = run(params, hs, line("L", WATCH, "3000", day=date(2018, 6, 1)))
    assert one(totals, "treatment") == Treatment.OVER_LIMIT
    assert one(totals, "reject_code") == OVER_SINGLE_LIMIT
    assert "一般贸易" in one(totals, "reason_zh")
    assert "general trade" in one(totals, "reason_en") and "2018-06-01" in one(totals, "reason_en")


def test_before_the_regime_there_is_no_rule(params: ParameterSet, hs: HsTable) -> None:
    with pytest.raises(ParameterNotInForce) as info:
        run(params, hs, line("L", INFANT_FORMULA, "100", day=date(2016, 4, 7)))
    assert "import.retail.single_limit" in str(info.value)
    assert "2016-04-07" in str(info.value)


def test_the_first_day_of_the_regime_works(params: ParameterSet, hs: HsTable) -> None:
    _, totals = run(params, hs, line("L", INFANT_FORMULA, "100", day=date(2016, 4, 8)))
    assert one(totals, "tax_total") == D("9.10")


def test_cosmetics_before_their_threshold_existed_fail_loudly(params: ParameterSet, hs: HsTable) -> None:
    """The high-end-cosmetics regime starts 2016-10-01; a lipstick of June 2016 has no rule to apply."""
    with pytest.raises(ParameterNotInForce, match="high_end_threshold"):
        run(params, hs, line("L", SKIN_CARE, "100", qty1="0.005", day=date(2016, 6, 1)))
    # … while milk of the same day is fine: thresholds are looked up only where they are needed
    _, totals = run(params, hs, line("L", UHT_MILK, "100", day=date(2016, 6, 1)))
    assert one(totals, "tax_total") == D("6.30")


# ------------------------------------------------------------------------------ specific consumption tax


def test_whisky_compound_consumption_tax_by_hand(params: ParameterSet, hs: HsTable) -> None:
    # 0.7 L of whisky at 300 CNY: c = 20 %, s = 0.912 CNY/L, Q = 0.7 L
    lines, _ = run(params, hs, line("L", WHISKY, "300", qty1="0.7", qty2="1.2"))
    p, c, v, qs = D(300), D("0.2"), D("0.13"), D("0.7") * D("0.912")  # Q·s = 0.6384
    ct_full = (p + qs) / (1 - c) * c + qs  # 75.798
    vat_full = (p + ct_full) * v  # 48.85374
    assert one(lines, "ct_quantity") == D("0.7")
    assert one(lines, "ct_specific") == D("0.912")
    assert one(lines, "ct_specific_unit") == "CNY/L"
    assert one(lines, "ct_full") == fen(ct_full) == D("75.80")
    assert one(lines, "ct") == fen(ct_full * D("0.7")) == D("53.06")
    assert one(lines, "vat") == fen(vat_full * D("0.7")) == D("34.20")
    assert one(lines, "payable") == D("87.26")


def test_beer_specific_tax_per_tonne_from_the_declared_mass(params: ParameterSet, hs: HsTable) -> None:
    # 24 cans, 7.92 L, 8.5 kg, 240 CNY: Q = 0.0085 t × 250 CNY/t = 2.125 CNY; no ad-valorem part
    lines, _ = run(params, hs, line("L", BEER, "10", qty="24", qty1="7.92", qty2="8.5"))
    qs = D("0.0085") * D(250)
    vat_full = (D(240) + qs) * D("0.13")
    assert one(lines, "ct_quantity") == D("0.0085")
    assert one(lines, "ct") == fen(qs * D("0.7")) == D("1.49")
    assert one(lines, "vat") == fen(vat_full * D("0.7")) == D("22.03")
    # the 370 USD/t split needs an exchange rate: the higher (甲类) amount is applied, and flagged
    assert one(lines, "flags").to_list() == [Flag.CT_THRESHOLD_UNSUPPORTED]


def test_specific_tax_without_a_quantity_is_not_charged_and_flagged(
    params: ParameterSet, hs: HsTable
) -> None:
    lines, _ = run(params, hs, line("L", BEER, "10", qty="24", qty1="7.92"))  # litres only, no kg
    assert one(lines, "ct") == 0
    assert Flag.CT_SPECIFIC_NO_QUANTITY in one(lines, "flags").to_list()


def test_unknown_specific_unit_and_unknown_note_with_an_operator_frame(
    params: ParameterSet, hs: HsTable
) -> None:
    tariff = hs.frame().with_columns(
        pl.when(pl.col("hs10") == WHISKY)
        .then(pl.lit("CNY/bottle"))
        .otherwise(pl.col("ct_specific_unit"))
        .alias("ct_specific_unit"),
        pl.when(pl.col("hs10") == WATCH)
        .then(pl.lit("only on Tuesdays"))
        .otherwise(pl.col("ct_threshold_note"))
        .alias("ct_threshold_note"),
    )
    lines, _ = run(params, tariff, line("A", WHISKY, "300", qty1="0.7"), line("B", WATCH, "3000"))
    assert one(lines, "flags", 0).to_list() == [Flag.CT_SPECIFIC_UNIT_UNKNOWN]
    assert one(lines, "ct_specific", 0) == 0
    assert one(lines, "ct_full", 0) == fen(D(300) / D("0.8") * D("0.2"))  # ad valorem only
    assert one(lines, "flags", 1).to_list() == [Flag.CT_THRESHOLD_UNKNOWN]
    assert one(lines, "ct_rate", 1) == D("0.2")  # the table's rate, on the safe side


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CNY/t", (QuantityBasis.MASS, D(1_000_000))),
        ("CNY/L", (QuantityBasis.VOLUME, D(1000))),
        ("CNY/500g", (QuantityBasis.MASS, D(500))),
        ("CNY/500ml", (QuantityBasis.VOLUME, D(500))),
        ("CNY/500g(ml)", (QuantityBasis.CONTENT, D(500))),
        ("CNY/stick", (QuantityBasis.STICK, D(1))),
        ("CNY/bottle", None),
        ("USD/t", None),
        (None, None),
    ],
)
def test_parse_specific_unit(text: str | None, expected: tuple[QuantityBasis, Decimal] | None) -> None:
    assert parse_specific_unit(text) == expected


# ------------------------------------------------------------------------------ dutiable value and rounding


def test_freight_is_allocated_in_proportion_and_sums_exactly(params: ParameterSet) -> None:
    lines = frame(
        *(line("L", INFANT_FORMULA, p, freight="10", insurance="1.01") for p in ("100", "100", "100")),
        *(line("M", INFANT_FORMULA, p, freight="7.77") for p in ("20", "50", "30")),
    )
    valued = dutiable_values(lines, on="declDate", params=params)
    # 10 / 3 = 3.333… → 3.33 each, the 0.01 left over goes to the largest line (the first on a tie)
    assert valued["freight_share"].to_list()[:3] == [D("3.34"), D("3.33"), D("3.33")]
    # 1.01 / 3 = 0.3366… → 0.34 each = 1.02: the largest line gives the 0.01 back
    assert valued["insurance_share"].to_list()[:3] == [D("0.33"), D("0.34"), D("0.34")]
    # 7.77 × (0.2, 0.5, 0.3) = 1.554, 3.885, 2.331 → 1.55, 3.89, 2.33 = 7.77 already
    assert valued["freight_share"].to_list()[3:] == [D("1.55"), D("3.89"), D("2.33")]
    sums = valued.group_by("list_key", maintain_order=True).agg(
        pl.col("dutiable_value").sum(),
        (pl.col("totalPrice").sum() + pl.col("freight").first()).alias("goods"),
    )
    assert sums["dutiable_value"].to_list() == [D("311.01"), D("107.77")]


def test_rounding_is_per_line_and_totals_add_the_rounded_lines(params: ParameterSet, hs: HsTable) -> None:
    # each 15 CNY line: 15 × 13 % × 70 % = 1.365 → 1.37 (half up); the list pays 2.74, where rounding the
    # list's exact 2.73 once would give 2.73
    lines, totals = run(params, hs, line("L", INFANT_FORMULA, "15"), line("L", INFANT_FORMULA, "15"))
    assert lines["vat"].to_list() == [D("1.37"), D("1.37")]
    assert one(totals, "tax_total") == D("2.74")


def test_rounding_policy_is_a_dated_parameter(tmp_path: Path, hs: HsTable) -> None:
    (tmp_path / "rounding.yaml").write_text(
        """
parameters:
  - name: import.retail.tax_rounding.mode
    description: test override (舍入方式)
    unit: code
    values:
      - from: 2016-04-08
        to: 2023-12-31
        value: half_up
        reference: {source: test, clause: test, confidence: guess}
      - from: 2024-01-01
        value: half_even
        reference: {source: test, clause: test, confidence: guess}
""",
        encoding="utf-8",
    )
    ops = ParameterSet.load(tmp_path)
    lines, _ = run(
        ops,
        hs,
        line("old", INFANT_FORMULA, "15", day=date(2023, 12, 31)),
        line("new", INFANT_FORMULA, "15", day=date(2024, 1, 1)),
    )
    assert lines["vat"].to_list() == [D("1.37"), D("1.36")]


def test_rounded_amounts_have_the_policy_scale(params: ParameterSet, hs: HsTable) -> None:
    lines, _ = run(params, hs, line("L", SKIN_CARE, "123.45", qty1="0.003", freight="6.78"))
    for column in ("duty", "ct_full", "vat_full", "ct", "vat", "payable"):
        value = one(lines, column)
        assert value == value.quantize(D("0.01")), column


# ------------------------------------------------------------------------------ shape of the output


def test_output_schema_and_order(params: ParameterSet, hs: HsTable) -> None:
    lines, totals = run(
        params, hs, line("B", INFANT_FORMULA, "10"), line("A", UHT_MILK, "20"), line("B", WATCH, "30")
    )
    assert lines.columns == [*SCHEMA, *LINE_OUTPUT_SCHEMA]
    for name, dtype in LINE_OUTPUT_SCHEMA.items():
        assert lines.schema[name] == dtype, name
    assert lines["gcode"].to_list() == [INFANT_FORMULA, UHT_MILK, WATCH]
    assert totals.columns == list(LIST_OUTPUT_SCHEMA)
    for name, list_dtype in LIST_OUTPUT_SCHEMA.items():
        if list_dtype is not None:
            assert totals.schema[name] == list_dtype, name
    assert totals["list_key"].to_list() == ["B", "A"]
    assert totals["line_count"].to_list() == [2, 1]


def test_unrounded_amounts_are_exact_decimals(params: ParameterSet, hs: HsTable) -> None:
    lines, _ = run(params, hs, line("L", INFANT_FORMULA, "10"), round_amounts=False)
    assert lines.schema["payable"] == pl.Decimal(38, 12)
    assert one(lines, "payable") == D("0.91")


def test_date_as_a_value_or_a_datetime_column(params: ParameterSet, hs: HsTable) -> None:
    lines = frame(line("L", INFANT_FORMULA, "100"))
    by_value = assess(lines.drop("declDate"), on=DAY, params=params, hs=hs)
    stamped = lines.with_columns(pl.col("declDate").cast(pl.Datetime).alias("declTime")).drop("declDate")
    by_datetime = assess(stamped, on="declTime", params=params, hs=hs)
    assert one(by_value, "tax_date") == one(by_datetime, "tax_date") == DAY
    assert one(by_value, "payable") == one(by_datetime, "payable") == D("9.10")
    assert datetime(2024, 5, 1).date() == DAY


def test_list_level_values_must_agree_across_lines(params: ParameterSet, hs: HsTable) -> None:
    rows = frame(line("L", INFANT_FORMULA, "10", freight="5"), line("L", INFANT_FORMULA, "10", freight="6"))
    with pytest.raises(ValueError, match="same on every line"):
        assess(rows, on="declDate", params=params, hs=hs)


def test_missing_columns_are_named(params: ParameterSet, hs: HsTable) -> None:
    with pytest.raises(ValueError, match="qty1"):
        assess(frame(line("L", INFANT_FORMULA, "10")).drop("qty1"), on="declDate", params=params, hs=hs)


def test_unknown_code_makes_the_list_unassessable(params: ParameterSet, hs: HsTable) -> None:
    lines, totals = run(params, hs, line("L", "9999999999", "10"), line("L", INFANT_FORMULA, "10"))
    assert lines["treatment"].to_list() == [Treatment.NO_TARIFF] * 2
    assert one(lines, "flags").to_list() == [Flag.NO_TARIFF]
    assert one(totals, "admissible") is False
    assert one(totals, "reject_code") is None
    assert "9999999999" in one(totals, "reason_zh") and "9999999999" in one(totals, "reason_en")


# ------------------------------------------------------------------------------ annual quota


def test_annual_check(params: ParameterSet, hs: HsTable) -> None:
    _, totals = run(
        params,
        hs,
        line("fits", INFANT_FORMULA, "1500"),
        line("exact", INFANT_FORMULA, "1500"),
        line("over", INFANT_FORMULA, "1500"),
        line("refused", INFANT_FORMULA, "3000"),
        line("refused", INFANT_FORMULA, "3000"),
        line("old", INFANT_FORMULA, "1500", day=date(2018, 5, 1)),
    )
    used = pl.Series("used_before", [D(0), D(24500), D("24500.01"), D(0), D(18600)], dtype=N19_5)
    checked = annual_check(totals.with_columns(used), "used_before")
    assert checked["admissible"].to_list() == [True, True, False, False, False]
    assert checked["reject_code"].to_list() == [
        None,
        None,
        OVER_ANNUAL_LIMIT,
        OVER_SINGLE_LIMIT,
        OVER_ANNUAL_LIMIT,
    ]
    assert checked["quota_ok"].to_list() == [True, True, False, True, False]
    assert checked["quota_remaining"].to_list() == [D(24500), D(0), D("1499.99"), D(26000), D(1400)]
    over = checked.row(2, named=True)
    assert "年度限额26000.00元" in over["reason_zh"] and "24500.01" in over["reason_zh"]
    assert "annual limit of 26000.00 CNY" in over["reason_en"]
    # the 2018 list is judged against the 20,000 limit of its own date
    assert "20000.00" in checked.row(4, named=True)["reason_en"]


# ------------------------------------------------------------------------------ checkout estimator


def test_basket_estimate(params: ParameterSet, hs: HsTable) -> None:
    result = estimate(
        [BasketItem(SKIN_CARE, D(300), D(1), qty1=D("0.005")), BasketItem(INFANT_FORMULA, D(250), D(2))],
        freight=D(20),
        on=DAY,
        used_quota=D(1000),
        params=params,
        hs=hs,
    )
    assert result.admissible and result.treatment == Treatment.WITHIN_LIMITS
    assert [line.dutiable_value for line in result.lines] == [D("307.50"), D("512.50")]
    cream = D("307.50") * D("0.28") / D("0.85") * D("0.7")
    assert result.lines[0].payable == fen(D("307.50") / D("0.85") * D("0.15") * D("0.7")) + fen(
        (D("307.50") + D("307.50") / D("0.85") * D("0.15")) * D("0.13") * D("0.7")
    )
    assert abs(result.lines[0].payable - cream) <= D("0.01")  # type: ignore[operator]
    assert result.lines[1].payable == fen(D("512.50") * D("0.091"))
    assert result.tax_total == sum(line.payable for line in result.lines if line.payable is not None)
    assert result.quota_remaining == D(26000) - D(1000) - D(820)
    assert result.amount_to_pay == D(820) + result.tax_total  # type: ignore[operator]
    assert result.to_dict()["tax_total"] == str(result.tax_total)


def test_basket_refusals(params: ParameterSet, hs: HsTable) -> None:
    over = estimate(
        [BasketItem(WATCH, D(3000)), BasketItem(INFANT_FORMULA, D(3000))],
        freight=0,
        on=DAY,
        used_quota=0,
        params=params,
        hs=hs,
    )
    assert not over.admissible and over.reject_code == OVER_SINGLE_LIMIT and over.tax_total is None
    quota = estimate(
        [BasketItem(WATCH, D(12000))], freight=0, on=DAY, used_quota=D(20000), params=params, hs=hs
    )
    assert not quota.admissible and quota.reject_code == OVER_ANNUAL_LIMIT
    assert quota.quota_remaining == D(6000)
    with pytest.raises(UnknownHsCode):
        estimate([BasketItem("1234567890", D(1))], freight=0, on=DAY, used_quota=0, params=params, hs=hs)
    with pytest.raises(BasketError, match="empty"):
        estimate([], freight=0, on=DAY, used_quota=0, params=params, hs=hs)
    with pytest.raises(BasketError, match="greater than 0"):
        estimate([BasketItem(WATCH, D(1), D(0))], freight=0, on=DAY, used_quota=0, params=params, hs=hs)
