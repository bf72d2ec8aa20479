"""Declaration-line sums stay exact when they no longer fit 64 bits (the rule then sums Int128, not Int64)."""

from __future__ import annotations

from decimal import Decimal

from _summary_testlib import head, heads_frame, line, lines_frame

from cbec.rules.summary import summarise_period

LARGEST = Decimal("99999999999999.99999")  # N19,5: the largest amount a list line can carry


def test_sums_beyond_64_bits_are_exact() -> None:
    n = 5  # 5 × 10**19 scaled units > 2**63: the Int64 sum would wrap
    heads = heads_frame([head(f"51412026E{k:010d}") for k in range(n)])
    lines = lines_frame(
        [
            line(f"51412026E{k:010d}", 1, qty=LARGEST, qty1=LARGEST, totalPrice=Decimal("0.00001"))
            for k in range(n)
        ]
    )
    result = summarise_period(heads, lines, "2026-10")
    [row] = result.declaration_lines.select("qty", "qty1", "totalPrice", "lines").rows()
    assert row == (LARGEST * n, LARGEST * n, Decimal("0.00005"), n)


def test_negative_and_positive_amounts_near_the_limit_sum_exactly() -> None:
    values = [LARGEST, -LARGEST, LARGEST, Decimal("1.5")]
    heads = heads_frame([head(f"51412026E{k:010d}") for k in range(len(values))])
    lines = lines_frame([line(f"51412026E{k:010d}", 1, qty1=v, totalPrice=v) for k, v in enumerate(values)])
    [row] = summarise_period(heads, lines, "2026-10").declaration_lines.select("qty1", "totalPrice").rows()
    assert row == (sum(values), sum(values))
