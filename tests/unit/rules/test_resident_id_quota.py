"""Resident ID check digits (GB 11643) and the sequential annual-quota rule."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.rules.quota import admit
from cbec.rules.resident_id import check_digit, is_valid, valid_expr

# The check digit of the standard's own worked example (GB 11643-1999, appendix): 11010519491231002X
EXAMPLE = "11010519491231002X"


def test_standard_example() -> None:
    assert check_digit(EXAMPLE[:17]) == "X"
    assert is_valid(EXAMPLE)
    assert is_valid(EXAMPLE.lower())
    assert not is_valid(EXAMPLE[:17] + "1")
    assert not is_valid("110105194902300021")  # 30 February
    assert not is_valid("12345")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_vectorised_agrees_with_scalar(body: str) -> None:
    numbers = [body + check_digit(body), body + "0", body + "X"]
    frame = pl.DataFrame({"id": numbers})
    got = frame.select(valid_expr("id")).to_series().to_list()
    assert got == [is_valid(n) for n in numbers]


def _cands(
    rows: list[tuple[str, int, str, str]], limit: str = "26000", buyers: list[str] | None = None
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "list_key": [r[0] for r in rows],
            "buyer_key": buyers or ["b"] * len(rows),
            "year": [2026] * len(rows),
            "seq": [r[1] for r in rows],
            "amount": [Decimal(r[2]) for r in rows],
            "used_before": [Decimal(r[3]) for r in rows],
            "annual_limit": [Decimal(limit)] * len(rows),
        },
        schema_overrides={
            "amount": pl.Decimal(19, 5),
            "used_before": pl.Decimal(19, 5),
            "annual_limit": pl.Decimal(19, 5),
        },
    )


def test_quota_refusal_does_not_count_against_later_lists() -> None:
    # used 20,000; lists of 4,000 (fits: 24,000), 3,000 (would be 27,000: refused), 2,000 (fits: 26,000)
    out = admit(_cands([("a", 1, "4000", "20000"), ("b", 2, "3000", "20000"), ("c", 3, "2000", "20000")]))
    assert dict(zip(out["list_key"], out["quota_ok"], strict=True)) == {"a": True, "b": False, "c": True}


def test_quota_limit_is_inclusive() -> None:
    out = admit(_cands([("a", 1, "6000", "20000")]))
    assert out["quota_ok"].to_list() == [True]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=26000),
)
def test_quota_matches_the_sequential_definition(amounts: list[int], used: int) -> None:
    rows = [(f"l{i}", i, str(a), str(used)) for i, a in enumerate(amounts)]
    out = admit(_cands(rows)).sort("seq")
    total, expected = used, []
    for a in amounts:
        ok = total + a <= 26000
        expected.append(ok)
        total += a if ok else 0
    assert out["quota_ok"].to_list() == expected


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("xyz"), st.integers(min_value=1, max_value=9000)), min_size=1, max_size=30
    ),
    st.dictionaries(st.sampled_from("xyz"), st.integers(min_value=0, max_value=26000)),
)
def test_quota_several_buyers_match_the_sequential_definition(
    lists: list[tuple[str, int]], used: dict[str, int]
) -> None:
    # several buyers interleaved in one batch, each with its own use so far: each judged on its own in order
    rows = [(f"l{i}", i, str(a), str(used.get(b, 0))) for i, (b, a) in enumerate(lists)]
    out = admit(_cands(rows, buyers=[b for b, _ in lists])).sort("seq")
    totals, expected, used_at = dict(used), [], []
    for b, a in lists:
        total = totals.get(b, 0)
        used_at.append(Decimal(total))
        ok = total + a <= 26000
        expected.append(ok)
        totals[b] = total + (a if ok else 0)
    assert out["quota_ok"].to_list() == expected
    assert out["used_at"].to_list() == used_at
