"""Tests for cbec.params.dated: as-of lookups, validation on load, operator overrides."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbec.params import (
    ParameterFileError,
    ParameterNotInForce,
    ParameterSet,
    UnknownParameter,
    default_parameters,
)
from cbec.params.dated import CONFIDENCE_LEVELS

EXPECTED_NAMES = {
    "import.retail.single_limit",
    "import.retail.annual_limit",
    "import.retail.duty_rate",
    "import.retail.vat_factor",
    "import.retail.consumption_tax_factor",
    "import.retail.return.application_days",
    "import.retail.return.goods_back_days",
    "export.retail.return.reentry_years",
    "export.retail.return.tax_exemption_months",
}


@pytest.fixture(scope="module")
def params() -> ParameterSet:
    return ParameterSet.load()


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


# ----------------------------------------------------------------------------------- packaged values


def test_expected_parameters_are_shipped(params: ParameterSet) -> None:
    assert set(params.names()) >= EXPECTED_NAMES


@pytest.mark.parametrize(
    ("name", "on", "expected"),
    [
        ("import.retail.single_limit", date(2016, 4, 8), Decimal("2000")),
        ("import.retail.single_limit", date(2018, 12, 31), Decimal("2000")),
        ("import.retail.single_limit", date(2019, 1, 1), Decimal("5000")),
        ("import.retail.single_limit", date(2019, 5, 1), Decimal("5000")),
        ("import.retail.annual_limit", date(2018, 12, 31), Decimal("20000")),
        ("import.retail.annual_limit", date(2019, 1, 1), Decimal("26000")),
        ("import.retail.duty_rate", date(2024, 6, 1), Decimal("0")),
        ("import.retail.vat_factor", date(2017, 1, 1), Decimal("0.7")),
        ("import.retail.consumption_tax_factor", date(2025, 1, 1), Decimal("0.7")),
    ],
)
def test_as_of_lookup_around_2019(params: ParameterSet, name: str, on: date, expected: Decimal) -> None:
    value = params.at(name, on)
    assert isinstance(value, Decimal)
    assert value == expected


def test_numbers_are_exact_decimals(params: ParameterSet) -> None:
    factor = params.decimal_at("import.retail.vat_factor", date(2020, 1, 1))
    assert str(factor) == "0.7"
    assert factor * Decimal("100") == Decimal("70")


def test_before_the_regime_nothing_is_in_force(params: ParameterSet) -> None:
    with pytest.raises(ParameterNotInForce) as info:
        params.at("import.retail.single_limit", date(2016, 4, 7))
    message = str(info.value)
    assert "import.retail.single_limit" in message
    assert "2016-04-07" in message
    assert info.value.name == "import.retail.single_limit"
    assert info.value.on == date(2016, 4, 7)


def test_references_follow_the_period(params: ParameterSet) -> None:
    old = params.reference_at("import.retail.single_limit", date(2018, 6, 1))
    new = params.reference_at("import.retail.single_limit", date(2019, 6, 1))
    assert "CGS-2016-18" in old.source and "财关税〔2016〕18号" in old.source
    assert "CGS-2018-49" in new.source and "财关税〔2018〕49号" in new.source


def test_return_windows(params: ParameterSet) -> None:
    on = date(2021, 1, 1)
    assert params.int_at("import.retail.return.application_days", on) == 30
    assert params.int_at("import.retail.return.goods_back_days", on) == 45
    assert params.int_at("export.retail.return.reentry_years", on) == 1
    assert "A-2020-45" in params.reference_at("import.retail.return.goods_back_days", on).source
    assert "A-2020-44" in params.reference_at("export.retail.return.reentry_years", on).source
    assert params.strings_at("export.retail.return.trade_modes", on) == ("9610", "1210", "9810")


def test_return_tax_exemption_follows_the_export_date(params: ParameterSet) -> None:
    name = "export.retail.return.tax_exemption_months"
    assert params.int_at(name, date(2023, 1, 30)) == 6
    assert "MOF-2023-4" in params.reference_at(name, date(2023, 6, 1)).source
    assert "MOF-2026-16" in params.reference_at(name, date(2027, 12, 31)).source
    for outside in (date(2023, 1, 29), date(2028, 1, 1)):
        with pytest.raises(ParameterNotInForce):
            params.at(name, outside)
    modes = params.strings_at("export.retail.return.tax_exemption_trade_modes", date(2026, 5, 1))
    assert set(modes) == {"1210", "9610", "9710", "9810"}


def test_cross_district_returns_go_nationwide_in_2026(params: ParameterSet) -> None:
    name = "export.retail.return.cross_district.coverage"
    assert params.str_at(name, date(2025, 2, 12)) == "pilot"
    assert params.str_at(name, date(2026, 4, 1)) == "nationwide"
    with pytest.raises(ParameterNotInForce):
        params.at(name, date(2024, 12, 14))


def test_over_limit_rule_changes_in_2019(params: ParameterSet) -> None:
    name = "import.retail.over_single_limit_treatment"
    assert params.str_at(name, date(2018, 1, 1)) == "general_trade"
    assert params.str_at(name, date(2019, 1, 1)) == "full_tax_if_single_item"


def test_flag_parameter(params: ParameterSet) -> None:
    name = "import.retail.tax_payment.electronic_payment"
    assert params.bool_at(name, date(2023, 5, 31)) is False
    assert params.bool_at(name, date(2023, 6, 1)) is True


def test_datetime_is_reduced_to_its_date(params: ParameterSet) -> None:
    assert params.at("import.retail.single_limit", datetime(2019, 1, 1, 0, 0, 1)) == Decimal("5000")


def test_every_value_has_a_reference(params: ParameterSet) -> None:
    assert len(params) > 0
    for parameter in params:
        assert parameter.description and parameter.unit
        for period in params.history(parameter.name):
            ref = period.reference
            assert ref.source.strip(), parameter.name
            assert ref.clause.strip(), parameter.name
            assert ref.confidence in CONFIDENCE_LEVELS, parameter.name


def test_history_is_sorted_and_disjoint(params: ParameterSet) -> None:
    for parameter in params:
        history = params.history(parameter.name)
        for before, after in pairwise(history):
            assert before.end is not None and before.end < after.start


def test_typed_helpers_refuse_the_wrong_type(params: ParameterSet) -> None:
    with pytest.raises(TypeError):
        params.decimal_at("import.retail.over_single_limit_treatment", date(2020, 1, 1))
    with pytest.raises(TypeError):
        params.int_at("import.retail.vat_factor", date(2020, 1, 1))
    with pytest.raises(TypeError):
        params.strings_at("import.retail.single_limit", date(2020, 1, 1))


def test_unknown_parameter(params: ParameterSet) -> None:
    with pytest.raises(UnknownParameter, match=r"import\.retail\.single_limt"):
        params.at("import.retail.single_limt", date(2020, 1, 1))
    assert "import.retail.single_limit" in params


def test_default_parameters_are_cached() -> None:
    assert default_parameters() is default_parameters()


# ----------------------------------------------------------------------------------- validation on load

GOOD = """
parameters:
  - name: test.limit
    description: A test limit (测试限值).
    unit: CNY
    values:
      - from: 2020-01-01
        to: 2020-12-31
        value: 100
        reference: {source: "TEST-1", clause: "item 1"}
      - from: 2021-01-01
        value: 0.1
        reference: {source: "TEST-2", clause: "item 2", confidence: sure}
