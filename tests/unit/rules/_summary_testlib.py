"""Hand-built export lists (CEB603 heads and lines) for the summary-declaration tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl

D = Decimal

HEAD_SCHEMA: dict[str, Any] = {
    "invtNo": pl.String,
    "logisticsNo": pl.String,
    "ebcCode": pl.String,
    "ebcName": pl.String,
    "ownerCode": pl.String,
    "trafMode": pl.String,
    "country": pl.String,
    "portCode": pl.String,
    "tradeMode": pl.String,
    "statisticsFlag": pl.String,
    "cleared_at": pl.Datetime("us"),
    "grossWeight": pl.Decimal(19, 5),
    "netWeight": pl.Decimal(19, 5),
}
LINE_SCHEMA: dict[str, Any] = {
    "invtNo": pl.String,
    "gnum": pl.Int32,
    "gcode": pl.String,
    "gname": pl.String,
    "itemName": pl.String,
    "country": pl.String,
    "currency": pl.String,
    "qty": pl.Decimal(19, 5),
    "unit": pl.String,
    "qty1": pl.Decimal(19, 5),
    "unit1": pl.String,
    "qty2": pl.Decimal(19, 5),
    "unit2": pl.String,
    "totalPrice": pl.Decimal(19, 5),
}

OCT = datetime(2026, 10, 10, 12, 0)


def head(invt: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "invtNo": invt,
        "logisticsNo": "LP" + invt,
        "ebcCode": "E1",
        "ebcName": "深圳跨境一号",
        "ownerCode": "O1",
        "trafMode": "5",
        "country": "502",
        "portCode": "5141",
        "tradeMode": "9610",
        "statisticsFlag": "B",
        "cleared_at": OCT,
        "grossWeight": D("1.5"),
        "netWeight": D("1.2"),
    }
    row.update(over)
    return row


def line(invt: str, gnum: int = 1, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "invtNo": invt,
        "gnum": gnum,
        "gcode": "6109100021",
        "gname": "棉制针织T恤",
        "itemName": None,
        "country": "502",
        "currency": "502",
        "qty": D(1),
        "unit": "011",
        "qty1": D(1),
        "unit1": "011",
        "qty2": None,
        "unit2": None,
        "totalPrice": D("10.5"),
    }
    row.update(over)
    return row


def heads_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=HEAD_SCHEMA)


def lines_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=LINE_SCHEMA)
