"""Operator tariff files: what they may look like, how each mistake is reported, how they override ours."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cbec.params.hs import (
    OPERATOR_REQUIRED_COLUMNS,
    TARIFF_COLUMNS,
    HsTable,
    TariffFileError,
    TariffProblem,
    load_cbec_hs,
    load_tariff,
    load_tariff_csv,
    merge_tables,
    parse_tariff_csv,
)

MINIMAL_HEADER = "hs10,unit1,mfn_duty_rate,vat_rate,ct_ad_valorem"


def write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "tariff.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def problems_of(tmp_path: Path, text: str) -> tuple[TariffProblem, ...]:
    with pytest.raises(TariffFileError) as info:
        load_tariff_csv(write(tmp_path, text))
    return info.value.problems


def only_problem(tmp_path: Path, text: str) -> TariffProblem:
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    return problems[0]


# ----------------------------------------------------------------------------------------------- happy paths


def test_minimal_file(tmp_path: Path) -> None:
    table = load_tariff_csv(
        write(
            tmp_path,
            f"{MINIMAL_HEADER}\n"
            "3304990029,035,0.01,0.13,0.15\n"
            "33049900.39, 035 ,1%,13%,15%\n"  # dotted code, padding and percent notation are accepted
            "\n"  # blank lines are skipped
            "9999990000,007,0,0.09,0\n",
        )
    )
    assert isinstance(table, HsTable) and len(table) == 3
    assert table.columns == frozenset(MINIMAL_HEADER.split(","))
    by_volume = table["3304990039"]
    assert (by_volume.mfn_duty_rate, by_volume.vat_rate, by_volume.ct_ad_valorem) == (
        Decimal("0.01"),
        Decimal("0.13"),
        Decimal("0.15"),
    )
    assert by_volume.unit1 == "035" and by_volume.unit2 is None
    row = table["9999990000"]
    assert row.positive_list is None  # the operator said nothing about the list
    assert row.confidence == "sure"  # an operator tariff is the authoritative one
    assert row.source == f"operator tariff file {tmp_path / 'tariff.csv'}, line 5"


def test_all_columns_round_trip(tmp_path: Path) -> None:
    header = ",".join(TARIFF_COLUMNS)
    line = (
        "2208300000,威士忌酒,Whiskies,spirits,095,035,0.10,0.05,0.13,0.20,0.912,CNY/L,,是,sure,"
        "2026 税则,sure,shop note"
    )
    row = load_tariff_csv(write(tmp_path, f"{header}\n{line}\n"))["2208300000"]
    assert row.name_zh == "威士忌酒" and row.category == "spirits"
    assert row.provisional_duty_rate == Decimal("0.05") and row.applicable_duty_rate == Decimal("0.05")
    assert (row.ct_specific, row.ct_specific_unit, row.ct_threshold_note) == (Decimal("0.912"), "CNY/L", None)
    assert row.positive_list is True and row.source == "2026 税则" and row.note == "shop note"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_excel_encodings(tmp_path: Path, encoding: str) -> None:
    text = "hs10,name_zh,unit1,mfn_duty_rate,vat_rate,ct_ad_valorem,positive_list\n"
    text += "4901990000,书籍,035,0,9%,0,否\n"
    row = load_tariff_csv(write(tmp_path, text, encoding=encoding))["4901990000"]
    assert row.name_zh == "书籍" and row.vat_rate == Decimal("0.09") and row.positive_list is False


# --------------------------------------------------------------------------------------------- header errors


def test_missing_required_column(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "hs10,unit1,mfn_duty_rate,ct_ad_valorem\n3303000020,035,0.03,0.15\n")
    assert (problem.line, problem.column) == (1, "vat_rate")
    assert "required column" in problem.reason


def test_every_missing_required_column_is_named(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "hs10\n3303000020\n")
    assert {p.column for p in problems} == OPERATOR_REQUIRED_COLUMNS - {"hs10"}


def test_unknown_column(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, f"{MINIMAL_HEADER},ct_specifc\n3303000020,035,0.03,0.13,0.15,1\n")
    assert (problem.line, problem.column) == (1, "ct_specifc") and "unknown column" in problem.reason


def test_duplicate_column(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, f"{MINIMAL_HEADER},vat_rate\n3303000020,035,0.03,0.13,0.15,0.13\n")
    assert problem.column == "vat_rate" and "twice" in problem.reason


def test_empty_file(tmp_path: Path) -> None:
    assert "empty" in only_problem(tmp_path, "").reason


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TariffFileError, match="cannot read file"):
        load_tariff_csv(tmp_path / "missing.csv")


def test_not_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81\x30\xff")
    with pytest.raises(TariffFileError, match="neither UTF-8 nor GB18030"):
        load_tariff_csv(path)


# ----------------------------------------------------------------------------------------------- cell errors


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ("33030000,035,0.03,0.13,0.15", "hs10", "8-digit tariff line"),
        ("330300002,035,0.03,0.13,0.15", "hs10", "leading zero"),
        ("33O3000020,035,0.03,0.13,0.15", "hs10", "10-digit HS code"),
        (",035,0.03,0.13,0.15", "hs10", "10-digit HS code"),
        ("3303000020,35,0.03,0.13,0.15", "unit1", "leading zeros lost"),
        ("3303000020,kg,0.03,0.13,0.15", "unit1", "3-digit customs unit"),
        ("3303000020,,0.03,0.13,0.15", "unit1", "must not be empty"),
        ("3303000020,035,abc,0.13,0.15", "mfn_duty_rate", "not a number"),
        ("3303000020,035,0.03,13,0.15", "vat_rate", "looks like a percentage"),
        ("3303000020,035,0.03,130%,0.15", "vat_rate", "between 0 and 1"),
        ("3303000020,035,-0.03,0.13,0.15", "mfn_duty_rate", "negative"),
        ("3303000020,035,0.03,0.13,0.1234567", "ct_ad_valorem", "more than 5 decimal places"),
        ("3303000020,035,0.03,0.13,NaN", "ct_ad_valorem", "finite"),
        ("3303000020,035,0.03,,0.15", "vat_rate", "must not be empty"),
    ],
)
def test_bad_cell(tmp_path: Path, cells: str, column: str, reason: str) -> None:
    problem = only_problem(tmp_path, f"{MINIMAL_HEADER}\n{cells}\n")
    assert (problem.line, problem.column) == (2, column)
    assert reason in problem.reason


@pytest.mark.parametrize(
    ("header_extra", "cells_extra", "column", "reason"),
    [
        ("positive_list", "maybe", "positive_list", "1 or 0"),
        ("confidence", "certain", "confidence", "sure, likely, guess"),
        ("positive_list_confidence", "high", "positive_list_confidence", "sure, likely, guess"),
        ("ct_specific", "250", "ct_specific_unit", "must be given when ct_specific is"),
        ("ct_specific_unit", "CNY/t", "ct_specific", "must be given when ct_specific_unit is"),
        ("ct_specific", "123456789", "ct_specific", "too large"),
        ("unit2", "1", "unit2", "3-digit"),
    ],
)
def test_bad_optional_cell(
    tmp_path: Path, header_extra: str, cells_extra: str, column: str, reason: str
) -> None:
    text = f"{MINIMAL_HEADER},{header_extra}\n2203000000,095,0,0.13,0,{cells_extra}\n"
    problems = problems_of(tmp_path, text)
    assert any(p.column == column and reason in p.reason for p in problems), problems


def test_duplicate_code_names_the_first_line(tmp_path: Path) -> None:
    rows = ["3303000020,035,0.03,0.13,0.15", "3303000010,035,0.03,0.13,0.15", "3303.0000.20,035,0,0.13,0"]
    text = MINIMAL_HEADER + "\n" + "\n".join(rows) + "\n"
    problem = only_problem(tmp_path, text)
    assert (problem.line, problem.column) == (4, "hs10") and "first defined on line 2" in problem.reason


def test_wrong_field_count(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, f"{MINIMAL_HEADER}\n3303000020,035,0.03,0.13\n")
    assert problem.line == 2 and problem.column is None and "4 fields" in problem.reason


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = f"{MINIMAL_HEADER}\n3303000020,35,0.03,0.13,0.15\n3303000010,035,x,0.13,0.15\n12,035,0,0.13,0\n"
    path = write(tmp_path, text)
    with pytest.raises(TariffFileError) as info:
        load_tariff_csv(path)
    error = info.value
    assert [(p.line, p.column) for p in error.problems] == [(2, "unit1"), (3, "mfn_duty_rate"), (4, "hs10")]
    message = str(error)
    assert "3 problem(s)" in message
    assert f"{path}: line 3, column 'mfn_duty_rate': is not a number" in message
    assert error.origin == str(path)


def test_compiled_mode_demands_provenance() -> None:
    header = ",".join(TARIFF_COLUMNS)
    line = "3303000020,香水,Perfume,perfume,035,011,0.03,,0.13,0.15,,,,1,likely,,,"
    with pytest.raises(TariffFileError) as info:
        parse_tariff_csv(f"{header}\n{line}\n", origin="test", compiled=True)
    assert {p.column for p in info.value.problems} == {"source", "confidence"}
    with pytest.raises(TariffFileError) as info:
        parse_tariff_csv(f"{MINIMAL_HEADER}\n3303000020,035,0.03,0.13,0.15\n", origin="test", compiled=True)
    assert "source" in {p.column for p in info.value.problems}


# ----------------------------------------------------------------------------------------------------- merge


def test_operator_rows_override_and_inherit(tmp_path: Path) -> None:
    compiled = load_cbec_hs()
    ours = compiled["3303000020"]
    operator = load_tariff_csv(
        write(tmp_path, f"{MINIMAL_HEADER}\n3303000020,035,0.05,0.13,0.15\n8888880000,007,0.1,0.13,0\n")
    )
    merged = merge_tables(compiled, operator)
    assert len(merged) == len(compiled) + 1
    row = merged["3303000020"]
    assert row.mfn_duty_rate == Decimal("0.05")  # the operator's rate wins
    # columns the operator file did not have keep our values
    assert (row.name_zh, row.positive_list, row.ct_threshold_note, row.unit2) == (
        ours.name_zh,
        ours.positive_list,
        ours.ct_threshold_note,
        ours.unit2,
    )
    assert row.source.startswith("operator tariff file")
    assert merged["8888880000"].positive_list is None
    assert merged["2204210000"] == compiled["2204210000"]
    assert compiled["3303000020"].mfn_duty_rate == Decimal("0.03")  # the compiled table is untouched
    assert merged.origin == f"{compiled.origin} + {operator.origin}"


def test_an_empty_cell_in_a_supplied_column_clears_our_value(tmp_path: Path) -> None:
    operator = load_tariff_csv(
        write(
            tmp_path, f"{MINIMAL_HEADER},positive_list,ct_threshold_note\n3303000020,035,0.03,0.13,0.15,,\n"
        )
    )
    row = merge_tables(load_cbec_hs(), operator)["3303000020"]
    assert row.positive_list is None and row.ct_threshold_note is None
    assert row.name_zh == load_cbec_hs()["3303000020"].name_zh


def test_load_tariff_merges_the_operator_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"{MINIMAL_HEADER}\n2204210000,095,0.2,0.13,0.1\n")
    table = load_tariff(path)
    assert table["2204210000"].mfn_duty_rate == Decimal("0.2")
    assert table["2204210000"].ct_threshold_note is None and table["2204210000"].unit2 == "035"
    assert load_tariff(str(path))["3303000020"] == load_cbec_hs()["3303000020"]


def test_compiled_table_parses_as_an_operator_file() -> None:
    """An operator can start from our file: the compiled CSV is itself a valid operator tariff."""
    from importlib import resources

    text = resources.files("cbec.params").joinpath("data", "hs", "cbec-hs.csv").read_text(encoding="utf-8")
    assert parse_tariff_csv(text, origin="copy").codes() == load_cbec_hs().codes()
