"""The gate rule row by row (``decide_rows``, the HTTP path) decides as the Polars rule, on random events.

The events are drawn to hit every branch: nulls in every column, every pass status and gate stage (and an
invalid one), weights at and around the tolerance, passes used by several events of one batch, event times
over two days whose tolerances differ and in other time zones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.params import default_parameters
from cbec.params.dated import ParameterSet
from cbec.rules import gate as rule
from cbec.rules import terms as t

DAY = datetime(2026, 11, 12, 9, 30, tzinfo=UTC)
DATED = ParameterSet.from_yaml(
    """
parameters:
  - name: gate.weighbridge.tolerance_ratio
    description: test
    unit: ratio
    values:
      - {from: 2020-01-01, to: 2026-11-11, value: 0.10, reference: {source: t, clause: t}}
      - {from: 2026-11-12, value: 0.013, reference: {source: t, clause: t}}
  - name: gate.weighbridge.tolerance_floor_kg
    description: test
    unit: kg
    values:
      - {from: 2020-01-01, to: 2026-11-11, value: 0, reference: {source: t, clause: t}}
      - {from: 2026-11-12, value: 75.5, reference: {source: t, clause: t}}
"""
)
PARAMS = (default_parameters(), DATED)
DECIDED = ("tolerance_g", "reason_codes", "reasons_zh", "reasons_en", "decision", "new_status")

ids = st.sampled_from(["浙A12345", "浙A54321", "E0001", "E0002"])
maybe = st.one_of(st.none(), ids)
notes = st.sampled_from([None] * 12 + ["I1 (300)", "布控 / held (#1 lin)", "x, y"])  # mostly none
totals = st.one_of(st.none(), st.integers(0, 60_000_000))
times = st.one_of(
    st.none(),
    st.builds(
        lambda hours, tz: (DAY + timedelta(hours=hours)).astimezone(timezone(timedelta(hours=tz))),
        st.integers(-30, 30),
        st.sampled_from([0, 8, -5]),
    ),
)


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    total = draw(totals)
    near = (
        st.integers(-1_000_000, 1_000_000).map(lambda d: max(0, total + d))
        if total is not None
        else st.integers(0, 60_000_000)
    )
    has_pass = draw(st.sampled_from([True, True, True, False]))
    row: dict[str, Any] = {
        "event_id": draw(st.uuids()).hex,
        "at": draw(times),
        "gate": draw(st.sampled_from(["S", "S", "S", "1", "2", "X", None])),
        "vehicle_no": draw(maybe),
        "vehicle_ic_no": draw(maybe),
        "container_no": draw(st.sampled_from([None, None, "CBEU1234567", "TGHU7654321"])),
        "weight_g": draw(st.one_of(st.none(), near, near, near, near)),
    }
    row.update(dict.fromkeys(rule.PASS_SCHEMA))
    if has_pass:
        row.update(
            passport_no=draw(st.sampled_from(["P1", "P2", "P3"])),
            pass_status=draw(st.sampled_from(["0", "1", "1", "1", "2", "3", "4", "5", "6", None])),
            pass_vehicle_no=draw(st.sampled_from([row["vehicle_no"]] * 3 + [None, "浙A54321"])),
            pass_vehicle_ic_no=draw(st.sampled_from([row["vehicle_ic_no"]] * 3 + [None, "E0002"])),
            pass_container_no=draw(st.sampled_from([row["container_no"]] * 3 + [None, "CBEU1234567"])),
            pass_total_wt_g=total,
            lists_unreleased=draw(notes),
            lists_inspection=draw(notes),
            held_pass=draw(notes),
            held_vehicle=draw(notes),
            held_lists=draw(notes),
            inspection_ordered=draw(notes),
        )
    return row


@st.composite
def clean_event(draw: st.DrawFn) -> dict[str, Any]:
    """An event that agrees with its pass (so that it lifts), with at most one field then changed."""
    total = draw(st.integers(2_000_000, 60_000_000))
    plate, ic, box = draw(ids), draw(st.sampled_from([None, "E0001"])), draw(st.sampled_from([None, "C1"]))
    stage, status = draw(st.sampled_from([("S", "1"), ("S", "0"), ("1", "1"), ("2", "3")]))
    row: dict[str, Any] = {
        **dict.fromkeys((*rule.EVENT_SCHEMA, *rule.PASS_SCHEMA)),
        "event_id": draw(st.uuids()).hex,
        "at": draw(times),
        "gate": stage,
        "vehicle_no": plate,
        "vehicle_ic_no": ic,
        "container_no": box,
        "weight_g": total + draw(st.integers(-50_000, 50_000)),
        "passport_no": draw(st.sampled_from(["P1", "P2", "P3", "P4"])),
        "pass_status": status,
        "pass_vehicle_no": plate,
        "pass_vehicle_ic_no": ic,
        "pass_container_no": box,
        "pass_total_wt_g": total,
    }
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(row)))
        row[name] = draw(event())[name]
    return row


def _by_polars(rows: list[dict[str, Any]], params: ParameterSet) -> list[dict[str, Any]]:
    frame = pl.DataFrame(rows, schema={**rule.EVENT_SCHEMA, **rule.PASS_SCHEMA}, orient="row")
    return [{k: d[k] for k in DECIDED} for d in rule.decide(frame, params).to_dicts()]


def _by_rows(rows: list[dict[str, Any]], params: ParameterSet) -> list[dict[str, Any]]:
    return [{k: d[k] for k in DECIDED} for d in rule.decide_rows(rows, params, row_by_row_up_to=1000)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(event(), clean_event()), min_size=1, max_size=6), st.sampled_from(PARAMS))
def test_row_by_row_decides_as_the_polars_rule(rows: list[dict[str, Any]], params: ParameterSet) -> None:
    assert _by_rows(rows, params) == _by_polars(rows, params)


@settings(max_examples=40, deadline=None)
@given(st.lists(event(), min_size=3, max_size=12))
def test_decide_rows_over_the_threshold_goes_through_polars(rows: list[dict[str, Any]]) -> None:
    through_frame = rule.decide_rows(rows, DATED, row_by_row_up_to=2)
    assert [{k: d[k] for k in DECIDED} for d in through_frame] == _by_rows(rows, DATED)


def test_every_reason_is_reached_row_by_row() -> None:
    """The random events above are only worth something if they reach every reason."""
    rows = [
        {**dict.fromkeys((*rule.EVENT_SCHEMA, *rule.PASS_SCHEMA)), "event_id": "a", "at": DAY, "gate": "S"},
    ]
    [d] = rule.decide_rows(rows, PARAMS[0])
    assert d["reason_codes"] == ["no-vehicle-id"] and d["decision"] == "STOP"
    assert d["reasons_en"] == ["neither the plate nor the electronic plate/IC was read"]


def test_an_event_in_another_time_zone_takes_the_tolerance_of_its_utc_day() -> None:
    late = datetime(2026, 11, 12, 7, 0, tzinfo=timezone(timedelta(hours=8)))  # 23:00 UTC on the 11th
    row = {
        **dict.fromkeys((*rule.EVENT_SCHEMA, *rule.PASS_SCHEMA)),
        "event_id": "e",
        "at": late,
        "gate": "S",
        "vehicle_no": "浙A12345",
        "passport_no": "P1",
        "pass_status": "1",
        "pass_vehicle_no": "浙A12345",
        "pass_total_wt_g": 20_000_000,
        "weight_g": 21_500_000,
    }
    other = {**row, "event_id": "f", "at": DAY, "passport_no": "P2"}
    got = {d["event_id"]: d["tolerance_g"] for d in rule.decide_rows([row, other], DATED)}
    assert got == {"e": 2_000_000, "f": 260_000}
    assert _by_rows([row, other], DATED) == _by_polars([row, other], DATED)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.integers(0, 500_000_000)))
def test_kilogram_texts_agree(grams: int | None) -> None:
    term = t.col("g").kg_text().text()
    frame = pl.DataFrame({"g": [grams]}, schema={"g": pl.Int64})
    assert frame.select(term.alias("x")).item() == term.fn({"g": grams})
