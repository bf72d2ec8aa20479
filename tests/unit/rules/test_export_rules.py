"""The pure export rules: each refusal with its code and reason, the status decision, departures,
cancellations and the pre-refund arithmetic (property-tested)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from cbec.params.dated import default_parameters
from cbec.params.export_controls import controls_on, load_export_controls
from cbec.params.hs import load_cbec_hs
from cbec.rules import export as X

ON = date(2026, 11, 11)
P = X.ExportParams.at(default_parameters(), ON)
TARIFF = load_cbec_hs().frame()["hs10"]
CONTROLS = controls_on(load_export_controls(), ON)
FREE = next(c for c in TARIFF.to_list() if c[:4] not in {p[:4] for p in CONTROLS["prefix"].to_list()})


def _list(**head: object) -> pl.DataFrame:
    base = {
        "list_key": "E|P|1",
        "appType": "1",
        "ieFlag": "E",
        "tradeMode": "9610",
        "statisticsFlag": "B",
        "licenseNo": None,
    }
    base.update(head)
    return pl.DataFrame([base], schema_overrides={"licenseNo": pl.String})


def _lines(*rows: dict[str, object]) -> pl.DataFrame:
    out = []
    for g, r in enumerate(rows, 1):
        line = {
            "list_key": "E|P|1",
            "gnum": g,
            "gcode": FREE,
            "note": None,
            "currency": "502",
            "totalPrice": Decimal("10"),
            "qty": Decimal("1"),
            "gname": "x",
        }
        line.update(r)
        out.append(line)
    return pl.DataFrame(
        out, schema_overrides={"totalPrice": pl.Decimal(19, 5), "qty": pl.Decimal(19, 5), "note": pl.String}
    )


def _violations(heads: pl.DataFrame, lines: pl.DataFrame) -> list[tuple[str, str]]:
    facts = X.line_facts(lines, heads.select("list_key", "statisticsFlag"), CONTROLS, TARIFF)
    v = X.validate_lists(heads, facts, P)
    return sorted(zip(v["rule"].to_list(), v["code"].to_list(), strict=True))


def test_a_clean_list_has_no_violation() -> None:
    assert _violations(_list(), _lines({})) == []


def test_field_rules() -> None:
    assert ("XV", X.LIST_FIELDS) in _violations(_list(ieFlag="I"), _lines({}))
    assert ("XV", X.LIST_FIELDS) in _violations(_list(tradeMode="1210"), _lines({}))
    assert ("XV", X.DOC_APP_TYPE) in _violations(_list(appType="2"), _lines({}))


def test_hs_rules_depend_on_the_flag() -> None:
    made_up = FREE[:4] + "999999"  # a real heading, an unknown code
    assert _violations(_list(statisticsFlag="A"), _lines({"gcode": made_up})) == []  # A: 4 digits suffice
    assert _violations(_list(statisticsFlag="B"), _lines({"gcode": made_up})) == [("XH", X.LIST_HS)]
    assert ("XH", X.LIST_HS) in _violations(_list(statisticsFlag="A"), _lines({"gcode": "0000000000"}))
    assert ("XH", X.LIST_HS) in _violations(_list(), _lines({"gcode": "12AB"}))


def test_simplified_declaration_refuses_licence_duty_and_refund() -> None:
    for gcode in ("8806100000", "7202110000"):  # drones (licence), ferro-alloys (export duty)
        found = _violations(_list(statisticsFlag="A"), _lines({"gcode": gcode}))
        assert ("XA", X.LIST_SIMPLIFIED) in found, gcode
    marked = _violations(_list(statisticsFlag="A", tradeMode="9810"), _lines({"note": X.PREREFUND_MARK}))
    assert ("XA", X.LIST_SIMPLIFIED) in marked


def test_licensed_goods_on_a_9610_b_list_need_a_licence_number() -> None:
    assert ("XL", X.LIST_LICENCE) in _violations(_list(), _lines({"gcode": "8806100000"}))


def test_b2b_lists_only_below_the_limit_and_without_controls() -> None:
    limit_usd = P.list_value_limit / P.fx["502"]
    under = _lines({"totalPrice": (limit_usd - 1).quantize(Decimal("0.01"))})
    over = _lines({"totalPrice": (limit_usd + 1).quantize(Decimal("0.01"))})
    assert _violations(_list(tradeMode="9710"), under) == []
    assert _violations(_list(tradeMode="9710"), over) == [("XB", X.LIST_B2B_LIMIT)]
    assert _violations(_list(tradeMode="9610"), over) == []  # 9610 has no such limit
    assert ("XB", X.LIST_B2B_CONTROLS) in _violations(
        _list(tradeMode="9810"), _lines({"gcode": "9503000000"})
    )
    assert ("XB", X.LIST_B2B_LIMIT) in _violations(_list(tradeMode="9710"), _lines({"currency": "999"}))


def test_prerefund_mark_only_on_9810() -> None:
    assert ("XR", X.LIST_PREREFUND) in _violations(_list(), _lines({"note": X.PREREFUND_MARK}))
    assert _violations(_list(tradeMode="9810"), _lines({"note": X.PREREFUND_MARK})) == []
    before = X.ExportParams.at(default_parameters(), date(2024, 6, 1))
    facts = X.line_facts(_lines({"note": X.PREREFUND_MARK}), _list(tradeMode="9810"), CONTROLS, TARIFF)
    assert "XR" in X.validate_lists(_list(tradeMode="9810"), facts, before)["rule"].to_list()


def test_matching_with_the_order() -> None:
    heads = _list(tradeMode="9710", ebcCode="E1", order_key="P|1")
    lines = _lines({"gname": "a"})
    order = pl.DataFrame(
        [
            {
                "order_key": "P|1",
                "ebcCode": "E1",
                "orderType": "B",
                "goodsValue": Decimal("10"),
                "currency": "502",
            }
        ]
    )
    olines = pl.DataFrame([{"order_key": "P|1", "gnum": 1, "itemName": "a"}])
    assert X.match_lists(heads, lines, order, olines).height == 0
    wrong = X.match_lists(heads, lines, order.with_columns(pl.lit("E").alias("orderType")), olines)
    assert wrong["code"].to_list() == [X.LIST_MISMATCH] and "orderType B" in wrong["reason_en"][0]
    assert X.match_lists(
        heads, lines, order.with_columns(pl.lit(Decimal("11")).alias("goodsValue")), olines
    ).height


def test_decision_waits_refuses_and_expires() -> None:
    now = datetime(2026, 11, 11, 12)
    sets = pl.DataFrame(
        {
            "list_key": ["a", "b", "c", "d"],
            "has_order": [True, False, False, True],
            "has_waybill": [True, True, True, True],
            "received_at": [now, now, now - timedelta(hours=100), now],
        }
    )
    v = pl.DataFrame(
        {
            "list_key": ["d"],
            "rule": ["XB"],
            "code": [X.LIST_B2B_LIMIT],
            "reason_zh": ["z"],
            "reason_en": ["e"],
        }
    )
    d = X.decide_lists(sets, v.cast(X.VIOLATION_SCHEMA), now=now, expiry=P.expiry)  # type: ignore[arg-type]
    got = dict(
        zip(
            d["list_key"].to_list(), zip(d["status"].to_list(), d["code"].to_list(), strict=True), strict=True
        )
    )
    assert got == {"a": (399, None), "b": (2, None), "c": (100, X.LIST_MISSING), "d": (100, X.LIST_B2B_LIMIT)}


def test_departure_and_cancellation_follow_the_status() -> None:
    lists = pl.DataFrame(
        {
            "waybill_key": ["L|1", "L|2", "L|3"],
            "list_key": ["k1", "k2", "k3"],
            "status": [800, 399, 899],
            "invt_no": ["i1", "i2", "i3"],
            "ebc_code": ["E"] * 3,
            "agent_code": ["A"] * 3,
        }
    )
    lines = pl.DataFrame(
        {
            "doc": [0, 1, 1, 2],
            "gnum": [1, 1, 2, 1],
            "waybill_key": ["L|1", "L|1", "L|2", "L|9"],
            "logisticsNo": ["1", "1", "2", "9"],
        }
    )
    dep = X.check_departures(lines, lists).sort("doc")
    assert dep["ok"].to_list() == [True, False, False]
    assert "not arrived" in dep["reason_en"][1] and "no export list" in dep["reason_en"][2]
    cancels = pl.DataFrame(
        {
            "doc": [0, 1, 2, 3],
            "invtNo": ["i1", "i3", "i9", "i2"],
            "ebcCode": ["E", "E", "E", "X"],
            "agentCode": ["A"] * 4,
        }
    )
    c = X.check_cancels(cancels, lists).sort("doc")
    assert c["code"].to_list() == [None, X.CANCEL_STATUS, X.CANCEL_NOT_FOUND, X.CANCEL_IDENTITY]


@given(
    qty=st.integers(1, 10_000),
    provisional=st.integers(0, 10_000_000),
    parts=st.lists(st.integers(1, 10_000), min_size=1, max_size=8),
)
def test_returns_repay_exactly_the_provisional_refund(qty: int, provisional: int, parts: list[int]) -> None:
    line = X.RefundLine(qty_e5=qty, provisional_fen=provisional, sold_e5=0, returned_e5=0, repaid_fen=0)
    for part in parts:
        left = line.qty_e5 - line.returned_e5
        if left == 0:
            break
        taken, repay = X.true_up(line, "returned", min(part, left))
        assert repay >= 0
        line = X.RefundLine(line.qty_e5, provisional, 0, line.returned_e5 + taken, line.repaid_fen + repay)
    assert line.repaid_fen <= provisional
    if line.returned_e5 == qty:
        assert line.repaid_fen == provisional


def test_true_up_refuses_more_than_is_open() -> None:
    line = X.RefundLine(qty_e5=100, provisional_fen=1300, sold_e5=60, returned_e5=0, repaid_fen=0)
    assert X.true_up(line, "sold", 40) == (40, 0)
    assert X.true_up(line, "returned", 40) == (40, 520)
    try:
        X.true_up(line, "returned", 41)
    except X.TrueUpRefused as refused:
        assert "exceeds" in refused.en
    else:
        raise AssertionError("over-return accepted")
