"""Bonded e-ledger (账册) rules: may a 1210 list be released against its ledger, and what does it write off?

Pure: frames in, frames out; no database.  Facts: regime reference §8.1 — on release of a 1210 list the zone
ledger is written down per line (二线出区核减); the book must never show negative stock, so a list that
would take an item below zero is not released but held (kept at 399, concluded) with the reason until stock
arrives.

Quantities are integers in 1/100000 of the legal unit (the N19,5 of the CEB quantity fields), so sums are
exact.  The ledger keeps the first legal quantity (``qty1``/``unit1``) and enforces it; the second legal
quantity (``qty2``) is written off alongside and shown, not enforced (not every item has one).

Lists compete for stock in arrival order (``seq``).  The fast path is vectorised: an item whose total demand
in the batch fits its balance cannot hold anybody, so every list touching only such items is released
without looking at the others.  Only lists touching a *short* item (total demand above balance) go through
an exact pass in arrival order, and that pass tracks the short items only — the others fit whatever happens.
A held list takes nothing, so a later, smaller list may still be released from what is left.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import polars as pl

#: Rule names of a hold (the engine's decision ``rule`` column).
SHORT = "L1"
"""账册料号余额不足: the ledger item's balance does not cover the list."""
UNKNOWN = "L2"
"""料号未在账册备案 (or filed with another legal unit): the ledger cannot cover the line at all."""

SCALE = 100_000
"""Quantities are kept in 1/SCALE of the unit (N19,5)."""

DEMAND_SCHEMA = pl.Schema(
    {
        "list_key": pl.String(),
        "seq": pl.Int64(),
        "gnum": pl.Int64(),
        "ems_no": pl.String(),
        "item_record_no": pl.String(),
        "unit1": pl.String(),
        "qty": pl.Int64(),
        "qty2": pl.Int64(),
    }
)
BALANCE_SCHEMA = pl.Schema(
    {
        "ems_no": pl.String(),
        "item_record_no": pl.String(),
        "unit1": pl.String(),
        "balance": pl.Int64(),
    }
)
HOLD_SCHEMA = pl.Schema(
    {
        **DEMAND_SCHEMA,
        "rule": pl.String(),
        "reason_zh": pl.String(),
        "reason_en": pl.String(),
    }
)


def scaled(expr: pl.Expr) -> pl.Expr:
    """A decimal quantity column as integer 1/100000 units (null as 0)."""
    return (expr.cast(pl.Decimal(38, 5)) * SCALE).round(0).cast(pl.Int64).fill_null(0)


def to_units(value: Decimal | int | str) -> int:
    """A decimal quantity as integer 1/100000 units (exact: more than 5 decimals is an error)."""
    d = Decimal(str(value))
    units = d * SCALE
    if units != units.to_integral_value():
        raise ValueError(f"quantity {value} has more than 5 decimal places")
    return int(units)


def show(units: int) -> str:
    """Integer 1/100000 units as a plain decimal (``12.5``, ``3``)."""
    d = (Decimal(units) / SCALE).normalize()
    text = format(d, "f")
    return text


def empty_demand() -> pl.DataFrame:
    return pl.DataFrame(schema=DEMAND_SCHEMA)


def _reason_short(ems: str, item: str, need: int, have: int) -> tuple[str, str]:
    return (
        f"账册{ems}料号{item}余额不足：需{show(need)}，余{show(have)}",
        f"ledger {ems}: balance of item {item} insufficient: need {show(need)}, have {show(have)}",
    )


