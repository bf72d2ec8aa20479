"""The ledger rule: which 1210 lists the ledger covers, what they write off, and why the others are held."""

from __future__ import annotations

from collections import defaultdict

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.rules import ledger as R


def _demand(
    rows: list[tuple[str, int, int, str, int]], qty2: dict[tuple[str, int], int] | None = None
) -> pl.DataFrame:
    """(list_key, seq, gnum, item, qty units); ``qty2`` per (list_key, gnum) in unit2 "035" (default none)."""
    qty2 = qty2 or {}
    return pl.DataFrame(
        [
            {"list_key": k, "seq": s, "gnum": g, "ems_no": "E1", "item_record_no": i, "unit1": "011",
             "unit2": "035" if (k, g) in qty2 else None, "qty": q, "qty2": qty2.get((k, g), 0)}
            for k, s, g, i, q in rows
        ],
        schema=R.DEMAND_SCHEMA,
    )  # fmt: skip


def _balances(items: dict[str, int], second: dict[str, int] | None = None) -> pl.DataFrame:
    """Balances in unit1 "011"; items in ``second`` are filed with unit2 "035" and that balance2."""
    second = second or {}
    return pl.DataFrame(
        [
            {"ems_no": "E1", "item_record_no": i, "unit1": "011", "balance": b,
             "unit2": "035" if i in second else None, "balance2": second.get(i, 0)}
            for i, b in items.items()
        ],
        schema=R.BALANCE_SCHEMA,
    )  # fmt: skip


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


def test_a_list_short_on_the_second_quantity_only_is_held_naming_it() -> None:
    d = _demand([("a", 1, 1, "X", 1)], {("a", 1): 7})
    w, h = R.fit(d, _balances({"X": 5}, {"X": 6}))
    assert w.height == 0 and h["rule"].to_list() == [R.SHORT]
    assert h["reason_zh"][0] == "账册E1料号X第二法定数量余额不足：需0.00007，余0.00006"
    assert "second legal quantity of item X insufficient: need 0.00007, have 0.00006" in h["reason_en"][0]


def test_a_list_short_on_both_quantities_is_held_with_the_first() -> None:
    _w, h = R.fit(_demand([("a", 1, 1, "X", 9)], {("a", 1): 7}), _balances({"X": 5}, {"X": 6}))
    assert "余额不足：需0.00009，余0.00005" in h["reason_zh"][0] and "第二" not in h["reason_zh"][0]


def test_a_list_that_fits_both_quantities_writes_off_both() -> None:
    d = _demand([("a", 1, 1, "X", 3), ("a", 1, 2, "Y", 2), ("b", 2, 1, "X", 2)], {("a", 1): 4, ("b", 1): 2})
    w, h = R.fit(d, _balances({"X": 5, "Y": 2}, {"X": 6}))
    assert h.height == 0
    assert sorted(zip(w["list_key"], w["gnum"], w["qty"], w["qty2"], strict=True)) == [
        ("a", 1, 3, 4),
        ("a", 2, 2, 0),
        ("b", 1, 2, 2),
    ]


def test_items_without_a_second_unit_ignore_the_second_quantity() -> None:
    # the line states a second quantity; its item keeps none (and an old negative balance2 is no shortage)
    d = _demand([("a", 1, 1, "Y", 1)], {("a", 1): 50})
    w, h = R.fit(d, _balances({"Y": 2}).with_columns(pl.lit(-7, pl.Int64).alias("balance2")))
    assert h.height == 0 and w["qty2"].to_list() == [0]  # nothing is written off a quantity it does not keep
    w, h = R.fit(_demand([("b", 1, 1, "Y", 1)]), _balances({"Y": 2}))
    assert h.height == 0 and w["qty2"].to_list() == [0]


def test_the_second_quantity_is_taken_greedily_in_arrival_order() -> None:
    d = _demand(
        [("a", 1, 1, "X", 1), ("b", 2, 1, "X", 1), ("c", 3, 1, "X", 1), ("d", 4, 1, "X", 1)],
        {("a", 1): 4, ("b", 1): 3, ("c", 1): 1, ("d", 1): 1},
    )
    w, h = R.fit(d, _balances({"X": 100}, {"X": 5}))
    assert w["list_key"].to_list() == ["a", "c"]  # c fits what b did not take; d finds nothing left
    assert h["list_key"].to_list() == ["b", "d"] and set(h["rule"]) == {R.SHORT}
    assert "need 0.00003, have 0.00001" in h["reason_en"][0] and h["reason_en"][1].endswith("have 0")


def test_a_line_without_the_second_quantity_of_its_item_is_held_whatever_the_stock() -> None:
    w, h = R.fit(_demand([("a", 1, 1, "X", 1)]), _balances({"X": 5}, {"X": 10**9}))
    assert w.height == 0 and h["rule"][0] == R.UNKNOWN
    assert h["reason_zh"][0] == "账册E1料号X备案有第二法定计量单位035，清单第1项未申报第二法定数量"
    assert "declares no second quantity" in h["reason_en"][0]


