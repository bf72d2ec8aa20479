"""HS tariff lines (税则号列): rates, legal units and positive-list flags per 10-digit commodity code.

Customs decides a retail-import line's tax from its 10-digit code: the duty rate (0 inside the CBEC limits,
the general-trade rate for over-limit single items), import VAT (13 % or 9 %) and consumption tax (ad valorem,
specific or both, sometimes only above a unit price), and whether the code may enter as a CBEC retail import
at all (the positive list, 跨境电子商务零售进口商品清单). No public machine-readable Chinese tariff
exists, so the package ships a compiled subset (``data/hs/cbec-hs.csv``: the few hundred codes CBEC trade uses
most, each row with its source and a confidence) and loads the full tariff from a file the operator supplies,
in the same columns. Operator rows override compiled rows code by code (:func:`merge_tables`,
:func:`load_tariff`).

Rates are kept as :class:`~decimal.Decimal` and as Polars ``Decimal(9, 5)`` columns because they feed money
arithmetic: ``0.13`` read as a float is already wrong in the 17th digit, and the tax bill is carried as N19,5.

The module also reads the HS nomenclature in the layout of the public ``datasets/harmonized-system`` package
(:func:`load_hs_nomenclature`): it is what tells a well-formed 10-digit code (its first six digits are a real
HS 2022 subheading) from a typo. See ``docs/tariff.md`` for the file formats.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Final, TypeAlias

import polars as pl

__all__ = [
    "AMOUNT_DTYPE",
    "COMPILED_TABLE",
    "CONFIDENCE_LEVELS",
    "FRAME_SCHEMA",
    "NOMENCLATURE_SCHEMA",
    "OPERATOR_REQUIRED_COLUMNS",
    "RATE_DTYPE",
    "TARIFF_COLUMNS",
    "HsNomenclatureError",
    "HsRow",
    "HsTable",
    "TariffFileError",
    "TariffProblem",
    "UnknownHsCode",
    "load_cbec_hs",
    "load_hs_nomenclature",
    "load_tariff",
    "load_tariff_csv",
    "merge_tables",
    "parse_tariff_csv",
]

StrPath: TypeAlias = str | PathLike[str]

RATE_DTYPE: Final = pl.Decimal(9, 5)
"""Rates are ratios below 1 with at most five decimals (0.13, 0.065, 0.02500)."""
AMOUNT_DTYPE: Final = pl.Decimal(12, 5)
"""Specific consumption-tax amounts (250 CNY/t, 0.912 CNY/L) need integer digits as well."""

CONFIDENCE_LEVELS: Final = ("sure", "likely", "guess")
COMPILED_TABLE: Final = "cbec.params/data/hs/cbec-hs.csv"

TARIFF_COLUMNS: Final = (
    "hs10",
    "name_zh",
    "name_en",
    "category",
    "unit1",
    "unit2",
    "mfn_duty_rate",
    "provisional_duty_rate",
    "vat_rate",
    "ct_ad_valorem",
    "ct_specific",
    "ct_specific_unit",
    "ct_threshold_note",
    "positive_list",
    "positive_list_confidence",
    "source",
    "confidence",
    "note",
)
"""Every column a tariff CSV may carry, in the order the compiled file uses."""

OPERATOR_REQUIRED_COLUMNS: Final = frozenset({"hs10", "vat_rate", "ct_ad_valorem", "mfn_duty_rate", "unit1"})
"""The minimum an operator file must supply: without these no tax can be computed for a code."""

_RATE_COLUMNS: Final = frozenset({"mfn_duty_rate", "provisional_duty_rate", "vat_rate", "ct_ad_valorem"})
_MAX_PROBLEMS: Final = 50
_TRUE: Final = frozenset({"1", "true", "yes", "y", "是"})
_FALSE: Final = frozenset({"0", "false", "no", "n", "否"})


# ---------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class TariffProblem:
    """One bad cell or header: the operator fixes the file from this alone, so it names line, column, why."""

    line: int
    column: str | None
    value: str | None
    reason: str

    def describe(self, origin: str) -> str:
        where = f"{origin}: line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}"
        got = "" if self.value is None else f" (got {self.value!r})"
        return f"{where}: {self.reason}{got}"


class TariffFileError(ValueError):
    """A tariff file is unusable; raised at load so a wrong rate never reaches a tax bill.

    All problems found (up to 50) are collected, because an operator fixing a 9,000-line export wants the
    whole list at once, not one error per attempt.
    """

    def __init__(self, origin: str, problems: Sequence[TariffProblem]) -> None:
        self.origin = origin
        self.problems = tuple(problems)
        shown = "\n  ".join(p.describe(origin) for p in self.problems[:10])
        more = f"\n  … and {len(self.problems) - 10} more" if len(self.problems) > 10 else ""
        super().__init__(f"{len(self.problems)} problem(s) in tariff file:\n  {shown}{more}")


class UnknownHsCode(KeyError):
    """A code the table does not know; ``HsTable.get`` returns None instead when absence is expected."""

    def __init__(self, hs10: str, origin: str) -> None:
        super().__init__(hs10)
        self.hs10 = hs10
        self.origin = origin

    def __str__(self) -> str:
        return f"HS code {self.hs10!r} is not in tariff table {self.origin}"


class HsNomenclatureError(ValueError):
    """The nomenclature file does not have the documented shape; code checks against it would mean nothing."""


# ------------------------------------------------------------------------------------------------ rows


@dataclass(frozen=True, slots=True)
class HsRow:
    """One 10-digit tariff line.

    ``ct_ad_valorem`` (and ``ct_specific``) is the consumption tax that applies when the condition in
    ``ct_threshold_note`` holds, or always when there is no note: high-end cosmetics are 15 % only at or
    above 10 CNY/ml(g) or 15 CNY/piece, luxury watches 20 % only at or above 10,000 CNY per piece. The
    threshold stays text because each one has its own basis (per ml, per piece, per tonne); the tax rule
    decides it per line.
    ``positive_list`` is None when an operator file did not say.
    """

    hs10: str
    name_zh: str
    name_en: str
    category: str
    unit1: str
    unit2: str | None
    mfn_duty_rate: Decimal
    provisional_duty_rate: Decimal | None
    vat_rate: Decimal
    ct_ad_valorem: Decimal
    ct_specific: Decimal | None
    ct_specific_unit: str | None
    ct_threshold_note: str | None
    positive_list: bool | None
    positive_list_confidence: str | None
    source: str
    confidence: str
    note: str | None

    @property
    def hs6(self) -> str:
        """The HS 2022 subheading: the internationally comparable part of the code."""
        return self.hs10[:6]

    @property
    def hs8(self) -> str:
        """The Chinese tariff line (税则号列); the positive list and the tariff schedule are keyed by it."""
        return self.hs10[:8]

    @property
    def applicable_duty_rate(self) -> Decimal:
        """The general-trade rate on MFN origins: a provisional rate (暂定税率) beats the MFN rate."""
        return self.provisional_duty_rate if self.provisional_duty_rate is not None else self.mfn_duty_rate


_ROW_FIELDS: Final = tuple(f.name for f in fields(HsRow))
assert _ROW_FIELDS == TARIFF_COLUMNS


# ----------------------------------------------------------------------------------------------- table


FRAME_SCHEMA: Final[Mapping[str, pl.DataType]] = MappingProxyType(
    {
        "hs10": pl.String(),
        "hs8": pl.String(),
        "hs6": pl.String(),
        "name_zh": pl.String(),
        "name_en": pl.String(),
        "category": pl.String(),
        "unit1": pl.String(),
        "unit2": pl.String(),
        "mfn_duty_rate": RATE_DTYPE,
        "provisional_duty_rate": RATE_DTYPE,
        "applicable_duty_rate": RATE_DTYPE,
        "vat_rate": RATE_DTYPE,
        "ct_ad_valorem": RATE_DTYPE,
        "ct_specific": AMOUNT_DTYPE,
        "ct_specific_unit": pl.String(),
        "ct_threshold_note": pl.String(),
        "positive_list": pl.Boolean(),
        "positive_list_confidence": pl.String(),
        "source": pl.String(),
        "confidence": pl.String(),
        "note": pl.String(),
    }
)
"""Columns and dtypes of :meth:`HsTable.frame`, for rules that join order lines on ``hs10``."""


class HsTable:
    """An immutable set of tariff lines keyed by 10-digit code, with where it came from.

    ``columns`` records which columns the source file actually had, so that a merge can tell "the operator
    said nothing about the positive list" (inherit ours) from "the operator left the cell empty" (clear it).
    """

    __slots__ = ("_by_code", "_by_hs6", "_frame", "columns", "origin")

    def __init__(
        self, rows: Iterable[HsRow], *, origin: str, columns: Iterable[str] = TARIFF_COLUMNS
    ) -> None:
        by_code: dict[str, HsRow] = {}
        for row in rows:
            if row.hs10 in by_code:
                raise ValueError(f"{origin}: HS code {row.hs10} appears twice")
            by_code[row.hs10] = row
        self._by_code: Mapping[str, HsRow] = MappingProxyType(dict(sorted(by_code.items())))
        by_hs6: dict[str, list[HsRow]] = {}
        for row in self._by_code.values():
            by_hs6.setdefault(row.hs6, []).append(row)
        self._by_hs6: Mapping[str, tuple[HsRow, ...]] = MappingProxyType(
            {k: tuple(v) for k, v in by_hs6.items()}
        )
        self._frame: pl.DataFrame | None = None
        self.origin = origin
        self.columns = frozenset(columns)

    def get(self, hs10: str) -> HsRow | None:
        return self._by_code.get(hs10)

    def __getitem__(self, hs10: str) -> HsRow:
        try:
            return self._by_code[hs10]
        except KeyError:
            raise UnknownHsCode(hs10, self.origin) from None

    def __contains__(self, hs10: object) -> bool:
        return hs10 in self._by_code

    def __iter__(self) -> Iterator[HsRow]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __repr__(self) -> str:
        return f"HsTable({len(self)} rows from {self.origin})"

    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)

    def by_subheading(self, hs6: str) -> tuple[HsRow, ...]:
        """All known lines under a 6-digit subheading — what a classifier offers when only HS6 is known."""
        return self._by_hs6.get(hs6, ())

    def subheadings(self) -> frozenset[str]:
        return frozenset(self._by_hs6)

    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({row.category for row in self if row.category}))

    def frame(self) -> pl.DataFrame:
        """The table as a Polars frame (schema :data:`FRAME_SCHEMA`), built once; rules join on it."""
        if self._frame is None:
            data: dict[str, list[object]] = {name: [] for name in FRAME_SCHEMA}
            for row in self:
                for name in _ROW_FIELDS:
                    data[name].append(getattr(row, name))
                data["hs8"].append(row.hs8)
                data["hs6"].append(row.hs6)
                data["applicable_duty_rate"].append(row.applicable_duty_rate)
            self._frame = pl.DataFrame(data, schema=dict(FRAME_SCHEMA))
        return self._frame.clone()


# --------------------------------------------------------------------------------------------- parsing


class _Cells:
    """Converts the cells of one row, recording problems instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str], line: int, problems: list[TariffProblem]) -> None:
        self.raw = raw
        self.line = line
        self.problems = problems

    def fail(self, column: str | None, value: str | None, reason: str) -> None:
        self.problems.append(TariffProblem(self.line, column, value, reason))

    def text(self, column: str) -> str | None:
        value = self.raw.get(column)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def required_text(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            self.fail(column, "", "must not be empty")
            return ""
        return value

    def hs10(self) -> str:
        raw = self.raw.get("hs10", "")
        code = raw.strip().replace(".", "").replace(" ", "")
        if len(code) == 10 and code.isdigit():
            return code
        if code.isdigit() and len(code) == 8:
            reason = (
                "must be 10 digits; this is an 8-digit tariff line — append the 2-digit extension (often 00)"
            )
        elif code.isdigit() and len(code) == 9:
            reason = "must be 10 digits; a leading zero was probably lost — keep the column as text"
        else:
            reason = "must be a 10-digit HS code (digits only; dots and spaces are ignored)"
        self.fail("hs10", raw, reason)
        return code

    def unit(self, column: str, *, required: bool) -> str | None:
        value = self.text(column)
        if value is None:
            if required:
                self.fail(column, "", "must not be empty")
            return None
        if len(value) == 3 and value.isdigit():
            return value
        hint = " — leading zeros lost? write 035, not 35" if value.isdigit() and len(value) < 3 else ""
        self.fail(column, value, f"must be a 3-digit customs unit code (007 个, 011 件, 035 千克){hint}")
        return None

    def decimal(self, column: str, *, required: bool, is_rate: bool) -> Decimal | None:
        value = self.text(column)
        if value is None:
            if required:
                self.fail(column, "", "must not be empty")
            return None
        percent = is_rate and value.endswith("%")
        number = value[:-1].strip() if percent else value
        try:
            result = Decimal(number)
        except InvalidOperation:
            self.fail(column, value, "is not a number" + (" (write 0.13 or 13%)" if is_rate else ""))
            return None
        if not result.is_finite():
            self.fail(column, value, "must be a finite number")
            return None
        if percent:
            result = result / 100
        if result < 0:
            self.fail(column, value, "must not be negative")
            return None
        if is_rate and result > 1:
            self.fail(
                column, value, "must be a ratio between 0 and 1 — looks like a percentage; write 0.13 or 13%"
            )
            return None
        exponent = result.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -5:
            self.fail(column, value, "has more than 5 decimal places")
            return None
        if not is_rate and result >= Decimal(10) ** 7:
            self.fail(column, value, "is too large (at most 7 integer digits)")
            return None
        return result

    def flag(self, column: str) -> bool | None:
        value = self.text(column)
        if value is None:
            return None
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        self.fail(column, value, "must be 1 or 0 (also true/false, yes/no, 是/否)")
        return None

    def confidence(self, column: str, *, default: str | None) -> str | None:
        value = self.text(column)
        if value is None:
            return default
        if value in CONFIDENCE_LEVELS:
            return value
        self.fail(column, value, f"must be one of {', '.join(CONFIDENCE_LEVELS)}")
        return default


def _decode(data: bytes, origin: str) -> str:
    # Operators export tariffs from Excel on Chinese Windows, which writes GB18030/GBK unless told otherwise.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TariffFileError(origin, [TariffProblem(1, None, None, "file is neither UTF-8 nor GB18030 text")])


def parse_tariff_csv(text: str, *, origin: str, compiled: bool = False) -> HsTable:
    """Parse tariff CSV text. ``compiled`` demands every column and a source and confidence on every row.

    Operator files need only :data:`OPERATOR_REQUIRED_COLUMNS`; a missing ``confidence`` defaults to ``sure``
    because an operator file is by design the authoritative tariff, and a missing ``source`` names the file
    and line.
    """
    problems: list[TariffProblem] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise TariffFileError(
            origin, [TariffProblem(1, None, None, "file is empty; the first line must be the header")]
        )
    names = [cell.strip() for cell in header]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(TariffProblem(1, name, None, "column appears twice in the header"))
        elif name not in TARIFF_COLUMNS:
            problems.append(
                TariffProblem(1, name, None, f"unknown column; allowed: {', '.join(TARIFF_COLUMNS)}")
            )
        seen.add(name)
    required = frozenset(TARIFF_COLUMNS) if compiled else OPERATOR_REQUIRED_COLUMNS
    for name in sorted(required - seen):
        problems.append(TariffProblem(1, name, None, "required column is missing from the header"))
    if problems:
        raise TariffFileError(origin, problems)

    columns = frozenset(names)
    rows: list[HsRow] = []
    first_line: dict[str, int] = {}
    for cells_list in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells_list):
            continue
        if len(cells_list) != len(names):
            problems.append(
                TariffProblem(
                    line, None, None, f"row has {len(cells_list)} fields, the header has {len(names)}"
                )
            )
            continue
        cells = _Cells(dict(zip(names, cells_list, strict=True)), line, problems)
        before = len(problems)
        row = _row(cells, origin=origin, compiled=compiled)
        if len(problems) == before:
            if row.hs10 in first_line:
                cells.fail("hs10", row.hs10, f"duplicate code; first defined on line {first_line[row.hs10]}")
            else:
                first_line[row.hs10] = line
                rows.append(row)
        if len(problems) >= _MAX_PROBLEMS:
            break
    if problems:
        raise TariffFileError(origin, problems)
    return HsTable(rows, origin=origin, columns=columns)


