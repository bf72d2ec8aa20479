"""The monthly summary declaration of 9610 exports (清单核放、汇总申报) as a pure, vectorised rule.

Export parcels clear one list (清单, CEB603) at a time; by the 15th of the next month the consignor or its
agent summarises the lists cleared (结关, status 899) in the month into export customs declarations (报关单),
which are what the enterprise needs for foreign-exchange settlement and the export VAT refund
(A-2018-194 §10). This module decides *which lists go together* and *what each declaration line adds up
to*; building the CEB701 application and the CEB702/792 receipts is :mod:`cbec.messages.summary_docs`,
writing CSV/Excel is :mod:`cbec.reports.summary_export`. ``docs/summary.md`` explains the rules with examples.

Grouping (A-2018-194 §10, regime reference §6.2):

* one **declaration** per application (period, consignor, supplement number) and list-head key: consignor
  ``ebcCode`` (收发货人), transport mode ``trafMode`` (运输方式), producer/seller ``ownerCode`` (生产销售单位,
  only with ``summaryFlag`` 2), country of arrival head ``country`` (运抵国), exit customs ``portCode``
  (出境关别) — and ``tradeMode`` (贸易方式), our decision on an open point: a customs declaration carries one
  trade mode, so 9610 and 9710/9810 lists are never merged;
* one **declaration line** per declaration and list-line key: final destination country line ``country``
  (最终目的国), 10-digit HS code ``gcode``, currency ``currency`` — plus the enterprise item name ``itemName``
  when ``itemNameFlag`` is 1, and the legal units ``unit1``/``unit2`` (our decision: legal quantities in
  different units are never added up; with a consistent tariff the units follow from ``gcode`` and this key
  never splits anything);
* lists with ``statisticsFlag`` A (simplified declaration, 简化申报) are not summarised into declarations:
  they are reported in ``excluded`` (they go to summary statistics, 汇总统计).

Why numbering is by sorting keys and never by arrival order: the same lists must give the same declaration and
line numbers however the rows arrive (a replay, a re-run, another database), because the CEB792 mapping and
the enterprise's refund records refer to them. Why columns: the same code summarises ten lists in a test and
ten million in a month (``bench/summary.py``). Quantities and values stay exact ``Decimal(38, 5)`` sums of
the lists' N19,5 fields — nothing is rounded here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final, Literal

import polars as pl
from polars._typing import PolarsDataType

from cbec.params.calendar import WorkingCalendar, china_calendar
from cbec.params.dated import ParameterSet, Reference, default_parameters

__all__ = [
    "AMOUNT_DTYPE",
    "DECLARATION_HEAD_KEYS",
    "EXCLUDED_REASONS",
    "HEAD_COLUMNS",
    "LINE_COLUMNS",
    "ApplicationPlan",
    "DueDate",
    "Summary",
    "SummaryOptions",
    "due_date",
    "group",
    "next_period",
    "parse_period",
    "pending_periods",
    "period_bounds",
    "period_of",
    "plan_applications",
    "summarise_period",
]

#: Exact type of summed quantities and values: the lists carry N19,5; 38 digits leave room for any month.
AMOUNT_DTYPE: Final = pl.Decimal(38, 5)

#: List-head columns the rule needs (CEB603 names, plus the time the list was cleared, 结关, status 899).
HEAD_COLUMNS: Final = (
    "invtNo",
    "logisticsNo",
    "ebcCode",
    "ownerCode",
    "trafMode",
    "country",
    "portCode",
    "tradeMode",
    "statisticsFlag",
    "cleared_at",
)
#: List-line columns the rule needs; ``qty2``/``unit2``/``itemName``/``gname`` are optional.
LINE_COLUMNS: Final = (
    "invtNo",
    "gnum",
    "gcode",
    "country",
    "currency",
    "qty",
    "unit",
    "qty1",
    "unit1",
    "totalPrice",
)
_OPTIONAL_LINE: Final[dict[str, PolarsDataType]] = {
    "qty2": AMOUNT_DTYPE,
    "unit2": pl.String,
    "itemName": pl.String,
    "gname": pl.String,
}
_OPTIONAL_HEAD: Final[dict[str, PolarsDataType]] = {
    "ebcName": pl.String,
    "ownerName": pl.String,
    "grossWeight": AMOUNT_DTYPE,
    "netWeight": AMOUNT_DTYPE,
}

#: The head key of a declaration, in numbering order (``ownerCode`` only with summaryFlag 2).
DECLARATION_HEAD_KEYS: Final = ("trafMode", "ownerCode", "arrivalCountry", "portCode", "tradeMode")
_APPLICATION_KEYS: Final = ("period", "ebcCode", "supplement")
_AMOUNTS: Final = ("qty", "qty1", "qty2", "totalPrice")

EXCLUDED_REASONS: Final = {
    "simplified": "statisticsFlag A: 简化申报, summary statistics only, no declaration / 不汇总申报",
    "summarised": "already summarised in an earlier application / 已汇总申报",
    "no_lines": "list has no lines / 清单无表体",
}

_HASH_SEED: Final = 20181229  # any fixed seed: hashes only ever stand in for a check that follows them
_PERIOD_RE: Final = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CHINA_TZ: Final = "Asia/Shanghai"


# --------------------------------------------------------------------------------------------------- periods


def parse_period(period: str) -> tuple[int, int]:
    """``"2026-10"`` → (2026, 10); the CLI and the store name a summary month this way."""
    match = _PERIOD_RE.match(period)
    if not match:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return int(match[1]), int(match[2])


def period_bounds(period: str) -> tuple[date, date]:
    """First day of the period and first day of the next one (half-open, so no time-of-day edge is lost)."""
    year, month = parse_period(period)
    return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)


def next_period(period: str) -> str:
    start = period_bounds(period)[1]
    return f"{start.year:04d}-{start.month:02d}"


def period_of(cleared_at: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The summary month of a clearing time, in China time (the month customs counts in).

    Naive datetimes are taken as China Standard Time already (what the CEB messages carry); aware ones are
    converted, so a list cleared at 2026-10-31 17:00 UTC (= 11-01 01:00 in Beijing) belongs to November.
    """
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        cleared_at = cleared_at.dt.convert_time_zone(_CHINA_TZ)
    elif isinstance(dtype, pl.String):
        cleared_at = cleared_at.str.to_datetime()
    return cleared_at.dt.strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class DueDate:
    """When a month's summary declaration is due, and why that day.

    ``nominal`` is the parameter's day of the next month; ``due`` is the first working day on or after it;
    ``skipped`` names the days passed over (holiday name or rest day). ``calendar_published`` is False when
    the due date's year is not in the holiday table yet: the date then skips weekends only and may be wrong.
    """

    period: str
    due: date
    nominal: date
    skipped: tuple[str, ...]
    calendar_published: bool
    deadline_reference: Reference
    calendar_source: str | None