def test_the_second_unit_of_a_line_must_be_the_items() -> None:
    d = _demand([("a", 1, 1, "X", 1)], {("a", 1): 1}).with_columns(pl.lit("036").alias("unit2"))
    w, h = R.fit(d, _balances({"X": 5}, {"X": 5}))
    assert w.height == 0 and h["rule"][0] == R.UNKNOWN
    assert "kept in second unit 035, list line 1 declares 036" in h["reason_en"][0]
    # a line naming no second unit is read in the item's (as one naming no first unit)
    w, h = R.fit(d.with_columns(pl.lit(None, pl.String).alias("unit2")), _balances({"X": 5}, {"X": 5}))
    assert h.height == 0 and w["qty2"].to_list() == [1]


def test_lists_fitting_both_quantities_never_reach_the_exact_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    def exact_pass(*_args: object) -> list[dict[str, str]]:
        raise AssertionError("the exact pass ran for items that fit")

    monkeypatch.setattr(R, "_sequential", exact_pass)
    d = _demand([(f"L{n}", n, 1, "X", 1) for n in range(50)], {(f"L{n}", 1): 2 for n in range(50)})
    w, h = R.fit(d, _balances({"X": 50}, {"X": 100}))
    assert h.height == 0 and w.height == 50


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.tuples(
            st.integers(0, 15),
            st.integers(1, 3),
            st.sampled_from("XYZ"),
            st.integers(1, 40),
            st.integers(0, 30),
        ),
        min_size=0,
        max_size=40,
    ),
    stock=st.fixed_dictionaries({i: st.integers(0, 60) for i in "XYZ"}),
    stock2=st.fixed_dictionaries({i: st.integers(0, 60) for i in "YZ"}),
)
def test_released_write_offs_never_overdraw_and_equal_released_lines(
    lines: list[tuple[int, int, str, int, int]], stock: dict[str, int], stock2: dict[str, int]
) -> None:
    """X has no second legal unit; Y and Z have one (a line of theirs without a second quantity is held)."""
    by_line = {(f"L{n}", g): (f"L{n}", n, g, i, q, q2) for n, g, i, q, q2 in lines}
    rows = [r[:5] for r in by_line.values()]
    demand = _demand(rows, {k: r[5] for k, r in by_line.items() if r[5]})  # type: ignore[misc]
    w, h = R.fit(demand, _balances(stock, stock2))
    taken: dict[str, int] = defaultdict(int)
    taken2: dict[str, int] = defaultdict(int)
    for item, qty, qty2 in zip(w["item_record_no"], w["qty"], w["qty2"], strict=True):
        taken[item] += qty
        taken2[item] += qty2
    assert all(taken[i] <= stock[i] for i in stock)  # never below zero
    assert all(taken2[i] <= stock2[i] for i in stock2)  # on the second quantity neither
    assert taken2["X"] == 0  # an item without a second unit keeps no second quantity
    released = set(w["list_key"])
    assert released.isdisjoint(set(h["list_key"]))
    assert released | set(h["list_key"]) == set(demand["list_key"])
    # the write-offs are exactly the lines of the released lists (qty2 where the item keeps one)
    expected = sorted(
        (k, g, q, q2 if i in stock2 else 0) for k, _s, g, i, q, q2 in by_line.values() if k in released
    )
    assert sorted(zip(w["list_key"], w["gnum"], w["qty"], w["qty2"], strict=True)) == expected
    # lines of Y/Z without a second quantity hold their list (L2), which takes nothing
    unknown = {k for k, _s, _g, i, _q, q2 in by_line.values() if i in stock2 and q2 == 0}
    rules = dict(zip(h["list_key"], h["rule"], strict=True))
    assert all(rules[k] == R.UNKNOWN for k in unknown)
    # greedy in arrival order: a held list did not fit what the earlier released lists left (either quantity)
    left, left2 = dict(stock), dict(stock2)
    for key in sorted(set(demand["list_key"]) - unknown, key=lambda k: int(k[1:])):
        need: dict[str, int] = defaultdict(int)
        need2: dict[str, int] = defaultdict(int)
        for k, _s, _g, i, q, q2 in by_line.values():
            if k == key:
                need[i] += q
                need2[i] += q2 if i in stock2 else 0
        fits = all(left[i] >= q for i, q in need.items()) and all(
            left2[i] >= q for i, q in need2.items() if q
        )
        assert fits == (key in released)
        assert fits or rules[key] == R.SHORT
        if fits:
            for i, q in need.items():
                left[i] -= q
            for i, q in need2.items():
                if i in left2:
                    left2[i] -= q
