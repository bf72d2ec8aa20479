"""The export-return rules (cbec.rules.export_returns): each refusal, the quantity limits, the dated
cross-district answers on both sides of 2024-12-15 and 2026-04-01, the tax-exemption windows, and the
property that accepted returns never take more of a line than was exported."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.params.dated import default_parameters
from cbec.rules import export_returns as R

RELEASED_AT = datetime(2024, 10, 10, 12)


def _p(on: date) -> R.ReturnParams:
    return R.ReturnParams.at(default_parameters(), on)


def _originals(**over: object) -> pl.DataFrame:
    row = {
        "invt_no": "51412024E000000001",
        "status": 899,
        "trade_mode": "9610",
        "customs_code": "5141",
        "ebp_code": "EBP",
        "ebc_code": "EBC",
        "released_at": RELEASED_AT,
    } | over
    return pl.DataFrame([row], schema_overrides={"released_at": pl.Datetime("us")})


ORIG_LINES = pl.DataFrame(
    {
        "invt_no": ["51412024E000000001"] * 2,
        "gnum": [1, 2],
        "gcode": ["6109100021", "8517130000"],
        "unit": ["007", "007"],
        "qty_e5": [300_000, 100_000],
        "qty1_e5": [300_000, 100_000],
        "qty2_e5": [None, None],
    },
    schema_overrides={"qty2_e5": pl.Int64},
)
NO_RETURNS = pl.DataFrame(
    schema={
        "invt_no": pl.String,
        "gnum": pl.Int64,
        "qty_e5": pl.Int64,
        "qty1_e5": pl.Int64,
        "qty2_e5": pl.Int64,
    }
)


def _apps(n: int = 1, **over: object) -> pl.DataFrame:
    row = {
        "invtNo": "51412024E000000001",
        "ebpCode": "EBP",
        "ebcCode": "EBC",
        "appType": "1",
        "ieFlag": "I",
        "country": "502",
        "customsCode": "5141",
    } | over
    return pl.DataFrame([{"doc": i, **row} for i in range(n)])


def _lines(rows: list[tuple[int, int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "doc": d,
                "gnum": g,
                "gcode": c,
                "unit": "007",
                "qty": Decimal(q),
                "qty1": Decimal(q),
                "qty2": None,
            }
            for d, g, c, q in rows
        ],
        schema_overrides={"qty": pl.Decimal(19, 5), "qty1": pl.Decimal(19, 5), "qty2": pl.Decimal(19, 5)},
    )


def _decide(
    apps: pl.DataFrame,
    lines: pl.DataFrame,
    now: datetime,
    originals: pl.DataFrame | None = None,
    returned: pl.DataFrame = NO_RETURNS,
) -> pl.DataFrame:
    verdict, _acc = R.check_applications(
        apps,
        lines,
        _originals() if originals is None else originals,
        ORIG_LINES,
        returned,
        _p(now.date()),
        now,
    )
    return verdict.sort("doc")


def test_a_clean_partial_return_is_accepted() -> None:
    v = _decide(_apps(), _lines([(0, 1, "6109100021", "2")]), datetime(2024, 11, 1))
    assert v["ok"].to_list() == [True]
    assert v["cross_district"].to_list() == [False]


def test_each_refusal_has_its_code() -> None:
    now = datetime(2024, 11, 1)
    line = _lines([(0, 1, "6109100021", "1")])
    cases = [
        (_apps(ieFlag="E"), line, None, R.RETURN_FIELDS),
        (_apps(country="142"), line, None, R.RETURN_FIELDS),
        (_apps(invtNo="X"), line, None, R.RETURN_NO_LIST),
        (_apps(ebcCode="OTHER"), line, None, R.RETURN_IDENTITY),
        (_apps(), line, _originals(status=399), R.RETURN_STATUS),
        (_apps(), line, _originals(trade_mode="9710"), R.RETURN_MODE),
        (_apps(), _lines([(0, 3, "6109100021", "1")]), None, R.RETURN_LINES),
        (_apps(), _lines([(0, 1, "6109100099", "1")]), None, R.RETURN_LINES),
        (_apps(), _lines([(0, 1, "6109100021", "0")]), None, R.RETURN_LINES),
        (_apps(), _lines([(0, 1, "6109100021", "4")]), None, R.RETURN_QUANTITY),
    ]
    for apps, lines, originals, code in cases:
        v = _decide(apps, lines, now, originals)
        assert v["code"].to_list() == [code], (code, v)
        assert v["reason_zh"][0] and v["reason_en"][0]


def test_the_one_year_window_from_release() -> None:
    line = _lines([(0, 1, "6109100021", "1")])
    assert _decide(_apps(), line, datetime(2025, 10, 10, 11))["ok"].to_list() == [True]
    v = _decide(_apps(), line, datetime(2025, 10, 10, 13))
    assert v["code"].to_list() == [R.RETURN_WINDOW] and "2024-10-10" in v["reason_zh"][0]


def test_quantities_count_earlier_returns_and_earlier_applications_of_the_batch() -> None:
    now = datetime(2024, 11, 1)
    returned = pl.DataFrame(
        {
            "invt_no": ["51412024E000000001"],
            "gnum": [1],
            "qty_e5": [100_000],
            "qty1_e5": [100_000],
            "qty2_e5": [0],
        }
    )
    # 3 exported, 1 returned before: 2 then 1 → the second is over; a refused one takes nothing
    v = _decide(
        _apps(3),
        _lines([(0, 1, "6109100021", "2"), (1, 1, "6109100021", "1"), (2, 2, "8517130000", "1")]),
        now,
        returned=returned,
    )
    assert v["ok"].to_list() == [True, False, True]
    assert v["code"][1] == R.RETURN_QUANTITY and "可退数量0" in v["reason_zh"][1]
    w = _decide(
        _apps(3),
        _lines([(0, 1, "6109100021", "3"), (1, 1, "6109100021", "2"), (2, 1, "6109100021", "2")]),
        now,
        returned=returned,
    )
    assert w["ok"].to_list() == [False, True, False]


def _cross(on: datetime, customs: str, mode: str = "9610") -> pl.DataFrame:
    originals = _originals(released_at=on - timedelta(days=30), trade_mode=mode)
    return _decide(_apps(customsCode=customs), _lines([(0, 1, "6109100021", "1")]), on, originals)


def test_cross_district_is_refused_before_the_pilot_and_allowed_in_a_pilot_district_after() -> None:
    before = _cross(datetime(2024, 12, 14, 12), "3100")
    after = _cross(datetime(2024, 12, 15, 12), "3100")
    assert before["code"].to_list() == [R.RETURN_CROSS_DISTRICT] and "2024-12-15" in before["reason_zh"][0]
    assert after["ok"].to_list() == [True] and after["cross_district"].to_list() == [True]


def test_during_the_pilot_only_pilot_districts_then_every_district_from_2026_04_01() -> None:
    # 4200 (Qingdao) is not among the ten pilot districts cbec knows
    pilot = _cross(datetime(2026, 3, 31, 12), "4200")
    nationwide = _cross(datetime(2026, 4, 1, 12), "4200")
    assert pilot["code"].to_list() == [R.RETURN_CROSS_DISTRICT] and "4200" in pilot["reason_zh"][0]
    assert nationwide["ok"].to_list() == [True]


def test_cross_district_is_for_9610_only_but_a_same_district_9810_return_is_fine() -> None:
    v = _cross(datetime(2026, 6, 1, 12), "3100", mode="9810")
    assert v["code"].to_list() == [R.RETURN_CROSS_DISTRICT] and "9610" in v["reason_zh"][0]
    assert _cross(datetime(2026, 6, 1, 12), "5141", mode="9810")["ok"].to_list() == [True]


def _tax(export: date, returned: date, gcode: str = "6109100021", mode: str = "9610") -> dict[str, object]:
    frame = pl.DataFrame({"gcode": [gcode], "trade_mode": [mode], "export_date": [export]})
    return R.tax_outcome(frame, _p(returned), returned).row(0, named=True)


def test_tax_exemption_windows_and_exclusions() -> None:
    assert _tax(date(2023, 1, 29), date(2023, 3, 1))["tax_basis"] == "no_policy"  # before MOF-2023-4
    first = _tax(date(2023, 1, 30), date(2023, 7, 30))
    assert first["tax_exempt"] and "2023年第4号" in str(first["tax_source"])
    assert _tax(date(2023, 1, 30), date(2023, 7, 31))["tax_basis"] == "window"  # six months and a day
    assert _tax(date(2025, 12, 31), date(2026, 6, 1))["tax_exempt"]  # the extension
    renewed = _tax(date(2026, 1, 1), date(2026, 6, 1))
    assert renewed["tax_exempt"] and "2026年第16号" in str(renewed["tax_source"])
    assert _tax(date(2026, 1, 1), date(2026, 6, 1), gcode="2106909090")["tax_basis"] == "food"
    assert _tax(date(2026, 1, 1), date(2026, 6, 1), mode="0110")["tax_basis"] == "mode"
    assert _tax(date(2028, 1, 1), date(2028, 2, 1))["tax_basis"] == "no_policy"  # after MOF-2026-16


def test_return_master_bills_are_the_607s_naming_every_list() -> None:
    lines = pl.DataFrame({"_msg": [0, 0, 1, 1], "invtNo": ["A", "B", "C", None]})
    assert R.return_bill_messages(lines) == [0]


@settings(max_examples=60, deadline=None)
@given(
    exported=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    requests=st.lists(st.lists(st.integers(0, 4), min_size=3, max_size=3), min_size=1, max_size=6),
)
def test_accepted_returns_never_exceed_what_was_exported(
    exported: list[int], requests: list[list[int]]
) -> None:
    n = len(exported)
    orig = pl.DataFrame(
        {
            "invt_no": ["L"] * n,
            "gnum": list(range(1, n + 1)),
            "gcode": ["6109100021"] * n,
            "unit": ["007"] * n,
            "qty_e5": [q * R.E5 for q in exported],
            "qty1_e5": [q * R.E5 for q in exported],
            "qty2_e5": [None] * n,
        },
        schema_overrides={"qty2_e5": pl.Int64},
    )
    rows = [(d, g + 1, q) for d, req in enumerate(requests) for g, q in enumerate(req[:n]) if q > 0]
    lines = pl.DataFrame(
        [
            {"doc": d, "gnum": g, "gcode": "6109100021", "unit": "007", "qty": Decimal(q), "qty1": Decimal(q)}
            for d, g, q in rows
        ],
        schema={
            "doc": pl.Int64,
            "gnum": pl.Int64,
            "gcode": pl.String,
            "unit": pl.String,
            "qty": pl.Decimal(19, 5),
            "qty1": pl.Decimal(19, 5),
        },
    )
    apps = _apps(len(requests), invtNo="L")
    now = datetime(2024, 11, 1)
    verdict, accepted = R.check_applications(
        apps, lines, _originals(invt_no="L"), orig, NO_RETURNS, _p(now.date()), now
    )
    taken = accepted.group_by("gnum").agg(pl.col("qty_e5").sum())
    for g, q in taken.iter_rows():
        assert q <= exported[g - 1] * R.E5
    # and it is the sequential clerk's answer for the applications that pass the line checks
    with_lines = {d for d, _g, _q in rows}
    expect = R.cumulative_within(
        exported, [[req[i] if i < len(req) else 0 for i in range(n)] for req in requests]
    )
    got = dict(zip(verdict["doc"].to_list(), verdict["ok"].to_list(), strict=True))
    for d, ok in enumerate(expect):
        if d in with_lines:
            assert got[d] == ok, (d, exported, requests)
