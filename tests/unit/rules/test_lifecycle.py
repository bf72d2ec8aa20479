"""The pure aftercare rules: legal officer results, the return window in Beijing dates, returned shares."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbec.params import default_parameters
from cbec.rules import lifecycle as R

PARAMS = default_parameters()


@pytest.mark.parametrize(
    ("kind", "result", "status", "chain", "gives_back"),
    [
        ("review", "release", 300, (399, 800), False),
        ("review", "refuse", 300, (100,), True),
        ("inspection", "pass", 500, (800,), False),
        ("inspection", "detain-clearance", 500, (501,), False),
        ("inspection", "detain-smuggling", 500, (502,), False),
        ("inspection", "detain-legal", 500, (503,), False),
        ("inspection", "detain-other", 500, (599,), False),
        ("inspection", "return", 500, (700,), True),
        ("inspection", "pass", 502, (800,), False),
        ("inspection", "return", 599, (700,), True),
    ],
)
def test_legal_officer_results(
    kind: str, result: str, status: int, chain: tuple[int, ...], gives_back: bool
) -> None:
    t = R.officer_transition(kind, result, status)
    assert (t.chain, t.gives_back) == (chain, gives_back)


@pytest.mark.parametrize(
    ("kind", "result", "status"),
    [
        ("review", "release", 800),
        ("review", "release", 500),
        ("review", "refuse", 100),
        ("inspection", "pass", 300),
        ("inspection", "detain-other", 501),  # detained once: pass or return, not a second detention
        ("inspection", "pass", 899),
        ("review", "pass", 300),
    ],
)
def test_illegal_officer_results(kind: str, result: str, status: int) -> None:
    with pytest.raises(R.LifecycleError) as err:
        R.officer_transition(kind, result, status)
    assert err.value.zh and err.value.en and " / " in str(err.value)


def test_the_window_counts_beijing_days_after_the_day_of_release() -> None:
    released = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing on 1 March
    assert R.return_deadline(released, PARAMS) == date(2026, 3, 31)
    assert R.within_return_window(released, datetime(2026, 3, 31, 15, 59, tzinfo=UTC), PARAMS)
    assert not R.within_return_window(released, datetime(2026, 3, 31, 16, 0, tzinfo=UTC), PARAMS)
    late_evening = datetime(2026, 2, 28, 17, 0, tzinfo=UTC)  # already 1 March in Beijing
    assert R.return_deadline(late_evening, PARAMS) == date(2026, 3, 31)
    assert not R.closable(released, date(2026, 3, 31), PARAMS)
    assert R.closable(released, date(2026, 4, 1), PARAMS)


def _line(gnum: int, qty: str, *amounts: int) -> R.LineValue:
    return R.LineValue(gnum, Decimal(qty), *amounts)


def test_a_share_is_the_returned_fraction_of_the_line() -> None:
    original = {1: _line(1, "3", 1000, 0, 91, 0), 2: _line(2, "1", 500, 0, 45, 20)}
    (share,) = R.returned_shares(original, {}, {1: Decimal(1)})
    assert (share.qty, share.dutiable_fen, share.vat_fen) == (Decimal(1), 333, 30)
    assert not R.fully_returned(original, [{1: share}])


@given(
    qty=st.integers(min_value=1, max_value=12),
    amounts=st.tuples(*(st.integers(min_value=0, max_value=10**7) for _ in range(4))),
    data=st.data(),
)
def test_returns_in_parts_give_back_exactly_the_whole_line(
    qty: int, amounts: tuple[int, int, int, int], data: st.DataObject
) -> None:
    original = {1: R.LineValue(1, Decimal(qty), *amounts)}
    taken: dict[int, R.LineShare] = {}
    left = qty
    while left:
        part = data.draw(st.integers(min_value=1, max_value=left))
        (share,) = R.returned_shares(original, taken, {1: Decimal(part)})
        assert all(v >= 0 for v in (share.dutiable_fen, share.customs_tax_fen, share.vat_fen, share.ct_fen))
        prev = taken.get(1)
        taken[1] = R.LineShare(
            1,
            share.qty + (prev.qty if prev else 0),
            share.dutiable_fen + (prev.dutiable_fen if prev else 0),
            share.customs_tax_fen + (prev.customs_tax_fen if prev else 0),
            share.vat_fen + (prev.vat_fen if prev else 0),
            share.ct_fen + (prev.ct_fen if prev else 0),
        )
        left -= part
    total = taken[1]
    assert (total.dutiable_fen, total.customs_tax_fen, total.vat_fen, total.ct_fen) == amounts
    assert R.fully_returned(original, [taken])
