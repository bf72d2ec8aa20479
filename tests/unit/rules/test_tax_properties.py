"""Properties of the tax rule that must hold for any basket, not just the worked examples."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from _tax_testlib import SCHEMA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cbec.params.dated import default_parameters
from cbec.params.hs import load_cbec_hs
from cbec.rules.tax import Treatment, assess, list_totals

D = Decimal
PARAMS = default_parameters()
HS = load_cbec_hs()

# (code, qty1 in the code's first legal unit per item, qty2 per item): ordinary, reduced VAT, cosmetics (5 g),
# cheap cosmetics (500 g), watch, whisky (0.7 L, 1.2 kg), beer (0.33 L, 0.35 kg), wine
GOODS: list[tuple[str, str, str | None]] = [
    ("1901101010", "1", None),
    ("0401200000", "1", None),
    ("3304990029", "0.005", "1"),
    ("3304990029", "0.5", "1"),
    ("9102210090", "1", "0.1"),
    ("2208300000", "0.7", "1.2"),
    ("2203000000", "0.33", "0.35"),
    ("2204210000", "0.75", "1.3"),
]


prices = st.decimals(min_value=D("0.01"), max_value=D("3000"), places=2)
fees = st.decimals(min_value=D(0), max_value=D("80"), places=2)
days = st.dates(min_value=date(2017, 1, 1), max_value=date(2026, 12, 31))


def row(
    key: str, gnum: int, good: int, price: Decimal, qty: int, freight: Decimal, ins: Decimal, day: date
) -> Any:
    code, qty1, qty2 = GOODS[good]
    tariff = HS[code]
    return {
        "list_key": key,
        "gnum": gnum,
        "gcode": code,
        "qty": D(qty),
        "qty1": D(qty1) * qty,
        "unit1": tariff.unit1,
        "qty2": None if qty2 is None else D(qty2) * qty,
        "unit2": tariff.unit2 if qty2 is not None else None,
        "price": price,
        "totalPrice": price * qty,
        "freight": freight,
        "insuredFee": ins,
        "declDate": day,
    }


@st.composite
def lists(draw: st.DrawFn, key: str) -> list[Any]:
    n = draw(st.integers(min_value=1, max_value=4))
    freight, ins, day = draw(fees), draw(fees), draw(days)
    return [
        row(
            key,
            gnum,
            draw(st.integers(0, len(GOODS) - 1)),
            draw(prices),
            draw(st.integers(1, 3)),
            freight,
            ins,
            day,
        )
        for gnum in range(1, n + 1)
    ]


@st.composite
def batches(draw: st.DrawFn) -> list[Any]:
    count = draw(st.integers(min_value=1, max_value=5))
    rows: list[Any] = []
    for i in range(count):
        rows += draw(lists(f"L{i}"))
    return rows


def frame(rows: list[Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


def taxed(rows: list[Any], **kw: Any) -> pl.DataFrame:
    return assess(frame(rows), on="declDate", params=PARAMS, hs=HS, **kw)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    good=st.integers(0, len(GOODS) - 1),
    low=st.decimals(min_value=D("0.01"), max_value=D("4900"), places=2),
    step=st.decimals(min_value=D(0), max_value=D("4900"), places=2),
    freight=fees,
    day=st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31)),
)
def test_tax_is_monotone_in_price_within_limits(
    good: int, low: Decimal, step: Decimal, freight: Decimal, day: date
) -> None:
    high = min(low + step, D(4900))  # + at most 80 freight: within the 5,000 limit of 2019 onwards
    lines = taxed(
        [row("a", 1, good, low, 1, freight, D(0), day), row("b", 1, good, high, 1, freight, D(0), day)]
    )
    assert lines["treatment"].to_list() == [Treatment.WITHIN_LIMITS] * 2
    cheap, dear = lines["payable"].to_list()
    assert cheap <= dear


@SETTINGS
@given(batches())
def test_within_limits_duty_is_zero_and_payable_is_seventy_percent_of_full(rows: list[Any]) -> None:
    lines = taxed(rows, round_amounts=False)
    within = lines.filter(pl.col("treatment") == Treatment.WITHIN_LIMITS.value)
    tolerance = D("1e-11")
    for line in within.iter_rows(named=True):
        assert line["duty"] == 0
        assert line["ct_factor"] == D("0.7") and line["vat_factor"] == D("0.7")
        assert abs(line["ct"] - D("0.7") * line["ct_full"]) <= tolerance
        assert abs(line["vat"] - D("0.7") * line["vat_full"]) <= tolerance
        # the VAT base holds the FULL consumption tax, not the 70 % one
        assert (
            abs(line["vat_full"] - (line["dutiable_value"] + line["ct_full"]) * line["vat_rate"]) <= tolerance
        )


@SETTINGS
@given(batches())
def test_a_batch_equals_each_list_alone(rows: list[Any]) -> None:
    together = taxed(rows)
    keys = list(dict.fromkeys(r["list_key"] for r in rows))
    alone = pl.concat([taxed([r for r in rows if r["list_key"] == key]) for key in keys])
    assert together.equals(alone)
    assert list_totals(together).equals(
        pl.concat([list_totals(alone.filter(pl.col("list_key") == k)) for k in keys])
    )


@SETTINGS
@given(batches())
def test_explaining_refusals_only_changes_nothing_else(rows: list[Any]) -> None:
    lines = taxed(rows)
    every = list_totals(lines)
    refused = list_totals(lines, explain="refused")
    quiet = pl.col("admissible")
    expected = every.with_columns(
        pl.when(quiet).then(None).otherwise(pl.col("reason_zh")).alias("reason_zh"),
        pl.when(quiet).then(None).otherwise(pl.col("reason_en")).alias("reason_en"),
    )
    assert refused.equals(expected)
    assert refused.filter(~quiet)["reason_zh"].null_count() == 0


@SETTINGS
@given(batches())
def test_lines_add_up_to_the_list_exactly(rows: list[Any]) -> None:
    lines = taxed(rows)
    totals = list_totals(lines)
    for total in totals.iter_rows(named=True):
        mine = [r for r in rows if r["list_key"] == total["list_key"]]
        expected = sum(r["totalPrice"] for r in mine) + mine[0]["freight"] + mine[0]["insuredFee"]
        assert total["dutiable_value"] == expected
        part = lines.filter(pl.col("list_key") == total["list_key"])
        if total["tax_total"] is not None:
            assert total["tax_total"] == sum(part["payable"].to_list())
            for amount in part["payable"].to_list():
                assert amount == amount.quantize(D("0.01"))
        else:
            assert not total["admissible"]


def test_dates_on_both_sides_of_2019_in_one_batch() -> None:
    start = date(2018, 12, 25)
    rows = []
    for i in range(14):
        day = start + timedelta(days=i)
        rows += [
            row(f"d{i}", 1, 0, D(1500), 1, D(0), D(0), day),
            row(f"d{i}", 2, 0, D(1500), 1, D(0), D(0), day),
        ]
    totals = list_totals(taxed(rows))
    expected = [Treatment.OVER_LIMIT] * 7 + [Treatment.WITHIN_LIMITS] * 7
    assert totals["treatment"].to_list() == expected
