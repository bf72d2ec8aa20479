"""The CLI form of a ledger movement's lines, second legal quantity and unit included."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cbec.engine import ledger as E


def test_lines_give_the_second_quantity_and_unit_after_a_slash() -> None:
    assert E.parse_lines(["A=3", "B=2.5/0.75", "C=-1/-0.5"]) == [
        E.Line("A", Decimal(3)),
        E.Line("B", Decimal("2.5"), Decimal("0.75")),
        E.Line("C", Decimal(-1), Decimal("-0.5")),
    ]
    assert E.parse_lines(["D=4/1.2:6109100000:011/035:T恤", "F=1:3304990029:035"]) == [
        E.Line("D", Decimal(4), Decimal("1.2"), "6109100000", "T恤", "011", "035"),
        E.Line("F", Decimal(1), Decimal(0), "3304990029", None, "035", None),
    ]


def test_a_malformed_second_quantity_is_refused_in_both_languages() -> None:
    with pytest.raises(E.LedgerError) as err:
        E.parse_lines(["A=3/x"])
    assert err.value.zh == "数量'x'无效" and "not a number" in err.value.en