def due_date(
    period: str, params: ParameterSet | None = None, calendar: WorkingCalendar | None = None
) -> DueDate:
    """The summary-declaration deadline of ``period``: the 15th of the next month (``export.retail.summary.
    deadline_day``, A-2018-194 §10), moved to the next working day past rest days and public holidays."""
    params = params or default_parameters()
    calendar = calendar or china_calendar()
    first = period_bounds(period)[1]
    name = "export.retail.summary.deadline_day"
    day = params.int_at(name, first)
    nominal = first.replace(day=day)
    due = calendar.on_or_after(nominal)
    skipped = []
    d = nominal
    while d < due:
        holiday = calendar.holiday_on(d)
        skipped.append(f"{d.isoformat()} {holiday.name if holiday else '休息日 rest day'}")
        d += timedelta(days=1)
    source = calendar.source(nominal.year)
    return DueDate(
        period=period,
        due=due,
        nominal=nominal,
        skipped=tuple(skipped),
        calendar_published=calendar.published(nominal.year) and calendar.published(due.year),
        deadline_reference=params.reference_at(name, first),
        calendar_source=source.source if source else None,
    )


# --------------------------------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class SummaryOptions:
    """The CEB701 choices that change the grouping, and the declaration size limit.

    ``summary_flag`` "1": by consignor only (收发货人单一汇总) — producers/sellers are not a key, and a
    declaration's ``ownerCode`` is filled only when all its lists share one; "2": by consignor and
    producer/seller. ``item_name_flag``: keep the lists' own item names apart (按清单原始商品名汇总), so the
    declaration carries the name the enterprise uses for its refund; otherwise lines merge whatever their
    names. ``max_lines``: split a declaration whose lines exceed this (a customs declaration holds a limited
    number of items; the value is the parameter ``export.retail.summary.max_lines_per_declaration``); None
    keeps every declaration whole.
    """

    summary_flag: Literal["1", "2"] = "1"
    item_name_flag: bool = False
    max_lines: int | None = None

    def __post_init__(self) -> None:
        if self.summary_flag not in ("1", "2"):
            raise ValueError(f"summaryFlag must be '1' or '2', got {self.summary_flag!r}")
        if self.max_lines is not None and not 1 <= self.max_lines <= 99999:
            raise ValueError(f"max_lines must be within 1..99999 (gseqno is N5), got {self.max_lines}")

    @property
    def head_keys(self) -> tuple[str, ...]:
        keys = DECLARATION_HEAD_KEYS
        return keys if self.summary_flag == "2" else tuple(k for k in keys if k != "ownerCode")

    @property
    def line_keys(self) -> tuple[str, ...]:
        keys = ("destinationCountry", "gcode", "currency", "unit1", "unit2")
        return (*keys, "itemName") if self.item_name_flag else keys


# --------------------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class ApplicationPlan:
    """Which lists go into which application: ``assigned`` (invtNo, period, ebcCode, supplement) and the
    lists left out with a reason (``excluded``: invtNo, ebcCode, reason)."""

    assigned: pl.DataFrame
    excluded: pl.DataFrame


@dataclass(frozen=True, slots=True)
class Summary:
    """The result of summarising: declarations, their lines, the list-line mapping (CEB792), exclusions.

    * ``declarations``: one row per declaration — period, ebcCode, supplement (0 = the month's first
      application, 1.. = supplementary 补充 applications), declNo (1.. within the application), the head keys,
      lists, lines (counts), weights when the heads carry them, cleared_from / cleared_to;
    * ``declaration_lines``: per declaration and gseqno — the line keys, gname, summed qty1/qty2 (legal
      units), qty (transaction unit, null when the lists used different units), totalPrice, lists, lines;
    * ``mapping``: every summarised list line (invtNo, gnum, gcode, logisticsNo) → (period, ebcCode,
      supplement, declNo, gseqno), sorted by declaration, gseqno, invtNo, gnum;
    * ``excluded``: lists not summarised, with the reason code (see ``EXCLUDED_REASONS``).
    """

    declarations: pl.DataFrame
    declaration_lines: pl.DataFrame
    mapping: pl.DataFrame
    excluded: pl.DataFrame


