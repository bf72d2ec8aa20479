"""Properties of the summary grouping that must hold for any month of lists, not just the worked cases."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from _summary_testlib import OCT, head, heads_frame, line, lines_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cbec.rules.summary import SummaryOptions, summarise_period

P = "2026-10"
SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

amounts = st.decimals(min_value=Decimal(0), max_value=Decimal("99999"), places=5)


@st.composite
def months(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = draw(st.integers(1, 25))
    heads: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for k in range(n):
        invt = f"5141{2026}E{k:09d}"
        heads.append(
            head(
                invt,
                ebcCode=draw(st.sampled_from(["E1", "E2"])),
                ownerCode=draw(st.sampled_from(["O1", "O2", "O3"])),
                trafMode=draw(st.sampled_from(["5", "2"])),
                country=draw(st.sampled_from(["502", "303"])),
                portCode=draw(st.sampled_from(["5141", "2233"])),
                statisticsFlag=draw(st.sampled_from(["B", "B", "B", "A"])),
                cleared_at=OCT + timedelta(days=draw(st.integers(-12, 25))),
                grossWeight=draw(amounts),
            )
        )
        for g in range(1, draw(st.integers(1, 3)) + 1):
            unit2 = draw(st.sampled_from([None, "035"]))
            lines.append(
                line(
                    invt,
                    g,
                    gcode=draw(st.sampled_from(["6109100021", "6404199000", "8517130000"])),
                    country=draw(st.sampled_from(["502", "303", "116"])),
                    currency=draw(st.sampled_from(["502", "142"])),
                    itemName=draw(st.sampled_from([None, "T恤", "鞋"])),
                    qty1=draw(amounts),
                    unit2=unit2,
                    qty2=None if unit2 is None else draw(amounts),
                    totalPrice=draw(amounts),
                )
            )
    return heads_frame(heads), lines_frame(lines)


options = st.builds(
    SummaryOptions,
    summary_flag=st.sampled_from(["1", "2"]),
    item_name_flag=st.booleans(),
    max_lines=st.sampled_from([None, 1, 2]),
)


def _summarised_lines(heads: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    in_period = heads.filter(
        (pl.col("cleared_at").dt.strftime("%Y-%m") == P) & (pl.col("statisticsFlag") == "B")
    ).select("invtNo", "ebcCode")
    return lines.join(in_period, on="invtNo")


@SETTINGS
@given(months(), options)
def test_every_list_line_is_mapped_exactly_once(
    month: tuple[pl.DataFrame, pl.DataFrame], opts: SummaryOptions
) -> None:
    heads, lines = month
    s = summarise_period(heads, lines, P, options=opts)
    expected = _summarised_lines(heads, lines).select("invtNo", "gnum").sort("invtNo", "gnum")
    assert s.mapping.select("invtNo", "gnum").sort("invtNo", "gnum").equals(expected)
    assert not s.mapping.select(pl.struct("invtNo", "gnum").is_duplicated().any()).item()
    # every mapped line points at an existing declaration line, and every declaration line is used
    used = s.mapping.select("ebcCode", "supplement", "declNo", "gseqno").unique()
    have = s.declaration_lines.select("ebcCode", "supplement", "declNo", "gseqno")
    assert used.sort(used.columns).equals(have.sort(have.columns))
    # numbering has no gaps
    for _, d in s.declarations.group_by("ebcCode", "supplement"):
        assert sorted(d["declNo"].to_list()) == list(range(1, d.height + 1))
    for _, g in s.declaration_lines.group_by("ebcCode", "declNo"):
        assert sorted(g["gseqno"].to_list()) == list(range(1, g.height + 1))
        if opts.max_lines:
            assert g.height <= opts.max_lines


@SETTINGS
@given(months(), options)
def test_sums_are_preserved_per_group(month: tuple[pl.DataFrame, pl.DataFrame], opts: SummaryOptions) -> None:
    heads, lines = month
    s = summarise_period(heads, lines, P, options=opts)
    keys = ["ebcCode", "country", "gcode", "currency"]
    src = (
        _summarised_lines(heads, lines)
        .group_by(keys)
        .agg(pl.col("qty1").sum(), pl.col("totalPrice").sum(), pl.col("qty2").sum(), pl.len().alias("n"))
        .sort(keys)
    )
    out = (
        s.declaration_lines.rename({"destinationCountry": "country"})
        .group_by(keys)
        .agg(pl.col("qty1").sum(), pl.col("totalPrice").sum(), pl.col("qty2").sum(), pl.col("lines").sum())
        .sort(keys)
    )
    assert src.select(keys).equals(out.select(keys))
    for column in ("qty1", "totalPrice", "qty2"):
        assert src[column].cast(pl.Decimal(38, 5)).to_list() == out[column].to_list(), column
    assert src["n"].to_list() == out["lines"].to_list()
    # every list's weight is counted once, in one declaration
    weights = heads.join(_summarised_lines(heads, lines).select("invtNo").unique(), on="invtNo")
    assert sum(weights["grossWeight"].to_list(), Decimal(0)) == sum(
        s.declarations["grossWeight"].to_list(), Decimal(0)
    )


@SETTINGS
@given(months(), options, st.integers(0, 2**16))
def test_row_order_does_not_matter(
    month: tuple[pl.DataFrame, pl.DataFrame], opts: SummaryOptions, seed: int
) -> None:
    heads, lines = month
    a = summarise_period(heads, lines, P, options=opts)
    b = summarise_period(
        heads.sample(fraction=1.0, shuffle=True, seed=seed),
        lines.sample(fraction=1.0, shuffle=True, seed=seed + 1),
        P,
        options=opts,
    )
    assert a.declarations.equals(b.declarations)
    assert a.declaration_lines.equals(b.declaration_lines)
    assert a.mapping.equals(b.mapping)
    assert a.excluded.equals(b.excluded)