"""


def test_minimal_file_loads(tmp_path: Path) -> None:
    ps = ParameterSet.load(write(tmp_path, GOOD), include_packaged=False)
    assert ps.names() == ["test.limit"]
    assert ps.at("test.limit", date(2020, 12, 31)) == Decimal("100")
    assert ps.at("test.limit", date(2021, 1, 1)) == Decimal("0.1")
    assert ps.reference_at("test.limit", date(2021, 1, 1)).source == "TEST-2"


def test_overlapping_periods_are_rejected(tmp_path: Path) -> None:
    bad = GOOD.replace("to: 2020-12-31", "to: 2021-01-01")
    with pytest.raises(ParameterFileError, match="overlap"):
        ParameterSet.load(write(tmp_path, bad), include_packaged=False)


def test_open_period_followed_by_another_is_an_overlap(tmp_path: Path) -> None:
    bad = GOOD.replace("        to: 2020-12-31\n", "")
    with pytest.raises(ParameterFileError, match="overlap"):
        ParameterSet.load(write(tmp_path, bad), include_packaged=False)


def test_missing_reference_is_rejected(tmp_path: Path) -> None:
    bad = GOOD.replace('        reference: {source: "TEST-1", clause: "item 1"}\n', "")
    with pytest.raises(ParameterFileError, match="reference"):
        ParameterSet.load(write(tmp_path, bad), include_packaged=False)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('clause: "item 1"', 'clause: ""', "clause"),
        ("from: 2020-01-01", "form: 2020-01-01", "unexpected key"),
        ("to: 2020-12-31", "to: 2019-12-31", "ends"),
        ("name: test.limit", "name: TestLimit", "dotted"),
        ("value: 100", "value: {a: 1}", "value"),
        ("value: 100", "value: .inf", "exactly"),
        ("value: 100", "value: 0110", "leading zero"),
        ("confidence: sure", "confidence: certain", "confidence"),
    ],
)
def test_malformed_entries_are_rejected(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in GOOD
    with pytest.raises(ParameterFileError, match=match):
        ParameterSet.load(write(tmp_path, GOOD.replace(old, new, 1)), include_packaged=False)


def test_same_name_in_two_files_of_one_directory(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(ParameterFileError, match="also defined"):
        ParameterSet.load(tmp_path, include_packaged=False)


def test_missing_extra_directory(tmp_path: Path) -> None:
    with pytest.raises(ParameterFileError, match="does not exist"):
        ParameterSet.load(tmp_path / "nope")


def test_lists_and_strings_keep_their_type() -> None:
    ps = ParameterSet.from_yaml(
        """