# --------------------------------------------------------------------------------------------------- inputs


def _require(frame: pl.LazyFrame | pl.DataFrame, columns: Sequence[str], what: str) -> None:
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [c for c in columns if c not in names]
    if missing:
        raise ValueError(f"{what} lack column(s) {missing}")


def _schema(frame: pl.LazyFrame | pl.DataFrame) -> pl.Schema:
    return frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema


def _amount(name: str, dtype: pl.DataType) -> pl.Expr:
    """An exact amount column; floats are refused because a float has already lost the fen."""
    if dtype in (pl.Float32, pl.Float64):
        raise TypeError(f"{name} is {dtype}: pass Decimal (or text) amounts, floats are not exact")
    if isinstance(dtype, pl.String):
        return pl.col(name).str.to_decimal(scale=5).cast(AMOUNT_DTYPE)
    return pl.col(name).cast(AMOUNT_DTYPE)


def _with_optional(frame: pl.LazyFrame, optional: dict[str, PolarsDataType]) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    return frame.with_columns(
        pl.lit(None, dtype).alias(name) for name, dtype in optional.items() if name not in names
    )


def _check_unique(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    """Refuse repeated keys (a list summarised twice would double its quantities).

    Distinct 64-bit hashes prove distinct keys, which is cheap; only when hashes repeat (a real repeat, or a
    hash collision) are the keys themselves compared.
    """
    if frame.height < 2:
        return
    hashes = frame.select(pl.struct(columns).hash(20261015).alias("_h"))["_h"]
    if hashes.n_unique() == frame.height:
        return
    repeated = frame.filter(pl.struct(columns).is_duplicated()).select(columns).unique().sort(columns)
    if repeated.height:
        raise ValueError(f"{what} repeat {columns}: {repeated.head(5).rows()}")


def _empty_excluded() -> pl.DataFrame:
    return pl.DataFrame(schema={"invtNo": pl.String, "ebcCode": pl.String, "reason": pl.String})


# --------------------------------------------------------------------------------------------------- planning


def _china_time(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Clearing times as naive China time, whatever the input: naive (taken as China time), aware, or text."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return expr.dt.convert_time_zone(_CHINA_TZ).dt.replace_time_zone(None)
    if isinstance(dtype, pl.String):
        return expr.str.to_datetime()
    return expr


def _heads(heads: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Heads as a lazy frame with ``cleared_at``; ``clearedAt`` (what ``store.export_lists.cleared_lists``
    returns, aware UTC) is accepted under that name, so the export store's output goes in as it is."""
    lazy = heads.lazy()
    names = lazy.collect_schema().names()
    if "cleared_at" not in names and "clearedAt" in names:
        lazy = lazy.rename({"clearedAt": "cleared_at"})
    return lazy


def _in_period(dtype: pl.DataType, period: str) -> pl.Expr:
    """Cleared within the month — compared with the month's bounds (cheaper than formatting every time)."""
    start, end = period_bounds(period)
    cleared = _china_time(pl.col("cleared_at"), dtype)
    return (cleared >= datetime.combine(start, time())) & (cleared < datetime.combine(end, time()))


def _plan(
    heads: pl.DataFrame | pl.LazyFrame, period: str, already: pl.DataFrame | None
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The period's lists to summarise (every head column, plus period and supplement), and those left out."""
    parse_period(period)
    lazy = _heads(heads)
    _require(lazy, ("invtNo", "ebcCode", "statisticsFlag", "cleared_at"), "list heads")
    in_period = lazy.filter(_in_period(_schema(lazy)["cleared_at"], period))
    simplified = pl.col("statisticsFlag") == "A"
    if already is None or already.height == 0:
        excluded = in_period.filter(simplified).select(
            "invtNo", "ebcCode", pl.lit("simplified").alias("reason")
        )
        todo = in_period.filter(~simplified).with_columns(
            pl.lit(period).alias("period"), pl.lit(0, pl.Int32).alias("supplement")
        )
        return todo, excluded
    done = already.lazy().select("invtNo", "period", "ebcCode", pl.col("supplement").cast(pl.Int32))
    seen = done.select("invtNo").unique().with_columns(pl.lit(True).alias("_done"))
    marked = in_period.join(seen, on="invtNo", how="left")
    excluded = marked.filter(pl.col("_done").is_not_null() | simplified).select(
        "invtNo",
        "ebcCode",
        pl.when(pl.col("_done").is_not_null())
        .then(pl.lit("summarised"))
        .otherwise(pl.lit("simplified"))
        .alias("reason"),
    )
    previous = (
        done.filter(pl.col("period") == period)
        .group_by("ebcCode")
        .agg((pl.col("supplement").max() + 1).alias("supplement"))
    )
    todo = (
        marked.filter(pl.col("_done").is_null() & ~simplified)
        .drop("_done")
        .join(previous, on="ebcCode", how="left")
        .with_columns(pl.lit(period).alias("period"), pl.col("supplement").fill_null(0).cast(pl.Int32))
    )
    return todo, excluded


def plan_applications(
    heads: pl.DataFrame | pl.LazyFrame,
    period: str,
    already: pl.DataFrame | None = None,
) -> ApplicationPlan:
    """Assign the lists cleared in ``period`` to an application, never a list that was summarised before.

    ``already`` holds what earlier applications summarised: invtNo, period, ebcCode, supplement (the
    ``mapping``/``assigned`` of earlier runs, as the store recorded them). A consignor's first application for
    the month is supplement 0; lists of the month that show up cleared afterwards (a late departure message,
    a late 899) go into supplement max+1 — a supplementary application (补充申报) — and a list already in
    ``already`` goes nowhere, whatever period it was summarised under. The answer depends only on the inputs:
    summarising a month again with the same ``already`` gives the same applications.
    """
    todo, excluded = _plan(heads, period, already)
    got, out = pl.collect_all([todo.select("invtNo", "period", "ebcCode", "supplement"), excluded])
    return ApplicationPlan(got.sort("invtNo"), out.sort("invtNo"))


def pending_periods(heads: pl.DataFrame | pl.LazyFrame, already: pl.DataFrame | None = None) -> list[str]:
    """Months that still have cleared B lists nobody summarised — where a supplementary application is due."""
    lazy = _heads(heads)
    _require(lazy, ("invtNo", "statisticsFlag", "cleared_at"), "list heads")
    lazy = lazy.filter(pl.col("statisticsFlag") != "A")
    if already is not None:
        lazy = lazy.join(already.lazy().select("invtNo"), on="invtNo", how="anti")
    dtype = _schema(lazy)["cleared_at"]
    months = lazy.select(period_of(pl.col("cleared_at"), dtype).alias("p")).unique().collect()
    return sorted(p for p in months["p"].to_list() if p is not None)


# --------------------------------------------------------------------------------------------------- keys


def _ordered_codes(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """One dense UInt64 key per row whose numeric order is the order of the columns' values (nulls last).

    Why: grouping and sorting millions of rows on several text columns is what made summarising slow; each
    column is coded once by its sorted distinct values (a small table), the codes are combined arithmetically
    (or, when the product of cardinalities would overflow, by numbering the distinct code tuples), and all
    later work groups and sorts one integer. The text columns are cast in one ``select``, which Polars runs
    column by column in parallel.
    """
    texts = [c for c in columns if not frame.schema[c].is_integer()]
    cats = frame.select(pl.col(c).cast(pl.Categorical(pl.Categories.random())) for c in texts)
    codes: list[pl.Expr] = []
    cards: list[int] = []
    for c in columns:
        col = frame.get_column(c)
        if c not in texts:
            # integers (supplement numbers, group ids) are their own order: offset from the smallest
            low, high = col.min(), col.max()
            lo = int(low) if isinstance(low, int) else 0
            n = (int(high) - lo + 1) if isinstance(high, int) else 0
            code = (pl.col(c).cast(pl.Int64) - lo).cast(pl.UInt64)
        else:
            table, n = _rank_table(cats.get_column(c))
            physical = pl.col(c).to_physical()
            code = pl.lit(table).gather(physical) if n else physical.cast(pl.UInt64)  # all null
        codes.append(code.fill_null(n).alias(f"_c{len(codes)}"))
        cards.append(n + 1)
    source = pl.concat([frame.select(c for c in columns if c not in texts), cats], how="horizontal")
    if not codes:
        return pl.repeat(0, frame.height, dtype=pl.UInt64, eager=True).alias("_key")
    product = 1
    for n in cards:
        product *= n
    if product < 2**63:
        acc = codes[0]
        for code, n in zip(codes[1:], cards[1:], strict=True):
            acc = acc * n + code
        return source.select(acc.alias("_key")).to_series()
    tuples = source.select(codes)
    names = tuples.columns
    dense = tuples.unique().sort(names).with_row_index("_key")
    return tuples.join(dense, on=names, how="left", maintain_order="left")["_key"].cast(pl.UInt64)


def _rank_table(cat: pl.Series) -> tuple[pl.Series, int]:
    """For a categorical column: the rank of each physical code among the distinct values present, and how
    many there are. Only the distinct values are sorted; the rows look their rank up by physical code."""
    present = cat.unique().drop_nulls()
    n = present.len()
    if not n:
        return pl.Series([], dtype=pl.UInt64), 0
    ranked = present.to_physical().gather(present.cast(pl.String).arg_sort())
    size = int(ranked.max()) + 1  # type: ignore[arg-type]
    table = pl.repeat(0, size, dtype=pl.UInt64, eager=True).scatter(
        ranked, pl.int_range(n, dtype=pl.UInt64, eager=True)
    )
    return table, n


def _dense(codes: pl.Series) -> tuple[pl.Series, int]:
    """Codes renumbered 0.. by their rank among the distinct codes present, and how many there are.

    Why: order-preserving codes built as products of each column's cardinality leave gaps for combinations
    that never occur; ranking the distinct values closes them, so more fits in one 64-bit sort key. Small
    code ranges are ranked through a lookup table (one cache-resident gather per row), larger ones by binary
    search in the sorted distinct values.
    """
    present = codes.unique().sort()
    n = present.len()
    if not n:
        return codes, 0
    top = int(present[-1])
    if top < 1 << 22:
        table = pl.repeat(0, top + 1, dtype=pl.UInt64, eager=True).scatter(
            present, pl.int_range(n, dtype=pl.UInt64, eager=True)
        )
        return table.gather(codes), n
    return present.search_sorted(codes).cast(pl.UInt64), n


def _line_key_codes(lines: pl.DataFrame, keys: Sequence[str]) -> tuple[pl.Series, int]:
    """Dense ordered codes of the declaration-line keys (destination, HS code, currency, units …)."""
    return _dense(_ordered_codes(lines, keys))


def _pow2(bits: int) -> pl.Expr:
    return pl.lit(1 << bits, pl.UInt64)


# --------------------------------------------------------------------------------------------------- grouping


def group(
    heads: pl.DataFrame | pl.LazyFrame,
    lines: pl.DataFrame | pl.LazyFrame,
    assigned: pl.DataFrame | pl.LazyFrame,
    options: SummaryOptions | None = None,
) -> Summary:
    """Group the assigned lists into declarations and declaration lines, and map every list line.

    ``assigned`` (invtNo, period, ebcCode, supplement) says which lists to summarise and under which
    application — :func:`plan_applications` makes it; a caller that already knows may build it itself.
    Heads and lines of other lists are ignored. A list without lines is reported in ``excluded``.
    """
    lazy = _heads(heads)
    _require(lazy, HEAD_COLUMNS, "list heads")
    _require(assigned, ("invtNo", *_APPLICATION_KEYS), "assigned lists")
    todo = lazy.join(
        assigned.lazy().select("invtNo", "period", pl.col("supplement").cast(pl.Int32)),
        on="invtNo",
        how="inner",
    )
    return _group(todo, lines, options or SummaryOptions())


def _group(todo: pl.LazyFrame, lines: pl.DataFrame | pl.LazyFrame, opts: SummaryOptions) -> Summary:
    _require(todo, HEAD_COLUMNS, "list heads")
    _require(lines, LINE_COLUMNS, "list lines")
    app = list(_APPLICATION_KEYS)
    hkeys = list(opts.head_keys)
    lkeys = list(opts.line_keys)

    # Phase 1 — the lists to summarise, one row each (materialised: every later step reads them).
    hl = _with_optional(todo, _OPTIONAL_HEAD)
    hs = _schema(hl)
    h = (
        hl.select(
            "invtNo",
            "logisticsNo",
            *app,
            "trafMode",
            "ownerCode",
            pl.col("country").alias("arrivalCountry"),
            "portCode",
            "tradeMode",
            "ebcName",
            "ownerName",
            _amount("grossWeight", hs["grossWeight"]),
            _amount("netWeight", hs["netWeight"]),
            _china_time(pl.col("cleared_at"), hs["cleared_at"]).alias("cleared_at"),
        )
        .collect(engine="in-memory")
        .rechunk()
    )  # one chunk: gathers from many chunks cost several times more
    # distinct 64-bit hashes of invtNo prove the lists distinct (a repeat, or a collision, falls back to
    # comparing the numbers themselves); the lines find their list by an integer join on the hash, each
    # match then checked against the number itself
    h = h.with_columns(pl.col("invtNo").hash(_HASH_SEED).alias("_ih"))
    hashes_unique = h["_ih"].n_unique() == h.height
    if not hashes_unique:
        _check_unique(h, ["invtNo"], "list heads")

    # Phase 2 — head groups: one ordered integer per (application, head key). Every later order "by invtNo"
    # uses one integer per list, ``rank``: the row itself when the lists come sorted by number (as the bench's
    # and most stores' do; checking is one pass), else the rank from one sort of the numbers.
    h = h.with_columns(_ordered_codes(h, [*app, *hkeys]).alias("_hk")).with_row_index("_lid")
    invt = h["invtNo"]
    by_number: pl.Series | None = None  # list rows in invtNo order, when the rows are not already
    if invt.null_count() or not invt.is_sorted():
        by_number = invt.arg_sort()  # nulls first, as a sort_by("invtNo") puts them
        h = h.with_columns(
            pl.repeat(0, h.height, dtype=pl.UInt32, eager=True)
            .scatter(by_number, pl.int_range(h.height, dtype=pl.UInt32, eager=True))
            .alias("_rank")
        )
    rank_col = "_lid" if by_number is None else "_rank"
    aggs = [
        pl.col(rank_col).min().alias("_r0"),
        pl.len().alias("lists"),
        pl.col("grossWeight").sum(),
        pl.col("netWeight").sum(),
        pl.col("cleared_at").min().alias("cleared_from"),
        pl.col("cleared_at").max().alias("cleared_to"),
    ]
    if "ownerCode" not in hkeys:
        aggs += [pl.col("ownerCode").n_unique().alias("_owners"), pl.col("ownerCode").min().alias("_owner")]
    grouped = (
        h.lazy().group_by("_hk").agg(*aggs).sort("_hk").with_row_index("_hg").collect(engine="streaming")
    )
    # key values and names of a head group: those of its first list (lowest invtNo)
    first_list = grouped["_r0"] if by_number is None else by_number.gather(grouped["_r0"])
    head_groups = pl.concat(
        [
            grouped.drop("_r0"),
            h.select(*app, *hkeys, "ebcName", "ownerName").gather(first_list),
        ],
        how="horizontal",
    )
    if "ownerCode" in hkeys:
        head_groups = head_groups.with_columns(pl.lit(1, pl.UInt32).alias("_owners"))
    else:
        head_groups = head_groups.with_columns(pl.col("_owner").alias("ownerCode"))

    # Phase 3 — the lines of those lists, each with its list's row, rank and head group.
    lazy_lines = _with_optional(lines.lazy(), _OPTIONAL_LINE)
    ls = _schema(lazy_lines)
    item = pl.col("itemName").fill_null(pl.col("gname")) if opts.item_name_flag else pl.col("itemName")
    selected = lazy_lines.select(
        "invtNo",
        pl.col("gnum").cast(pl.Int32),
        "gcode",
        pl.col("country").alias("destinationCountry"),
        "currency",
        item,
        "gname",
        "unit",
        "unit1",
        "unit2",
        _amount("qty", ls["qty"]),
        _amount("qty1", ls["qty1"]),
        _amount("qty2", ls["qty2"]),
        _amount("totalPrice", ls["totalPrice"]),
    )
    # each list's head group: the rank of its key among the keys present (grouped is those keys, sorted)
    hg_of_list = _dense(h["_hk"])[0].cast(pl.UInt32).alias("_hg")
    if hashes_unique:
        # Only the hashes go through the join (carrying every line column through it costs several times
        # more), and only the pairs that match come out: each line's list row is scattered back into line
        # order (one pass, where sorting the join's answer back into line order took half as long again as
        # the join), and the list's rank and head group are read from the (small, sequential) list columns.
        # One chunk (a no-op for lines that come in one): columns added later must line up with it. The
        # in-memory engine keeps the columns as they are; the streaming one cuts them into morsels, and
        # putting those back together copied every line column (4 CPU seconds at 10 M lists).
        sel = selected.collect(engine="in-memory").rechunk()
        found = (
            sel.select(pl.col("invtNo").hash(_HASH_SEED).alias("_ih"))
            .with_row_index("_p")
            .lazy()
            .join(h.lazy().select("_ih", "_lid"), on="_ih", how="inner")
            .collect(engine="streaming")
        )
        line_lid = (
            pl.repeat(None, sel.height, dtype=pl.UInt32, eager=True)
            .scatter(found["_p"], found["_lid"])
            .alias("_lid")
        )
        del found
        line_rank = line_lid if by_number is None else pl.lit(h.get_column(rank_col)).gather(line_lid)
        ln = sel.with_columns(
            line_lid,
            line_rank.alias("_rank"),
            pl.lit(hg_of_list).gather(line_lid).alias("_hg"),
        )
        del sel, line_lid
    else:
        of_list = h.select("_ih", "_lid", pl.col(rank_col).alias("_rank"), hg_of_list).lazy()
        ln = (
            selected.with_columns(pl.col("invtNo").hash(_HASH_SEED).alias("_ih"))
            .join(of_list, on="_ih", how="inner")
            .drop("_ih")
            .collect(engine="streaming")
            .rechunk()
        )
    # a line of another list (or of none) whose number hashes like one of ours is not ours
    # Those lines stay in the frame, marked: filtering every column of millions of lines costs more than
    # leaving them out of the few narrow columns that are sorted and summed (their values may add codes,
    # which never changes the order of ours).
    ours = (ln["invtNo"] == invt.gather(ln["_lid"])).fill_null(False)
    all_ours = bool(ours.all())
    ln = ln.drop("invtNo").with_columns(ours.alias("_ours"))
    mine = ln.select("_rank", "gnum")
    mine = mine if all_ours else mine.filter(ours)
    gnum_max = mine["gnum"].max()
    if (isinstance(gnum_max, int) and gnum_max >= 131072) or mine["gnum"].null_count():
        raise ValueError("list lines need gnum (N5, 1..99999)")
    # (invtNo, gnum) unique ⇔ (list rank, gnum) unique, one integer per line. Lines that come sorted by
    # (invtNo, gnum) — as the store gives them — prove it in one pass: their integers strictly ascend.
    line_ids = mine.select(pl.col("_rank").cast(pl.UInt64) * 131072 + pl.col("gnum").cast(pl.UInt64))
    ascending = line_ids.select((pl.all() > pl.all().shift(1)).all()).item()
    if not ascending and line_ids.to_series().n_unique() != mine.height:
        _check_unique(
            ln.filter(ours).with_columns(pl.lit(invt).gather(pl.col("_lid")).alias("invtNo")),
            ["invtNo", "gnum"],
            "list lines",
        )
    del mine, line_ids
    # The declaration-line key: head group, then the line keys' combination *among those present*. The
    # combinations of the line keys' values number far fewer than the product of their counts (units follow
    # from the HS code, each consignor sells a few dozen codes): ranked densely, the key takes 32 bits at
    # 10 M lists where the product took 38 — and 38 plus the list rank and gnum (26 bits) no longer fitted
    # one 63-bit sort key, which sent the whole month to the two-column sort.
    line_key, n_line_keys = _line_key_codes(ln, lkeys)
    head_group = ln["_hg"].fill_null(grouped.height).cast(pl.UInt64)  # lines of no list: last, never ours
    ln = ln.with_columns(
        (head_group * n_line_keys + line_key).alias("_k"), _ordered_codes(ln, ["unit"]).alias("_uc")
    )
    del line_key, head_group

    # The amounts are summed as their scaled integers (a Decimal(38, 5) is an Int128 of 1/100000ths) and
    # read back as decimals on the small result: the same exact sums, a quarter cheaper than summing
    # decimals. When no sum can leave 64 bits — the largest magnitude times the number of lines stays below
    # 2**63, as for any real month (N19,5 values of a few thousand yuan) — they are summed as Int64, half as
    # wide again; otherwise as Int128.
    bounds = ln.select(
        pl.max_horizontal(pl.col(a).to_physical().max().abs(), pl.col(a).to_physical().min().abs()).alias(a)
        for a in _AMOUNTS
    ).row(0)
    narrow = all(b is None or b * max(ln.height, 1) < 2**63 for b in bounds)

    def _scaled(name: str) -> pl.Expr:
        physical = pl.col(name).to_physical()
        return physical.cast(pl.Int64) if narrow else physical

    # CEB792 order (declaration line, invtNo, gnum) as one 64-bit key per line when the numbers fit: the
    # declaration line, the list's rank, gnum and the unit's code are read back from the sorted keys (the
    # unit code sits below the unique line part, so it never changes the order), and the permutation that
    # sorts them brings the amounts into the same order, where each declaration line is one contiguous run:
    # its sums, counts and first line (lowest invtNo, gnum) come from one pass over the runs. (A hash
    # aggregation over the unsorted lines did the same in 13 of the 57 CPU seconds at 10 M lists: two
    # million groups do not stay in any cache.)
    g_bits = (gnum_max if isinstance(gnum_max, int) and gnum_max > 0 else 1).bit_length()
    r_bits = ((h.height + 1) << g_bits).bit_length()
    k_max, u_max = ln["_k"].max(), ln["_uc"].max()
    k_bits = k_max.bit_length() if isinstance(k_max, int) else 0
    u_bits = u_max.bit_length() if isinstance(u_max, int) else 0
    within = pl.col("_rank").cast(pl.UInt64) * _pow2(g_bits) + pl.col("gnum").cast(pl.UInt64)
    per_line = [
        (pl.col("_uc").min() == pl.col("_uc").max()).alias("_one_unit"),
        pl.col("_new").sum().cast(pl.UInt32).alias("lists"),
        pl.len().alias("lines"),
    ]
    new_list = (pl.col("_k") != pl.col("_k").shift(1)) | (pl.col("_rank") != pl.col("_rank").shift(1))
    as_decimal = [pl.col(a).cast(pl.Int128).reinterpret(dtype=AMOUNT_DTYPE) for a in _AMOUNTS]
    if k_bits + r_bits + u_bits <= 63:
        key = ln.select(
            ((pl.col("_k") * _pow2(r_bits) + within) * _pow2(u_bits) + pl.col("_uc")).alias("_key")
        ).to_series()
        key = key if all_ours else key.filter(ours)
        order = key.arg_sort()  # the keys are unique: no ties, one answer
        rows = order if all_ours else ours.arg_true().gather(order)  # rows of ln, in CEB792 order
        w = pl.col("_key") // _pow2(u_bits) % _pow2(r_bits)
        ordered = pl.concat(
            [
                key.gather(order)
                .to_frame()
                .select(
                    (pl.col("_key") // _pow2(r_bits + u_bits)).alias("_k"),
                    (w // _pow2(g_bits)).alias("_rank"),
                    (w % _pow2(g_bits)).cast(pl.Int32).alias("gnum"),
                    (pl.col("_key") % _pow2(u_bits)).alias("_uc"),
                ),
                rows.alias("_row").to_frame(),
                # one column at a time: a frame's gather took twice as long as its columns' gathers
                *(ln.select(_scaled(a)).to_series().gather(rows).to_frame() for a in _AMOUNTS),
            ],
            how="horizontal",
        )
        del key, order, rows
        ordered = ordered.with_columns(pl.col("_k").set_sorted(), new_list.fill_null(True).alias("_new"))
        runs = (
            ordered.lazy()
            .group_by("_k", maintain_order=True)  # sorted keys: contiguous runs, already in order
            .agg(*per_line, pl.col("_row").first().alias("_first"), *(pl.col(a).sum() for a in _AMOUNTS))
            .with_columns(as_decimal)
            .collect()
        )
        ordered = ordered.drop("_row", *_AMOUNTS)
        counted = runs.select("_one_unit", "lists", "lines")
        summed = runs.select(ln["_hg"].gather(runs["_first"]), "_first", *_AMOUNTS)
        del runs
    else:
        ordered = (
            ln.filter(ours)
            .select("_k", within.alias("_w"), "_uc")
            .sort("_k", "_w")
            .select(
                "_k",
                (pl.col("_w") // _pow2(g_bits)).alias("_rank"),
                (pl.col("_w") % _pow2(g_bits)).cast(pl.Int32).alias("gnum"),
                "_uc",
            )
        )
        ordered = ordered.with_columns(pl.col("_k").set_sorted(), new_list.fill_null(True).alias("_new"))
        counted = ordered.lazy().group_by("_k", maintain_order=True).agg(*per_line).collect()
        # the sums, and the first line (lowest invtNo, gnum), from one hash aggregation of the unsorted lines
        row_bits = max(ln.height, 1).bit_length()
        if r_bits + row_bits <= 63:
            first_line = (within * _pow2(row_bits) + pl.col("_row")).min() % _pow2(row_bits)
        else:
            first_line = pl.col("_row").sort_by(within).first()
        summed = (
            ln.lazy()
            .with_row_index("_row")
            .filter(pl.col("_ours"))
            .group_by("_k")
            .agg(
                pl.col("_hg").first(),
                first_line.alias("_first"),
                *(_scaled(a).sum() for a in _AMOUNTS),
            )
            .sort("_k")
            .with_columns(as_decimal)
            .collect(engine="streaming")
        )
    firsts = ln.select(*lkeys, "gname", "unit").gather(summed["_first"])
    del ln  # the largest frame: the rest works on `ordered` and the small tables
    line_groups = pl.concat(
        [
            summed.select("_hg", "qty", "qty1", "qty2", "totalPrice"),
            counted.select("_one_unit", "lists", "lines"),
            firsts,
        ],
        how="horizontal",
    ).with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over("_hg").alias("_k0"))
    part = (pl.col("_k0") // opts.max_lines) if opts.max_lines else pl.lit(0, pl.Int32)
    within_part = (pl.col("_k0") % opts.max_lines) if opts.max_lines else pl.col("_k0")
    line_groups = line_groups.with_columns(
        part.cast(pl.Int32).alias("_part"), (within_part + 1).cast(pl.Int32).alias("gseqno")
    )

    # Phase 4 — declarations: head groups, split into parts of at most max_lines lines, numbered per
    # application in key order.
    parts = (
        line_groups.lazy()
        .group_by("_hg", "_part")
        .agg(pl.len().alias("lines"))
        .sort("_hg", "_part")
        .join(head_groups.lazy().select("_hg", *app), on="_hg", maintain_order="left")
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(app).alias("declNo"))
        .collect()
    )
    # line groups come in (head group, part) order, as the parts do: the n-th run of equal (head group,
    # part) is the n-th part (a gather, where a join on the two columns cost 1.5 CPU seconds at 10 M lists)
    part_of_line = line_groups.select(
        ((pl.col("_hg").cast(pl.UInt64) * 2**32) + pl.col("_part").cast(pl.UInt64)).rle_id()
    ).to_series()
    decl_lines = pl.concat([line_groups, parts.select(*app, "declNo").gather(part_of_line)], how="horizontal")
    # in CEB792 order, the n-th run of equal _k is decl_lines' n-th row
    at = ordered.select(pl.col("_k").rle_id())["_k"]
    lid = ordered["_rank"] if by_number is None else by_number.gather(ordered["_rank"])
    mapping = pl.concat(
        [
            h.select("invtNo", "logisticsNo").gather(lid),
            ordered.select("gnum"),
            # gcode is a line key: the same for all lines of a declaration line
            decl_lines.select("gcode", *app, "declNo", "gseqno", "_part", "_hg").gather(at),
            lid.cast(pl.UInt32).alias("_lid").to_frame(),
        ],
        how="horizontal",
    )

    heads_of = head_groups.drop("_hk")
    if opts.max_lines is None:
        declarations = parts.join(heads_of.drop(*app), on="_hg", maintain_order="left")
    else:
        # A split declaration counts the lists with a line in it; each list's weight goes to the first part
        # holding one of its lines, so the weights of all parts still add up to the lists' weights.
        seen = mapping.group_by("_hg", "_part").agg(
            pl.col("_lid").n_unique().alias("lists"),
        )
        first = (
            mapping.group_by("_lid")
            .agg(pl.col("_hg").first(), pl.col("_part").min())
            .join(h.select("_lid", "grossWeight", "netWeight"), on="_lid")
            .group_by("_hg", "_part")
            .agg(pl.col("grossWeight").sum(), pl.col("netWeight").sum())
        )
        declarations = (
            parts.join(seen, on=["_hg", "_part"], maintain_order="left")
            .join(first, on=["_hg", "_part"], how="left", maintain_order="left")
            .with_columns(pl.col("grossWeight", "netWeight").fill_null(pl.lit(0, AMOUNT_DTYPE)))
            .join(heads_of.drop(*app, "lists", "grossWeight", "netWeight"), on="_hg", maintain_order="left")
        )
    owner_single = pl.when(pl.col("_owners") == 1).then(pl.col("_owner"))
    declarations = declarations.select(
        *app,
        "declNo",
        *(k for k in DECLARATION_HEAD_KEYS if k != "ownerCode"),
        (pl.col("ownerCode") if "ownerCode" in hkeys else owner_single).alias("ownerCode"),
        "ebcName",
        pl.when(pl.col("_owners") == 1).then(pl.col("ownerName")).alias("ownerName"),
        "lists",
        "lines",
        "grossWeight",
        "netWeight",
        "cleared_from",
        "cleared_to",
    ).sort([*app, "declNo"])
    declaration_lines = decl_lines.select(
        *app,
        "declNo",
        "gseqno",
        "destinationCountry",
        "gcode",
        "currency",
        "itemName" if opts.item_name_flag else pl.lit(None, pl.String).alias("itemName"),
        "gname",
        pl.when(pl.col("_one_unit")).then(pl.col("unit")).alias("unit"),
        pl.when(pl.col("_one_unit")).then(pl.col("qty")).alias("qty"),
        "unit1",
        "qty1",
        "unit2",
        pl.when(pl.col("unit2").is_not_null()).then(pl.col("qty2")).alias("qty2"),
        "totalPrice",
        "lists",
        "lines",
    ).sort([*app, "declNo", "gseqno"])
    has_lines = pl.repeat(False, h.height, dtype=pl.Boolean, eager=True).scatter(lid, True)
    no_lines = (
        h.filter(~has_lines)
        .select("invtNo", pl.col("ebcCode"), pl.lit("no_lines").alias("reason"))
        .sort("invtNo")
    )
    mapping = mapping.select("invtNo", "gnum", "gcode", "logisticsNo", *app, "declNo", "gseqno")
    return Summary(declarations, declaration_lines, mapping, no_lines)


def summarise_period(
    heads: pl.DataFrame | pl.LazyFrame,
    lines: pl.DataFrame | pl.LazyFrame,
    period: str,
    *,
    already: pl.DataFrame | None = None,
    options: SummaryOptions | None = None,
) -> Summary:
    """Plan the period's applications (:func:`plan_applications`) and group them (:func:`group`).

    Lists left out by the plan (simplified, already summarised) are reported in ``excluded`` with the lists
    that have no lines.
    """
    todo, left_out = _plan(heads, period, already)
    result = _group(todo, lines, options or SummaryOptions())
    excluded = pl.concat([left_out.collect(), result.excluded]).sort("invtNo", "reason")
    return Summary(result.declarations, result.declaration_lines, result.mapping, excluded)
