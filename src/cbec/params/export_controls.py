"""Export facts per HS prefix: licence (出口许可证), export duty (出口关税), legal inspection (法检)
and the export VAT refund rate (出口退税率), each row dated and with its source.

The compiled retail-import tariff (``data/hs/cbec-hs.csv``) says nothing about exports, and no public
machine-readable export tariff was found, so the package ships a small compiled table
(``data/hs/export-controls.csv``) for the headings CBEC exports and the well-known controlled goods touch.
Rows are keyed by a 4- to 10-digit prefix of the HS code: the longest prefix in force decides.
An operator may load a fuller table in the same columns (:func:`load_export_controls`).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

import polars as pl

from cbec.params.hs import RATE_DTYPE

COLUMNS = (
    "prefix",
    "from",
    "to",
    "licence",
    "export_duty",
    "inspection",
    "refund_rate",
    "name_en",
    "source",
    "confidence",
    "note",
)
SCHEMA = {
    "prefix": pl.String(),
    "valid_from": pl.Date(),
    "valid_to": pl.Date(),
    "licence": pl.Boolean(),
    "export_duty": pl.Boolean(),
    "inspection": pl.Boolean(),
    "refund_rate": RATE_DTYPE,
    "name_en": pl.String(),
    "source": pl.String(),
    "confidence": pl.String(),
}


class ExportControlsError(ValueError):
    """A row of an export-controls file is unusable; the message names the line and the column."""


def _parse(text: str, origin: str) -> pl.DataFrame:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ExportControlsError(f"{origin}: missing column(s) {missing}")
    rows: dict[str, list[object]] = {name: [] for name in SCHEMA}
    for n, raw in enumerate(reader, start=2):
        prefix = (raw["prefix"] or "").strip()
        if not (prefix.isdigit() and 4 <= len(prefix) <= 10):
            raise ExportControlsError(f"{origin} line {n}: prefix must be 4 to 10 digits, got {prefix!r}")
        try:
            start = date.fromisoformat(raw["from"].strip())
            end = date.fromisoformat(raw["to"].strip()) if (raw["to"] or "").strip() else None
            rate = Decimal(raw["refund_rate"].strip())
        except ValueError as exc:
            raise ExportControlsError(f"{origin} line {n}: {exc}") from exc
        flags = []
        for column in ("licence", "export_duty", "inspection"):
            value = (raw[column] or "").strip()
            if value not in ("0", "1"):
                raise ExportControlsError(f"{origin} line {n}: {column} must be 0 or 1, got {value!r}")
            flags.append(value == "1")
        if not raw["source"] or not raw["source"].strip():
            raise ExportControlsError(f"{origin} line {n}: every row needs its source")
        for name, value in zip(
            SCHEMA,
            (prefix, start, end, *flags, rate, raw["name_en"], raw["source"], raw["confidence"]),
            strict=True,
        ):
            rows[name].append(value)
    return pl.DataFrame(rows, schema=SCHEMA)


@cache
def _packaged() -> pl.DataFrame:
    ref = resources.files("cbec.params") / "data" / "hs" / "export-controls.csv"
    return _parse(ref.read_text(encoding="utf-8"), "cbec.params/data/hs/export-controls.csv")


def load_export_controls(operator_file: str | Path | None = None) -> pl.DataFrame:
    """The packaged table, with an operator's rows replacing packaged rows of the same prefix and start."""
    table = _packaged()
    if operator_file is None:
        return table.clone()
    extra = _parse(Path(operator_file).read_text(encoding="utf-8-sig"), str(operator_file))
    return pl.concat([table.join(extra, on=["prefix", "valid_from"], how="anti"), extra])


def controls_on(table: pl.DataFrame, on: date) -> pl.DataFrame:
    """The rows in force on ``on`` (one per prefix: a later start replaces an earlier one)."""
    return (
        table.filter(
            (pl.col("valid_from") <= on) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= on))
        )
        .sort("valid_from")
        .unique("prefix", keep="last", maintain_order=True)
    )