def fit(demand: pl.DataFrame, balances: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split the lines of lists wanting release into write-offs and holds.

    ``demand``: :data:`DEMAND_SCHEMA`, the lines of every list that would otherwise be released now;
    ``balances``: :data:`BALANCE_SCHEMA`, the current balance of the items they name (items missing here are
    not on their ledger).  Returns ``(writeoffs, holds)``: the demand lines of the released lists, and the
    lines of the held lists with the list's rule and reason (:data:`HOLD_SCHEMA`).  A list is released or
    held whole.
    """
    if demand.height == 0:
        return empty_demand(), pl.DataFrame(schema=HOLD_SCHEMA)
    demand = demand.select(list(DEMAND_SCHEMA)).cast(dict(DEMAND_SCHEMA))  # type: ignore[arg-type]
    joined = demand.join(
        balances.select(
            "ems_no", "item_record_no", pl.col("unit1").alias("_unit"), pl.col("balance").cast(pl.Int64)
        ),
        on=["ems_no", "item_record_no"],
        how="left",
    )
    unknown_line = pl.col("balance").is_null() | (
        pl.col("unit1").is_not_null() & (pl.col("unit1") != pl.col("_unit"))
    )
    joined = joined.with_columns(unknown_line.alias("_unknown"))
    unknown_lists = (
        joined.filter(pl.col("_unknown"))
        .sort("seq", "gnum")
        .unique("list_key", keep="first", maintain_order=True)
        .select(
            "list_key",
            pl.lit(UNKNOWN).alias("rule"),
            pl.when(pl.col("balance").is_null())
            .then(pl.format("账册{}未备案料号{}（第{}项）", "ems_no", "item_record_no", "gnum"))
            .otherwise(
                pl.format(
                    "账册{}料号{}的法定计量单位为{}，清单第{}项为{}",
                    "ems_no",
                    "item_record_no",
                    "_unit",
                    "gnum",
                    "unit1",
                )
            )
            .alias("reason_zh"),
            pl.when(pl.col("balance").is_null())
            .then(pl.format("item {} (line {}) is not on ledger {}", "item_record_no", "gnum", "ems_no"))
            .otherwise(
                pl.format(
                    "item {} of ledger {} is kept in unit {}, list line {} declares {}",
                    "item_record_no",
                    "ems_no",
                    "_unit",
                    "gnum",
                    "unit1",
                )
            )
            .alias("reason_en"),
        )
    )
    candidates = joined.join(unknown_lists.select("list_key"), on="list_key", how="anti")
    # per list and item (two lines may name one item), then the batch's total demand per item
    per_item = candidates.group_by("list_key", "seq", "ems_no", "item_record_no").agg(
        pl.col("qty").sum().alias("need"), pl.col("balance").first()
    )
    short_items = (
        per_item.group_by("ems_no", "item_record_no")
        .agg(pl.col("need").sum().alias("total"), pl.col("balance").first())
        .filter(pl.col("total") > pl.col("balance"))
        .select("ems_no", "item_record_no", "balance")
    )
    touching = per_item.join(short_items.select("ems_no", "item_record_no"), on=["ems_no", "item_record_no"])
    held_short: list[dict[str, str]] = []
    if touching.height:
        held_short = _sequential(touching.sort("seq", "list_key", "ems_no", "item_record_no"), short_items)
    short_frame = pl.DataFrame(
        held_short,
        schema={
            "list_key": pl.String(),
            "rule": pl.String(),
            "reason_zh": pl.String(),
            "reason_en": pl.String(),
        },
    )
    reasons = pl.concat([unknown_lists, short_frame])
    holds = (
        demand.join(reasons, on="list_key", how="inner")
        .sort("seq", "gnum")
        .select(list(HOLD_SCHEMA))
        .cast(dict(HOLD_SCHEMA))  # type: ignore[arg-type]
    )
    writeoffs = demand.join(reasons.select("list_key"), on="list_key", how="anti").sort("seq", "gnum")
    return writeoffs, holds


def _sequential(touching: pl.DataFrame, short_items: pl.DataFrame) -> list[dict[str, str]]:
    """The exact pass over lists naming a short item, in arrival order: a list fits if every short item
    it names still covers it; then it takes its quantity, else it is held and takes nothing."""
    left: dict[tuple[str, str], int] = {
        (e, i): int(b) for e, i, b in short_items.select("ems_no", "item_record_no", "balance").iter_rows()
    }
    held: list[dict[str, str]] = []
    current: str | None = None
    wants: list[tuple[tuple[str, str], int]] = []

    def settle(key: str, lines: Iterable[tuple[tuple[str, str], int]]) -> None:
        lines = list(lines)
        for item, need in lines:
            if left[item] < need:
                zh, en = _reason_short(item[0], item[1], need, left[item])
                held.append({"list_key": key, "rule": SHORT, "reason_zh": zh, "reason_en": en})
                return
        for item, need in lines:
            left[item] -= need

    for key, ems, item, need in touching.select("list_key", "ems_no", "item_record_no", "need").iter_rows():
        if key != current:
            if current is not None:
                settle(current, wants)
            current, wants = key, []
        wants.append(((ems, item), int(need)))
    if current is not None:
        settle(current, wants)
    return held


def release_order(holds: pl.DataFrame, balances: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Which held lists the current balances can release now, in arrival order (held lines in, same shape
    as :func:`fit`'s answer).  The same rule as at clearing: holds are re-evaluated as if they arrived again,
    in the order they first arrived."""
    return fit(holds.select(list(DEMAND_SCHEMA)), balances)
