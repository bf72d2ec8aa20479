"""The HS nomenclature loader, against the real shared file and against broken copies of its format.

The shared folder sits next to the checkout (``../shared``) or wherever ``CBEC_SHARED`` points; without it the
tests that need the real file are skipped, the format tests still run.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from cbec.params.hs import NOMENCLATURE_SCHEMA, HsNomenclatureError, load_cbec_hs, load_hs_nomenclature

HEADER = "section,hscode,description,parent,level\n"
GOOD = HEADER + (
    "I,01,Animals; live,TOTAL,2\n"
    "I,0101,Horses; live,01,4\n"
    'I,010121,"Horses; live, pure-bred",0101,6\n'
    "TOTAL,99,Not specified,TOTAL,2\n"
    "TOTAL,TOTAL,Total of all HS2022 commodities,TOTAL,5\n"
)


def shared_dir() -> Path:
    env = os.environ.get("CBEC_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared"


@pytest.fixture(scope="module")
def hs_dir() -> Path:
    path = shared_dir() / "data" / "harmonized-system"
    if not (path / "harmonized-system.csv").is_file():
        pytest.skip(f"shared HS nomenclature not found at {path} (set CBEC_SHARED to the shared folder)")
    return path


@pytest.fixture(scope="module")
def nomenclature(hs_dir: Path) -> pl.DataFrame:
    return load_hs_nomenclature(hs_dir)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hs.csv"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------- real file


def test_real_file_shape(nomenclature: pl.DataFrame) -> None:
    assert dict(nomenclature.schema) == dict(NOMENCLATURE_SCHEMA)
    counts = dict(nomenclature.group_by("level").len().iter_rows())
    assert counts == {2: 96, 4: 1228, 6: 5612}  # WCO chapters, headings, subheadings (README less chapter 99)
    assert "TOTAL" not in nomenclature["section"].to_list()
    assert nomenclature.filter(pl.col("parent").is_null())["level"].unique().to_list() == [2]


def test_real_file_hierarchy_is_closed(nomenclature: pl.DataFrame) -> None:
    codes = set(nomenclature["hscode"].to_list())
    children = nomenclature.filter(pl.col("level") > 2)
    assert set(children["parent"].to_list()) <= codes
    row = nomenclature.filter(pl.col("hscode") == "330499").row(0, named=True)
    assert (row["parent"], row["level"], row["section"]) == ("3304", 6, "VI")


def test_placeholders_on_request(hs_dir: Path) -> None:
    with_99 = load_hs_nomenclature(hs_dir / "harmonized-system.csv", include_placeholders=True)
    assert {"99", "9999", "999999"} <= set(with_99["hscode"].to_list())
    assert "TOTAL" not in with_99["hscode"].to_list()


def test_compiled_codes_are_real_subheadings(nomenclature: pl.DataFrame) -> None:
    subheadings = set(nomenclature.filter(pl.col("level") == 6)["hscode"].to_list())
    headings = set(nomenclature.filter(pl.col("level") == 4)["hscode"].to_list())
    table = load_cbec_hs()
    unknown = sorted(row.hs10 for row in table if row.hs6 not in subheadings)
    assert unknown == [], f"10-digit codes whose first six digits are not HS 2022 subheadings: {unknown}"
    assert {row.hs10[:4] for row in table} <= headings


# ---------------------------------------------------------------------------------------------------- format


def test_synthetic_file(tmp_path: Path) -> None:
    frame = load_hs_nomenclature(write(tmp_path, GOOD))
    assert frame["hscode"].to_list() == ["01", "0101", "010121"]
    assert frame["parent"].to_list() == [None, "01", "0101"]
    assert frame["level"].to_list() == [2, 4, 6]


def test_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_hs_nomenclature(path).height == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("section,code,description,parent,level\nI,01,x,TOTAL,2\n", "columns must be"),
        (HEADER + "I,01,x,TOTAL,3\n", "level must be 2, 4 or 6"),
        (HEADER + "I,01,x,TOTAL,two\n", "level must be 2, 4 or 6"),
        (HEADER + "I,0A,x,TOTAL,2\n", "hscode must be digits"),
        (HEADER + "I,011,x,TOTAL,2\n", "length must equal its level"),
        (HEADER + "I,01,x,TOTAL,2\nI,0101,y,02,4\n", "parent must be the code without its last two digits"),
        (HEADER + "I,01,x,00,2\n", "a chapter's parent must be TOTAL"),
        (HEADER + "I,01,,TOTAL,2\n", "description must not be empty"),
        (HEADER + "I,01,x,TOTAL,2\nI,01,y,TOTAL,2\n", "duplicate hscode"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HsNomenclatureError, match=message):
        load_hs_nomenclature(write(tmp_path, text))


def test_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(HsNomenclatureError, match=r"line 3 \('0102'\)"):
        load_hs_nomenclature(write(tmp_path, HEADER + "I,01,x,TOTAL,2\nI,0102,y,02,4\n"))


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(HsNomenclatureError, match="cannot read"):
        load_hs_nomenclature(tmp_path / "absent.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(HEADER.encode() + b"I,01,caf\xe9,TOTAL,2\n")
    with pytest.raises(HsNomenclatureError, match="cannot read as UTF-8"):
        load_hs_nomenclature(bad)
