"""The monthly summary declaration as files: CSV (every row, any size) and Excel (for people).

Why a module of its own outside ``rules``: writing files is I/O, and the rules stay pure; why outside
``messages``: these are not CEB messages but the working papers an agent files the declarations from and an
enterprise reconciles its refund with (declaration heads, declaration lines, and which list line went where).
Headers are bilingual in Excel (the people reading them work in Chinese); CSV keeps the plain field names so
another program can read it back, and starts with a BOM so spreadsheet programs read the Chinese values.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from cbec.rules.summary import Summary

__all__ = ["HEADERS", "SHEET_ROWS", "write_summary_csv", "write_summary_xlsx"]

#: Column → 中文 label, for the Excel header row.
HEADERS: dict[str, str] = {
    "period": "汇总月份",
    "ebcCode": "收发货人代码",
    "supplement": "补充申报序号(0=首次)",
    "declNo": "报关单序号",
    "trafMode": "运输方式",
    "arrivalCountry": "运抵国",
    "portCode": "出境关别",
    "tradeMode": "贸易方式",
    "ownerCode": "生产销售单位代码",
    "ebcName": "收发货人名称",
    "ownerName": "生产销售单位名称",
    "lists": "清单数",
    "lines": "项数",
    "grossWeight": "毛重(千克)",
    "netWeight": "净重(千克)",
    "cleared_from": "最早结关时间",
    "cleared_to": "最晚结关时间",
    "gseqno": "报关单商品序号",
    "destinationCountry": "最终目的国",
    "gcode": "商品编码",
    "currency": "币制",
    "itemName": "企业商品名称",
    "gname": "商品名称",
    "unit": "成交单位",
    "qty": "成交数量",
    "unit1": "法定第一单位",
    "qty1": "法定第一数量",
    "unit2": "法定第二单位",
    "qty2": "法定第二数量",
    "totalPrice": "总价",
    "invtNo": "清单编号",
    "gnum": "清单商品项号",
    "logisticsNo": "物流运单编号",
    "reason": "未汇总原因",
}

#: Rows per Excel sheet (the format's limit is 1,048,576); longer tables continue on a numbered sheet.
SHEET_ROWS = 1_000_000

_PARTS = (
    ("declarations", "报关单 Declarations"),
    ("declaration_lines", "表体 Lines"),
    ("mapping", "清单对应 Mapping"),
    ("excluded", "未汇总 Excluded"),
)


def write_summary_csv(summary: Summary, folder: Path, prefix: str = "summary") -> list[Path]:
    """One CSV per table (declarations, declaration_lines, mapping, excluded); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for attr, _ in _PARTS:
        frame: pl.DataFrame = getattr(summary, attr)
        path = folder / f"{prefix}-{attr}.csv"
        frame.write_csv(path, include_bom=True, datetime_format="%Y-%m-%d %H:%M:%S")
        written.append(path)
    return written


def _cell(value: Any) -> Any:
    """Excel takes Decimal exactly as a number (no float rounding) and naive datetimes; text stays text."""
    if value is None or isinstance(value, int | str | Decimal | datetime | date):
        return value
    return str(value)


def _chunks(frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
    if frame.height == 0:
        yield frame
    for k in range(0, frame.height, SHEET_ROWS):
        yield frame.slice(k, SHEET_ROWS)


def write_summary_xlsx(summary: Summary, path: Path) -> Path:
    """An Excel workbook with a sheet per table; a table over ``SHEET_ROWS`` rows continues on more sheets.

    Meant for one application or one consignor's month: a whole country's month (tens of millions of mapped
    lines) belongs in CSV — openpyxl writes some tens of thousands of rows a second.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for attr, title in _PARTS:
        frame: pl.DataFrame = getattr(summary, attr)
        for n, chunk in enumerate(_chunks(frame)):
            ws = wb.create_sheet(title if n == 0 else f"{title} {n + 1}")
            labels = []
            for column in chunk.columns:
                cell = WriteOnlyCell(ws, value=f"{HEADERS.get(column, column)} {column}")
                cell.font = bold
                labels.append(cell)
            ws.append(labels)
            for row in chunk.iter_rows():
                ws.append([_cell(v) for v in row])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