parameters:
  - name: test.modes
    description: Modes.
    unit: codes
    values:
      - from: 2020-01-01
        value: ["0110", "9610"]
        reference: {source: S, clause: C}
"""
    )
    assert ps.strings_at("test.modes", date(2020, 1, 1)) == ("0110", "9610")


# ----------------------------------------------------------------------------------- operator overrides

OVERRIDE = """
parameters:
  - name: import.retail.single_limit
    description: Operator's what-if single limit (单次交易限值).
    unit: CNY
    values:
      - from: 2019-01-01
        value: 8000
        reference: {source: "WHAT-IF", clause: "scenario A"}
"""

EXTEND = """
parameters:
  - name: export.retail.return.tax_exemption_months
    merge: extend
    description: Renewed exemption window.
    unit: months
    values:
      - from: 2028-01-01
        to: 2029-12-31
        value: 6
        reference: {source: "FUTURE-RENEWAL", clause: "renewal"}
"""


def test_operator_replaces_a_parameter(tmp_path: Path) -> None:
    ps = ParameterSet.load(write(tmp_path, OVERRIDE))
    assert ps.at("import.retail.single_limit", date(2020, 1, 1)) == Decimal("8000")
    with pytest.raises(ParameterNotInForce):  # replace swaps the whole history
        ps.at("import.retail.single_limit", date(2018, 1, 1))
    assert ps.at("import.retail.annual_limit", date(2020, 1, 1)) == Decimal("26000")


def test_operator_extends_a_parameter(tmp_path: Path) -> None:
    ps = ParameterSet.load(write(tmp_path, EXTEND))
    name = "export.retail.return.tax_exemption_months"
    assert ps.int_at(name, date(2028, 6, 1)) == 6
    assert ps.reference_at(name, date(2028, 6, 1)).source == "FUTURE-RENEWAL"
    assert "MOF-2026-16" in ps.reference_at(name, date(2026, 6, 1)).source


def test_extension_must_not_overlap(tmp_path: Path) -> None:
    with pytest.raises(ParameterFileError, match="overlap"):
        ParameterSet.load(write(tmp_path, EXTEND.replace("2028-01-01", "2027-06-01")))


def test_extension_needs_something_to_extend(tmp_path: Path) -> None:
    with pytest.raises(ParameterFileError, match="extend"):
        ParameterSet.load(write(tmp_path, EXTEND), include_packaged=False)


# ----------------------------------------------------------------------------------- properties

_periods = st.lists(
    st.tuples(st.integers(0, 400), st.integers(1, 800), st.integers(-(10**6), 10**6)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    first=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    periods=_periods,
    open_ended=st.booleans(),
    query=st.dates(min_value=date(1999, 1, 1), max_value=date(2040, 1, 1)),
)
def test_as_of_returns_the_value_whose_period_contains_the_date(
    first: date, periods: list[tuple[int, int, int]], open_ended: bool, query: date
) -> None:
    spans: list[tuple[date, date | None, int]] = []
    cursor = first
    for i, (gap, length, value) in enumerate(periods):
        start = cursor + timedelta(days=gap)
        last = i == len(periods) - 1
        end = None if (last and open_ended) else start + timedelta(days=length - 1)
        spans.append((start, end, value))
        cursor = start + timedelta(days=length)
    lines = ["parameters:", "  - name: prop.value", "    description: d", "    unit: u", "    values:"]
    for start, end, value in spans:
        lines.append(f"      - from: {start.isoformat()}")
        if end is not None:
            lines.append(f"        to: {end.isoformat()}")
        lines.append(f"        value: {value}")
        lines.append(f"        reference: {{source: S{value}, clause: C}}")
    ps = ParameterSet.from_yaml("\n".join(lines) + "\n")

    covering = [v for s, e, v in spans if s <= query and (e is None or query <= e)]
    assert len(covering) <= 1
    if covering:
        assert ps.at("prop.value", query) == Decimal(covering[0])
    else:
        with pytest.raises(ParameterNotInForce):
            ps.at("prop.value", query)


@settings(max_examples=100, deadline=None)
@given(query=st.dates(min_value=date(2010, 1, 1), max_value=date(2035, 12, 31)))
def test_packaged_lookup_agrees_with_history(query: date) -> None:
    ps = default_parameters()
    for parameter in ps:
        covering = [p for p in ps.history(parameter.name) if p.covers(query)]
        if covering:
            assert ps.at(parameter.name, query) == covering[0].value
            assert ps.reference_at(parameter.name, query) == covering[0].reference
        else:
            with pytest.raises(ParameterNotInForce):
                ps.at(parameter.name, query)
