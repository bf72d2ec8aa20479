"""The non-stop gate rule: every reason, the tolerance's edges, and properties over random events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.params import default_parameters
from cbec.params.dated import ParameterSet
from cbec.rules import gate as rule

PARAMS = default_parameters()
DAY = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
TOTAL = 20_000_000  # 20 t


def _row(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e1",
        "at": DAY,
        "gate": "S",
        "vehicle_no": "浙A12345",
        "vehicle_ic_no": "E0001",
        "container_no": "CBEU1234567",
        "weight_g": TOTAL,
        "passport_no": "Z2924E261112000000000001",
        "pass_status": "1",
        "pass_vehicle_no": "浙A12345",
        "pass_vehicle_ic_no": "E0001",
        "pass_container_no": "CBEU1234567",
        "pass_total_wt_g": TOTAL,
    }
    base.update(dict.fromkeys(("lists_unreleased", "lists_inspection", "held_pass", "held_vehicle")))
    base.update(dict.fromkeys(("held_lists", "inspection_ordered")))
    base.update(over)
    return base


def _decide(*rows: dict[str, Any], params: ParameterSet = PARAMS) -> list[dict[str, Any]]:
    frame = pl.DataFrame(list(rows), schema={**rule.EVENT_SCHEMA, **rule.PASS_SCHEMA}, orient="row")
    return rule.decide(frame, params).to_dicts()


def test_consistent_event_lifts_and_passes_the_pass() -> None:
    [d] = _decide(_row())
    assert d["decision"] == "LIFT" and d["new_status"] == "2" and d["reason_codes"] == []
    assert d["reasons_zh"] == [] and d["reasons_en"] == []


NO_PASS = dict.fromkeys(("passport_no", "pass_status", "pass_vehicle_no", "pass_vehicle_ic_no"))


@pytest.mark.parametrize(
    ("over", "code"),
    [
        ({"vehicle_no": None, "vehicle_ic_no": None, **NO_PASS}, "no-vehicle-id"),
        ({**NO_PASS, "pass_container_no": None, "pass_total_wt_g": None}, "no-pass"),
        ({"pass_status": "0", "lists_unreleased": "I1 (300)"}, "pass-not-approved"),
        ({"pass_status": "2"}, "pass-used"),
        ({"pass_status": "3"}, "pass-used"),
        ({"pass_status": "6"}, "pass-void"),
        ({"gate": "2"}, "first-gate-missing"),
        ({"gate": "X"}, "bad-stage"),
        ({"vehicle_no": "浙A99999"}, "plate-mismatch"),
        ({"vehicle_ic_no": "E9999"}, "ic-mismatch"),
        ({"container_no": "TGHU7654321"}, "container-mismatch"),
        ({"container_no": None}, "container-mismatch"),
        ({"weight_g": None}, "no-weight"),
        ({"weight_g": TOTAL * 2}, "overweight"),
        ({"weight_g": TOTAL // 2}, "underweight"),
        ({"pass_status": "0", "lists_unreleased": "2924I0001 (2)"}, "list-unreleased"),
        ({"pass_status": "0", "lists_inspection": "2924I0002 (500)"}, "list-inspection"),
        ({"held_pass": "布控 / held"}, "pass-held"),
        ({"held_vehicle": "布控 / held"}, "vehicle-held"),
        ({"held_lists": "布控 / held"}, "list-held"),
        ({"inspection_ordered": "查验 / inspect"}, "inspection-ordered"),
    ],
)
def test_each_reason_stops_with_its_code_and_both_languages(over: dict[str, Any], code: str) -> None:
    [d] = _decide(_row(**over))
    assert d["decision"] == "STOP" and d["new_status"] is None
    assert code in d["reason_codes"]
    assert len(d["reasons_zh"]) == len(d["reasons_en"]) == len(d["reason_codes"])
    assert all(t and "{}" not in t for t in d["reasons_zh"] + d["reasons_en"])


def test_every_reason_is_listed_not_only_the_first() -> None:
    [d] = _decide(_row(vehicle_no="浙A00000", container_no="X1", weight_g=TOTAL * 2, held_pass="h"))
    assert {"plate-mismatch", "container-mismatch", "overweight", "pass-held"} <= set(d["reason_codes"])


def test_tolerance_edges() -> None:
    allowed = rule.weighbridge_tolerance(PARAMS, DAY.date()).allowed_g(TOTAL)
    assert allowed == 600_000  # 3 % of 20 t
    rows = [
        _row(event_id="at+", weight_g=TOTAL + allowed, passport_no="P1"),
        _row(event_id="over+", weight_g=TOTAL + allowed + 1, passport_no="P2"),
        _row(event_id="at-", weight_g=TOTAL - allowed, passport_no="P3"),
        _row(event_id="under-", weight_g=TOTAL - allowed - 1, passport_no="P4"),
    ]
    got = {d["event_id"]: (d["decision"], d["reason_codes"]) for d in _decide(*rows)}
    assert got == {
        "at+": ("LIFT", []),
        "over+": ("STOP", ["overweight"]),
        "at-": ("LIFT", []),
        "under-": ("STOP", ["underweight"]),
    }


def test_floor_applies_to_light_vehicles() -> None:
    light = 1_000_000  # 1 t: 3 % is 30 kg, the floor 50 kg
    [ok, over] = _decide(
        _row(event_id="a", pass_total_wt_g=light, weight_g=light + 50_000, passport_no="P1"),
        _row(event_id="b", pass_total_wt_g=light, weight_g=light + 50_001, passport_no="P2"),
    )
    assert ok["decision"] == "LIFT" and over["reason_codes"] == ["overweight"]


def test_tolerance_is_the_parameter_in_force_on_the_event_day() -> None:
    dated = ParameterSet.from_yaml(
        """
