"""The summary declaration's working files: CSV that reads back to the same exact values, Excel for people."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from openpyxl import load_workbook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
from _summary_testlib import D, head, heads_frame, line, lines_frame

import cbec.reports.summary_export as export
from cbec.rules.summary import Summary, summarise_period


def _summary() -> Summary:
    heads = [head("I1"), head("I2"), head("I3", statisticsFlag="A")]
    lines = [
        line("I1", 1, totalPrice=D("0.10001"), itemName="男装"),
        line("I1", 2, gcode="8517130000", unit2="035", qty2=D("0.25")),
        line("I2", 1),
        line("I3", 1),
    ]
    return summarise_period(heads_frame(heads), lines_frame(lines), "2026-10")


def test_csv_reads_back_exactly(tmp_path: Path) -> None:
    s = _summary()
    paths = export.write_summary_csv(s, tmp_path, prefix="2026-10")
    assert [p.name for p in paths] == [
        "2026-10-declarations.csv",
        "2026-10-declaration_lines.csv",
        "2026-10-mapping.csv",
        "2026-10-excluded.csv",
    ]
    assert paths[0].read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the Chinese names
    back = pl.read_csv(paths[1], schema=s.declaration_lines.schema)
    assert back.equals(s.declaration_lines)
    mapping = pl.read_csv(paths[2], schema=s.mapping.schema)
    assert mapping.equals(s.mapping)
    assert pl.read_csv(paths[3])["reason"].to_list() == ["simplified"]


def test_excel_has_a_sheet_per_table_with_bilingual_headers(tmp_path: Path) -> None:
    s = _summary()
    wb = load_workbook(export.write_summary_xlsx(s, tmp_path / "s.xlsx"))
    assert wb.sheetnames == ["报关单 Declarations", "表体 Lines", "清单对应 Mapping", "未汇总 Excluded"]
    ws = wb["表体 Lines"]
    header = [c.value for c in ws[1]]
    assert header[header.index("商品编码 gcode")] == "商品编码 gcode"
    assert ws.max_row == s.declaration_lines.height + 1
    total = header.index("总价 totalPrice")
    values = sorted(str(r[total].value) for r in ws.iter_rows(min_row=2))
    assert "10.60001" in values  # two lists' T-shirts to the US: 0.10001 + 10.5, exact in the file
    assert wb["清单对应 Mapping"].max_row == s.mapping.height + 1


def test_long_tables_continue_on_numbered_sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "SHEET_ROWS", 2)
    s = _summary()
    wb = load_workbook(export.write_summary_xlsx(s, tmp_path / "s.xlsx"))
    assert "清单对应 Mapping 2" in wb.sheetnames
    rows = wb["清单对应 Mapping"].max_row - 1 + wb["清单对应 Mapping 2"].max_row - 1
    assert rows == s.mapping.height == 3