def _row(cells: _Cells, *, origin: str, compiled: bool) -> HsRow:
    hs10 = cells.hs10()
    ct_specific = cells.decimal("ct_specific", required=False, is_rate=False)
    ct_specific_unit = cells.text("ct_specific_unit")
    if ct_specific is not None and ct_specific_unit is None:
        cells.fail("ct_specific_unit", "", "must be given when ct_specific is (e.g. CNY/L, CNY/t)")
    if ct_specific is None and ct_specific_unit is not None and cells.text("ct_specific") is None:
        cells.fail("ct_specific", "", "must be given when ct_specific_unit is")
    if compiled:
        source = cells.required_text("source")
        confidence = cells.confidence("confidence", default=None)
        if confidence is None and cells.text("confidence") is None:
            cells.fail("confidence", "", "must not be empty in the compiled table")
    else:
        source = cells.text("source") or f"operator tariff file {origin}, line {cells.line}"
        confidence = cells.confidence("confidence", default="sure")
    return HsRow(
        hs10=hs10,
        name_zh=cells.text("name_zh") or "",
        name_en=cells.text("name_en") or "",
        category=cells.text("category") or "",
        unit1=cells.unit("unit1", required=True) or "",
        unit2=cells.unit("unit2", required=False),
        mfn_duty_rate=cells.decimal("mfn_duty_rate", required=True, is_rate=True) or Decimal(0),
        provisional_duty_rate=cells.decimal("provisional_duty_rate", required=False, is_rate=True),
        vat_rate=cells.decimal("vat_rate", required=True, is_rate=True) or Decimal(0),
        ct_ad_valorem=cells.decimal("ct_ad_valorem", required=True, is_rate=True) or Decimal(0),
        ct_specific=ct_specific,
        ct_specific_unit=ct_specific_unit,
        ct_threshold_note=cells.text("ct_threshold_note"),
        positive_list=cells.flag("positive_list"),
        positive_list_confidence=cells.confidence("positive_list_confidence", default=None),
        source=source,
        confidence=confidence or "sure",
        note=cells.text("note"),
    )


