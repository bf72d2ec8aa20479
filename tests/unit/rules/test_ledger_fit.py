"""The ledger rule: which 1210 lists the ledger covers, what they write off, and why the others are held."""

from __future__ import annotations

from collections import defaultdict

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.rules import ledger as R


def _demand(rows: list[tuple[str, int, int, str, int]]) -> pl.DataFrame:
    """(list_key, seq, gnum, item, qty units)"""
    return pl.DataFrame(
        [
            {"list_key": k, "seq": s, "gnum": g, "ems_no": "E1", "item_record_no": i, "unit1": "011",
             "qty": q, "qty2": 0}
            for k, s, g, i, q in rows
        ],
        schema=R.DEMAND_SCHEMA,
    )  # fmt: skip


def _balances(items: dict[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"ems_no": "E1", "item_record_no": i, "unit1": "011", "balance": b} for i, b in items.items()],
        schema=R.BALANCE_SCHEMA,
    )


def test_lists_that_fit_are_released_and_written_off_per_line() -> None:
    w, h = R.fit(
        _demand([("a", 1, 1, "X", 3), ("a", 1, 2, "Y", 1), ("b", 2, 1, "X", 2)]), _balances({"X": 5, "Y": 1})
    )
    assert h.height == 0
    assert sorted(zip(w["list_key"], w["gnum"], w["qty"], strict=True)) == [
        ("a", 1, 3),
        ("a", 2, 1),
        ("b", 1, 2),
    ]


def test_a_short_item_holds_the_later_list_with_need_and_have() -> None:
    w, h = R.fit(
        _demand([("a", 1, 1, "X", 4), ("b", 2, 1, "X", 3), ("c", 3, 1, "X", 1)]), _balances({"X": 5})
    )
    assert set(w["list_key"]) == {"a", "c"}  # c still fits from what b did not take
    assert h["list_key"].to_list() == ["b"]
    assert h["rule"][0] == R.SHORT
    assert "余额不足" in h["reason_zh"][0] and "need 0.00003, have 0.00001" in h["reason_en"][0]


def test_a_list_is_held_whole_when_one_line_is_short() -> None:
    w, h = R.fit(_demand([("a", 1, 1, "X", 1), ("a", 1, 2, "Y", 9)]), _balances({"X": 5, "Y": 2}))
    assert w.height == 0
    assert h["gnum"].to_list() == [1, 2]


def test_two_lines_of_one_item_count_together() -> None:
    w, h = R.fit(_demand([("a", 1, 1, "X", 3), ("a", 1, 2, "X", 3)]), _balances({"X": 5}))
    assert w.height == 0 and h["rule"].unique().to_list() == [R.SHORT]
    assert "need 0.00006" in h["reason_en"][0]


def test_an_item_not_on_the_ledger_or_in_another_unit_holds_the_list() -> None:
    w, h = R.fit(_demand([("a", 1, 1, "Z", 1)]), _balances({"X": 5}))
    assert w.height == 0 and h["rule"][0] == R.UNKNOWN and "not on ledger E1" in h["reason_en"][0]
    d = _demand([("b", 1, 1, "X", 1)]).with_columns(pl.lit("035").alias("unit1"))
    w, h = R.fit(d, _balances({"X": 5}))
    assert h["rule"][0] == R.UNKNOWN and "unit 011" in h["reason_en"][0]


def test_quantities_are_exact_units() -> None:
    assert R.to_units("1.23456") == 123456
    assert R.show(123450) == "1.2345" and R.show(300000) == "3"
    frame = pl.DataFrame({"q": ["0.1", "2.00001"]}).select(R.scaled(pl.col("q").cast(pl.Decimal(19, 5))))
    assert frame["q"].to_list() == [10000, 200001]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.tuples(st.integers(0, 15), st.integers(1, 3), st.sampled_from("XYZ"), st.integers(1, 40)),
        min_size=0,
        max_size=40,
    ),
    stock=st.fixed_dictionaries({i: st.integers(0, 60) for i in "XYZ"}),
)
def test_released_write_offs_never_overdraw_and_equal_released_lines(
    lines: list[tuple[int, int, str, int]], stock: dict[str, int]
) -> None:
    rows = list({(f"L{n}", g): (f"L{n}", n, g, i, q) for n, g, i, q in lines}.values())
    demand = _demand(rows)
    w, h = R.fit(demand, _balances(stock))
    taken: dict[str, int] = defaultdict(int)
    for item, qty in zip(w["item_record_no"], w["qty"], strict=True):
        taken[item] += qty
    assert all(taken[i] <= stock[i] for i in stock)  # never below zero
    released = set(w["list_key"])
    assert released.isdisjoint(set(h["list_key"]))
    assert released | set(h["list_key"]) == set(demand["list_key"])
    # the write-offs are exactly the lines of the released lists
    expected = sorted((k, g, q) for k, _s, g, _i, q in rows if k in released)
    assert sorted(zip(w["list_key"], w["gnum"], w["qty"], strict=True)) == expected
    # greedy in arrival order: a held list did not fit what the earlier released lists left
    left = dict(stock)
    for key in sorted(set(demand["list_key"]), key=lambda k: int(k[1:])):
        need: dict[str, int] = defaultdict(int)
        for k, _s, _g, i, q in rows:
            if k == key:
                need[i] += q
        fits = all(left[i] >= q for i, q in need.items())
        assert fits == (key in released)
        if fits:
            for i, q in need.items():
                left[i] -= q
