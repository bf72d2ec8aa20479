"""The summary-declaration grouping (A-2018-194 §10), worked case by case: each key, each CEB701 flag, the
exclusions, the supplementary applications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from _summary_testlib import OCT, D, head, heads_frame, line, lines_frame

from cbec.rules.summary import (
    SummaryOptions,
    group,
    next_period,
    parse_period,
    pending_periods,
    period_bounds,
    plan_applications,
    summarise_period,
)

P = "2026-10"


def _declarations(heads: list[dict[str, object]], lines: list[dict[str, object]], **opts: object) -> int:
    s = summarise_period(heads_frame(heads), lines_frame(lines), P, options=SummaryOptions(**opts))  # type: ignore[arg-type]
    return s.declarations.height


# ------------------------------------------------------------------------------------------- head keys


@pytest.mark.parametrize(
    ("field", "other"),
    [("ebcCode", "E2"), ("trafMode", "4"), ("country", "303"), ("portCode", "2233"), ("tradeMode", "9710")],
)
def test_each_head_key_separates_declarations(field: str, other: str) -> None:
    lines = [line("I1"), line("I2")]
    assert _declarations([head("I1"), head("I2")], lines) == 1
    assert _declarations([head("I1"), head("I2", **{field: other})], lines) == 2


def test_producer_seller_is_a_key_only_with_summary_flag_2() -> None:
    heads = [head("I1", ownerCode="O1"), head("I2", ownerCode="O2")]
    lines = [line("I1"), line("I2")]
    one = summarise_period(
        heads_frame(heads), lines_frame(lines), P, options=SummaryOptions(summary_flag="1")
    )
    assert one.declarations.height == 1
    # flag 1: owners differ, so the declaration names none
    assert one.declarations["ownerCode"].to_list() == [None]
    assert one.declaration_lines["qty1"].to_list() == [D(2)]
    two = summarise_period(
        heads_frame(heads), lines_frame(lines), P, options=SummaryOptions(summary_flag="2")
    )
    assert two.declarations["ownerCode"].to_list() == ["O1", "O2"]
    assert two.declarations["declNo"].to_list() == [1, 2]


def test_flag_1_keeps_the_owner_when_all_lists_share_it() -> None:
    s = summarise_period(heads_frame([head("I1"), head("I2")]), lines_frame([line("I1"), line("I2")]), P)
    assert s.declarations.select("ownerCode", "lists", "lines").row(0) == ("O1", 2, 1)
    assert s.declarations["grossWeight"].to_list() == [D(3)]


# ------------------------------------------------------------------------------------------- line keys


@pytest.mark.parametrize(
    ("field", "other"),
    [("country", "303"), ("gcode", "6109100022"), ("currency", "142"), ("unit1", "035")],
)
def test_each_line_key_separates_declaration_lines(field: str, other: str) -> None:
    heads = [head("I1"), head("I2")]
    same = summarise_period(heads_frame(heads), lines_frame([line("I1"), line("I2")]), P)
    assert same.declaration_lines.height == 1
    apart = summarise_period(heads_frame(heads), lines_frame([line("I1"), line("I2", **{field: other})]), P)
    assert apart.declarations.height == 1
    assert apart.declaration_lines["gseqno"].to_list() == [1, 2]


def test_item_name_flag_keeps_enterprise_names_apart() -> None:
    heads = [head("I1"), head("I2"), head("I3")]
    lines = [line("I1", itemName="男士T恤"), line("I2", itemName="女士T恤"), line("I3")]
    merged = summarise_period(heads_frame(heads), lines_frame(lines), P)
    assert merged.declaration_lines.height == 1
    assert merged.declaration_lines["itemName"].to_list() == [None]
    kept = summarise_period(
        heads_frame(heads), lines_frame(lines), P, options=SummaryOptions(item_name_flag=True)
    )
    # a list line without itemName is grouped under its goods name
    assert sorted(kept.declaration_lines["itemName"].to_list()) == ["女士T恤", "棉制针织T恤", "男士T恤"]


def test_transaction_units_that_differ_leave_qty_empty_but_legal_quantities_add_up() -> None:
    lines = [line("I1", qty=D(2), unit="011"), line("I2", qty=D(1), unit="007", qty1=D(3))]
    s = summarise_period(heads_frame([head("I1"), head("I2")]), lines_frame(lines), P)
    row = s.declaration_lines.row(0, named=True)
    assert (row["unit"], row["qty"], row["unit1"], row["qty1"]) == (None, None, "011", D(4))


def test_sums_are_exact_and_counts_lists_once() -> None:
    lines = [
        line("I1", 1, qty1=D("0.1"), totalPrice=D("0.1")),
        line("I1", 2, qty1=D("0.2"), totalPrice=D("0.2")),
        line("I2", 1, qty1=D("0.00001"), totalPrice=D("12345678901234.12345"), unit2="035", qty2=D("0.3")),
        line("I2", 2, unit2="035", qty2=D("0.3"), qty1=D(0), totalPrice=D(0)),
    ]
    s = summarise_period(heads_frame([head("I1"), head("I2")]), lines_frame(lines), P)
    by = {r["unit2"]: r for r in s.declaration_lines.iter_rows(named=True)}
    assert by[None]["qty1"] == D("0.3") and by[None]["totalPrice"] == D("0.3")
    assert by[None]["lists"] == 1 and by[None]["lines"] == 2 and by[None]["qty2"] is None
    assert by["035"]["qty2"] == D("0.6") and by["035"]["totalPrice"] == D("12345678901234.12345")


def test_decimal_text_is_read_exactly_and_floats_are_refused() -> None:
    lines = lines_frame([line("I1")]).with_columns(pl.lit("0.10000").alias("totalPrice"))
    s = summarise_period(heads_frame([head("I1")]), lines, P)
    assert s.declaration_lines["totalPrice"].to_list() == [D("0.1")]
    with pytest.raises(TypeError, match="floats"):
        summarise_period(heads_frame([head("I1")]), lines.with_columns(pl.lit(0.1).alias("qty1")), P)


# ------------------------------------------------------------------------------------------- mapping


def test_mapping_names_every_list_line_in_792_order() -> None:
    heads = [head("I2"), head("I1", country="303")]
    lines = [line("I2", 2, gcode="8517130000"), line("I2", 1), line("I1", 1)]
    s = summarise_period(heads_frame(heads), lines_frame(lines), P)
    assert s.mapping.select("invtNo", "gnum", "gcode", "logisticsNo", "declNo", "gseqno").rows() == [
        ("I1", 1, "6109100021", "LPI1", 1, 1),  # arrival 303 sorts before 502
        ("I2", 1, "6109100021", "LPI2", 2, 1),
        ("I2", 2, "8517130000", "LPI2", 2, 2),
    ]


def test_max_lines_splits_a_declaration_and_keeps_weights_whole() -> None:
    heads = [head("I1"), head("I2")]
    lines = [
        line("I1", 1, gcode="6109100021"),
        line("I1", 2, gcode="6109100022"),
        line("I2", 1, gcode="6204"),
    ]
    s = summarise_period(heads_frame(heads), lines_frame(lines), P, options=SummaryOptions(max_lines=2))
    assert s.declarations.select("declNo", "lines", "lists").rows() == [(1, 2, 1), (2, 1, 1)]
    assert s.declaration_lines.select("declNo", "gseqno").rows() == [(1, 1), (1, 2), (2, 1)]
    assert sum(s.declarations["grossWeight"].to_list()) == D(3)


# ------------------------------------------------------------------------------------------- periods


def test_only_lists_cleared_in_the_period_in_china_time() -> None:
    utc = UTC
    heads = heads_frame(
        [
            head("SEP", cleared_at=datetime(2026, 9, 30, 23, 59, 59)),
            head("OCT", cleared_at=datetime(2026, 10, 31, 23, 59, 59)),
            head("NOV", cleared_at=datetime(2026, 11, 1)),
        ]
    )
    s = summarise_period(heads, lines_frame([line("SEP"), line("OCT"), line("NOV")]), P)
    assert s.mapping["invtNo"].to_list() == ["OCT"]
    # 2026-10-31 17:00 UTC is 11-01 01:00 in Beijing: November's list
    aware = heads.with_columns(
        pl.Series([datetime(2026, 9, 30, 17, tzinfo=utc), datetime(2026, 10, 31, 17, tzinfo=utc), OCT])
        .dt.replace_time_zone("UTC")
        .alias("cleared_at")
    )
    got = summarise_period(aware, lines_frame([line("SEP"), line("OCT"), line("NOV")]), P)
    assert got.mapping["invtNo"].to_list() == ["NOV", "SEP"]
    # the export store's cleared_lists() calls the column clearedAt (aware UTC): accepted as it is
    store_like = aware.rename({"cleared_at": "clearedAt"})
    again = summarise_period(store_like, lines_frame([line("SEP"), line("OCT"), line("NOV")]), P)
    assert again.mapping.equals(got.mapping)


def test_simplified_lists_are_not_summarised() -> None:
    heads = [head("I1"), head("I2", statisticsFlag="A")]
    s = summarise_period(heads_frame(heads), lines_frame([line("I1"), line("I2")]), P)
    assert s.mapping["invtNo"].to_list() == ["I1"]
    assert s.excluded.rows() == [("I2", "E1", "simplified")]


def test_a_list_without_lines_is_reported() -> None:
    s = summarise_period(heads_frame([head("I1"), head("I2")]), lines_frame([line("I1")]), P)
    assert s.excluded.rows() == [("I2", "E1", "no_lines")]


def test_repeated_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="list heads repeat"):
        summarise_period(heads_frame([head("I1"), head("I1")]), lines_frame([line("I1")]), P)
    with pytest.raises(ValueError, match="list lines repeat"):
        summarise_period(heads_frame([head("I1")]), lines_frame([line("I1"), line("I1")]), P)


def test_period_helpers() -> None:
    assert parse_period("2026-12") == (2026, 12)
    assert next_period("2026-12") == "2027-01"
    assert period_bounds("2024-02")[1].isoformat() == "2024-03-01"
    for bad in ("2026-13", "2026-1", "202610"):
        with pytest.raises(ValueError):
            parse_period(bad)


# ------------------------------------------------------------------------------------------- supplements


def _already(summary_mapping: pl.DataFrame) -> pl.DataFrame:
    return summary_mapping.select("invtNo", "period", "ebcCode", "supplement").unique()


def test_late_lists_go_into_a_supplementary_application_never_twice() -> None:
    first_heads = [head("I1"), head("I2", ebcCode="E2")]
    first = summarise_period(heads_frame(first_heads), lines_frame([line("I1"), line("I2")]), P)
    assert set(first.declarations["supplement"].to_list()) == {0}
    # I3 (E1) and I4 (E3) show up cleared in October after the application was filed
    later_heads = [*first_heads, head("I3"), head("I4", ebcCode="E3")]
    later_lines = [line("I1"), line("I2"), line("I3"), line("I4")]
    again = summarise_period(
        heads_frame(later_heads), lines_frame(later_lines), P, already=_already(first.mapping)
    )
    assert again.mapping.select("invtNo", "ebcCode", "supplement").rows() == [
        ("I3", "E1", 1),
        ("I4", "E3", 0),
    ]
    assert sorted(again.excluded.filter(pl.col("reason") == "summarised")["invtNo"].to_list()) == ["I1", "I2"]
    # a third run with everything recorded summarises nothing
    done = pl.concat([_already(first.mapping), _already(again.mapping)])
    third = summarise_period(heads_frame(later_heads), lines_frame(later_lines), P, already=done)
    assert third.mapping.height == 0 and third.declarations.height == 0
    # and a second supplement for E1 is numbered 2
    more = summarise_period(
        heads_frame([*later_heads, head("I5")]), lines_frame([*later_lines, line("I5")]), P, already=done
    )
    assert more.declarations.select("ebcCode", "supplement").rows() == [("E1", 2)]


def test_summarising_twice_gives_the_same_result() -> None:
    heads = heads_frame([head(f"I{k}", country=("502", "303")[k % 2]) for k in range(6)])
    lines = lines_frame([line(f"I{k}", g, gcode=f"61091000{20 + g}") for k in range(6) for g in (1, 2)])
    a = summarise_period(heads, lines, P)
    b = summarise_period(heads.reverse(), lines.sample(fraction=1.0, shuffle=True, seed=3), P)
    for x, y in zip(
        (a.declarations, a.declaration_lines, a.mapping),
        (b.declarations, b.declaration_lines, b.mapping),
        strict=True,
    ):
        assert x.equals(y)


def test_a_list_summarised_under_another_period_is_not_summarised_again() -> None:
    heads = heads_frame([head("I1")])
    already = pl.DataFrame({"invtNo": ["I1"], "period": ["2026-09"], "ebcCode": ["E1"], "supplement": [0]})
    plan = plan_applications(heads, P, already)
    assert plan.assigned.height == 0 and plan.excluded["reason"].to_list() == ["summarised"]


def test_pending_periods_lists_months_with_unsummarised_lists() -> None:
    heads = heads_frame(
        [
            head("I1", cleared_at=OCT - timedelta(days=40)),
            head("I2"),
            head("I3", cleared_at=OCT + timedelta(days=30)),
            head("I4", cleared_at=OCT + timedelta(days=30), statisticsFlag="A"),
        ]
    )
    assert pending_periods(heads) == ["2026-08", "2026-10", "2026-11"]
    already = pl.DataFrame({"invtNo": ["I1"], "period": ["2026-08"], "ebcCode": ["E1"], "supplement": [0]})
    assert pending_periods(heads, already) == ["2026-10", "2026-11"]


def test_line_numbers_must_be_n5() -> None:
    with pytest.raises(ValueError, match="gnum"):
        summarise_period(heads_frame([head("I1")]), lines_frame([line("I1", 200_000)]), P)


def test_lines_of_lists_not_summarised_are_ignored() -> None:
    # lines of a September list and of a list with no head at all do not reach October's declarations
    heads = heads_frame([head("I1"), head("SEP", cleared_at=datetime(2026, 9, 30))])
    lines = lines_frame([line("I1"), line("SEP"), line("ORPHAN")])
    s = summarise_period(heads, lines, P)
    assert s.mapping["invtNo"].to_list() == ["I1"] and s.declaration_lines["lines"].to_list() == [1]


def test_group_takes_a_plan_made_elsewhere() -> None:
    heads = heads_frame([head("I1"), head("I2", country="303"), head("I3", statisticsFlag="A")])
    lines = lines_frame([line("I1"), line("I2"), line("I3")])
    whole = summarise_period(heads, lines, P)
    plan = plan_applications(heads, P)
    assert plan.assigned["invtNo"].to_list() == ["I1", "I2"]
    grouped = group(heads, lines, plan.assigned)
    assert grouped.mapping.equals(whole.mapping) and grouped.declarations.equals(whole.declarations)
    # a plan naming only some lists (here as supplement 3) groups only those
    only = group(heads, lines, plan.assigned.filter(pl.col("invtNo") == "I2").with_columns(supplement=3))
    assert only.declarations.select("declNo", "supplement", "arrivalCountry").rows() == [(1, 3, "303")]