# --------------------------------------------------------------------------------------------- loading


@lru_cache(maxsize=1)
def load_cbec_hs() -> HsTable:
    """The compiled table in the package, read through importlib so a wheel works like a checkout."""
    data = resources.files("cbec.params").joinpath("data", "hs", "cbec-hs.csv").read_bytes()
    return parse_tariff_csv(_decode(data, COMPILED_TABLE), origin=COMPILED_TABLE, compiled=True)


def load_tariff_csv(path: StrPath) -> HsTable:
    """An operator's tariff file (UTF-8 or GB18030 CSV, columns as in ``docs/tariff.md``). Not cached: the
    file is the operator's and may change between runs."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise TariffFileError(str(file), [TariffProblem(0, None, None, f"cannot read file: {exc}")]) from exc
    return parse_tariff_csv(_decode(data, str(file)), origin=str(file))


def merge_tables(base: HsTable, override: HsTable) -> HsTable:
    """``override`` wins code by code; columns the override file did not have are inherited from ``base``.

    So an operator tariff that carries only rates keeps our names, thresholds and positive-list flags for the
    codes we know, while an empty cell in a column it does have clears our value deliberately. ``source`` and
    ``confidence`` are never inherited: they vouch for the rates, and the rates are now the operator's.
    """
    inherited = frozenset(TARIFF_COLUMNS) - override.columns - {"hs10", "source", "confidence"}
    merged: dict[str, HsRow] = {row.hs10: row for row in base}
    for row in override:
        old = merged.get(row.hs10)
        if old is not None and inherited:
            row = replace(row, **{name: getattr(old, name) for name in inherited})
        merged[row.hs10] = row
    return HsTable(
        merged.values(), origin=f"{base.origin} + {override.origin}", columns=base.columns | override.columns
    )


def load_tariff(operator_file: StrPath | None = None) -> HsTable:
    """The table a decision uses: the compiled one with the operator's file (CLI ``--tariff``) on top."""
    compiled = load_cbec_hs()
    if operator_file is None:
        return compiled
    return merge_tables(compiled, load_tariff_csv(operator_file))