parameters:
  - name: gate.weighbridge.tolerance_ratio
    description: test
    unit: ratio
    values:
      - {from: 2020-01-01, to: 2026-11-11, value: 0.10, reference: {source: t, clause: t}}
      - {from: 2026-11-12, value: 0.01, reference: {source: t, clause: t}}
  - name: gate.weighbridge.tolerance_floor_kg
    description: test
    unit: kg
    values:
      - {from: 2020-01-01, value: 0, reference: {source: t, clause: t}}
"""
    )
    before = DAY.replace(day=11)
    rows = [
        _row(event_id="old", at=before, weight_g=int(TOTAL * 1.05), passport_no="P1"),
        _row(event_id="new", at=DAY, weight_g=int(TOTAL * 1.05), passport_no="P2"),
    ]
    got = {d["event_id"]: d["decision"] for d in _decide(*rows, params=dated)}
    assert got == {"old": "LIFT", "new": "STOP"}


def test_applied_pass_is_approved_on_arrival_once_its_lists_are_released() -> None:
    [d] = _decide(_row(pass_status="0"))
    assert d["decision"] == "LIFT" and d["new_status"] == "2"


def test_double_gate() -> None:
    first, second = _decide(
        _row(event_id="g1", gate="1", passport_no="P1"),
        _row(event_id="g2", gate="2", passport_no="P2", pass_status="3"),
    )
    assert (first["decision"], first["new_status"]) == ("LIFT", "3")
    assert (second["decision"], second["new_status"]) == ("LIFT", "4")


def test_second_use_of_one_pass_in_a_frame_is_stopped() -> None:
    a, b, c = _decide(
        _row(event_id="1", weight_g=TOTAL * 3),  # stopped: does not use the pass
        _row(event_id="2"),
        _row(event_id="3"),
    )
    assert a["decision"] == "STOP" and "pass-used" not in a["reason_codes"]
    assert b["decision"] == "LIFT"
    assert c["decision"] == "STOP" and c["reason_codes"] == ["pass-used"]


def test_normalized_plates_compare_equal() -> None:
    assert rule.normalize_plate(" 浙a·123-45 ") == "浙A12345"
    frame = pl.DataFrame(
        [_row(vehicle_no="浙a·12345")], schema={**rule.EVENT_SCHEMA, **rule.PASS_SCHEMA}, orient="row"
    )
    assert rule.decide(rule.normalized(frame), PARAMS)["decision"].to_list() == ["LIFT"]


def test_pass_totals() -> None:
    ok = rule.PassTotals(8_000_000, 0, 2_000_000, 1_000_000, 900_000, 11_000_000, 990_000, 900_000)
    assert rule.pass_totals_problems(ok, PARAMS, date(2026, 11, 12)) == []
    wrong_total = rule.PassTotals(8_000_000, 0, 2_000_000, 1_000_000, 900_000, 12_000_000, 990_000, 900_000)
    assert [r.code for r in rule.pass_totals_problems(wrong_total, PARAMS, date(2026, 11, 12))] == [
        "total-mismatch"
    ]
    heavy = rule.PassTotals(8_000_000, 0, 0, 2_000_000, 900_000, 10_000_000, 990_000, 900_000)
    codes = [r.code for r in rule.pass_totals_problems(heavy, PARAMS, date(2026, 11, 12))]
    assert codes == ["cargo-gross-mismatch"]
    net_over = rule.PassTotals(8_000_000, 0, 0, 900_000, 950_000, 8_900_000, 900_000, 950_000)
    assert "net-over-gross" in [
        r.code for r in rule.pass_totals_problems(net_over, PARAMS, date(2026, 11, 12))
    ]


# --- properties ------------------------------------------------------------------------------------------
plates = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=5, max_size=7)
weights = st.integers(min_value=2_000_000, max_value=60_000_000)
MISMATCHES = (
    "plate",
    "ic",
    "container",
    "overweight",
    "underweight",
    "held",
    "inspection",
    "unreleased",
    "used",
)


@st.composite
def consistent(draw: st.DrawFn) -> dict[str, Any]:
    plate = "浙A" + draw(plates)
    ic = "E" + draw(plates)
    box = draw(st.one_of(st.none(), st.just("CBEU").map(lambda p: p + "1234567")))
    total = draw(weights)
    allowed = rule.weighbridge_tolerance(PARAMS, DAY.date()).allowed_g(total)
    weight = total + draw(st.integers(min_value=-allowed, max_value=allowed))
    return _row(
        vehicle_no=plate,
        pass_vehicle_no=plate,
        vehicle_ic_no=draw(st.sampled_from([ic, None])),
        pass_vehicle_ic_no=ic,
        container_no=box,
        pass_container_no=box,
        pass_total_wt_g=total,
        weight_g=weight,
        pass_status=draw(st.sampled_from(["0", "1"])),
    )


@settings(max_examples=60, deadline=None)
@given(consistent())
def test_consistent_event_for_approved_unheld_pass_always_lifts(row: dict[str, Any]) -> None:
    [d] = _decide(row)
    assert d["decision"] == "LIFT", d["reason_codes"]


@settings(max_examples=80, deadline=None)
@given(consistent(), st.sampled_from(MISMATCHES))
def test_any_single_planted_mismatch_always_stops(row: dict[str, Any], fault: str) -> None:
    allowed = rule.weighbridge_tolerance(PARAMS, DAY.date()).allowed_g(row["pass_total_wt_g"])
    planted = {
        "plate": {"vehicle_no": row["vehicle_no"] + "X"},
        "ic": {"vehicle_ic_no": row["pass_vehicle_ic_no"] + "X"},
        "container": {"container_no": (row["container_no"] or "") + "9"},
        "overweight": {"weight_g": row["pass_total_wt_g"] + allowed + 1},
        "underweight": {"weight_g": row["pass_total_wt_g"] - allowed - 1},
        "held": {"held_pass": "held"},
        "inspection": {"inspection_ordered": "inspect"},
        "unreleased": {"lists_unreleased": "I1 (120)"},
        "used": {"pass_status": "2"},
    }[fault]
    [d] = _decide({**row, **planted})
    assert d["decision"] == "STOP" and d["reason_codes"]
