"""Dense renumbering of order-preserving key codes (``cbec.rules.summary._dense``): same order, no gaps."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

import polars as pl
import pytest
from _summary_testlib import head, heads_frame, line, lines_frame
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from cbec.rules import summary as summary_rule
from cbec.rules.summary import SummaryOptions, _dense, summarise_period


def _expected(values: list[int]) -> list[int]:
    rank = {v: k for k, v in enumerate(sorted(set(values)))}
    return [rank[v] for v in values]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(0, 2**22 - 1), max_size=60)  # the lookup-table branch
    | st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=60)  # binary search in the distinct values
)
def test_dense_keeps_the_order_and_closes_the_gaps(values: list[int]) -> None:
    dense, n = _dense(pl.Series(values, dtype=pl.UInt64))
    assert dense.dtype == pl.UInt64
    assert dense.to_list() == _expected(values)
    assert n == len(set(values))


def test_both_branches_at_their_boundary() -> None:
    for values in ([0, 2**22 - 1, 5, 5], [0, 2**22, 5, 5], [2**63, 1, 2**63 + 1]):
        dense, n = _dense(pl.Series(values, dtype=pl.UInt64))
        assert dense.to_list() == _expected(values)
        assert n == len(set(values))


def _month(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rnd = random.Random(seed)
    heads, lines = [], []
    for k in range(rnd.randrange(40, 80)):
        invt = f"51412026E{rnd.randrange(10**9):010d}"
        heads.append(head(invt, ebcCode=rnd.choice(["E1", "E2"]), ownerCode=rnd.choice(["O1", "O2"])))
        for g in range(1, rnd.randrange(2, 5)):
            unit2 = rnd.choice([None, "035"])
            lines.append(
                line(
                    invt,
                    g,
                    gcode=rnd.choice(["6109100021", "6404199000", "8517130000"]),
                    country=rnd.choice(["502", "303"]),
                    unit=rnd.choice(["011", "007"]),
                    unit2=unit2,
                    qty2=None if unit2 is None else Decimal(k),
                    totalPrice=Decimal(rnd.randrange(1, 10**6)) / 100,
                )
            )
    rnd.shuffle(lines)
    return heads_frame(heads), lines_frame(lines)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_two_column_sort_gives_what_the_one_key_sort_gives(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys too wide for one 64-bit sort key take the two-column sort: same declarations, lines, mapping."""
    heads, lines = _month(seed)
    options = SummaryOptions(summary_flag="2", max_lines=3)
    one_key = summarise_period(heads, lines, "2026-10", options=options)

    def wide(lines: pl.DataFrame, keys: Sequence[str]) -> tuple[pl.Series, int]:
        dense, n = _dense(summary_rule._ordered_codes(lines, keys))
        return dense * 2**50, n << 50  # same order, 50 bits wider: no room left for (rank, gnum)

    monkeypatch.setattr(summary_rule, "_line_key_codes", wide)
    two_columns = summarise_period(heads, lines, "2026-10", options=options)
    for name in ("declarations", "declaration_lines", "mapping", "excluded"):
        assert_frame_equal(getattr(one_key, name), getattr(two_columns, name))