# ---------------------------------------------------------------------------------------- nomenclature


NOMENCLATURE_SCHEMA: Final[Mapping[str, pl.DataType]] = MappingProxyType(
    {
        "section": pl.String(),
        "hscode": pl.String(),
        "description": pl.String(),
        "parent": pl.String(),
        "level": pl.UInt8(),
    }
)
"""Columns of :func:`load_hs_nomenclature`; ``parent`` is null for chapters (the file says ``TOTAL``)."""

_NOMENCLATURE_FILE: Final = "harmonized-system.csv"


def load_hs_nomenclature(path: StrPath, *, include_placeholders: bool = False) -> pl.DataFrame:
    """Read an HS nomenclature CSV (``section,hscode,description,parent,level``) into a checked frame.

    ``path`` is the CSV or the folder holding ``harmonized-system.csv``. The grand-total row is always
    dropped; the Comtrade placeholder chapter 99 (section ``TOTAL``) is dropped unless
    ``include_placeholders``, because it is not WCO nomenclature and a code under it is not a real
    classification. Codes stay strings: ``010121`` loses its meaning as an integer.
    """
    file = Path(path)
    if file.is_dir():
        file = file / _NOMENCLATURE_FILE
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HsNomenclatureError(f"{file}: cannot read as UTF-8 text: {exc}") from exc
    try:
        raw = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise HsNomenclatureError(f"{file}: not a readable CSV: {exc}") from exc
    expected = list(NOMENCLATURE_SCHEMA)
    if raw.columns != expected:
        raise HsNomenclatureError(f"{file}: columns must be {expected}, got {raw.columns}")

    frame = raw.with_row_index("line", offset=2).with_columns(pl.col(c).str.strip_chars() for c in expected)
    frame = frame.filter(pl.col("hscode") != "TOTAL")
    if not include_placeholders:
        frame = frame.filter(pl.col("section") != "TOTAL")

    level = pl.col("level").cast(pl.UInt8, strict=False)
    checks: list[tuple[pl.Expr, str]] = [
        (level.is_null() | ~level.is_in([2, 4, 6]), "level must be 2, 4 or 6"),
        (~pl.col("hscode").str.contains(r"^[0-9]+$"), "hscode must be digits"),
        (pl.col("hscode").str.len_chars() != level, "hscode length must equal its level"),
        (
            (level > 2) & (pl.col("parent") != pl.col("hscode").str.slice(0, level.cast(pl.Int64) - 2)),
            "parent must be the code without its last two digits",
        ),
        ((level == 2) & (pl.col("parent") != "TOTAL"), "a chapter's parent must be TOTAL"),
        (pl.col("description").is_null() | (pl.col("description") == ""), "description must not be empty"),
    ]
    for condition, reason in checks:
        bad = frame.filter(condition.fill_null(True))
        if bad.height:
            sample = ", ".join(
                f"line {r['line']} ({r['hscode']!r})" for r in bad.head(5).iter_rows(named=True)
            )
            raise HsNomenclatureError(f"{file}: {reason}: {sample}")
    duplicates = frame.filter(pl.col("hscode").is_duplicated())
    if duplicates.height:
        raise HsNomenclatureError(
            f"{file}: duplicate hscode(s): {sorted(set(duplicates['hscode'].to_list()))[:5]}"
        )

    return frame.select(
        pl.col("section"),
        pl.col("hscode"),
        pl.col("description"),
        pl.when(pl.col("parent") == "TOTAL").then(None).otherwise(pl.col("parent")).alias("parent"),
        level.alias("level"),
    ).cast(pl.Schema(NOMENCLATURE_SCHEMA))
