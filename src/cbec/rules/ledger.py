"""Bonded e-ledger (账册) rules: may a 1210 list be released against its ledger, and what does it write off?

Pure: frames in, frames out; no database.  Facts: regime reference §8.1 — on release of a 1210 list the zone
ledger is written down per line (二线出区核减); the book must never show negative stock, so a list that
would take an item below zero is not released but held (kept at 399, concluded) with the reason until stock
arrives.

Quantities are integers in 1/100000 of the legal unit (the N19,5 of the CEB quantity fields), so sums are
exact.  The ledger keeps per item the first legal quantity (``qty1``/``unit1``, ``balance``) and, for an item
filed with a second legal unit (``unit2``), the second (``qty2``, ``balance2``); both are enforced.  An item
filed without ``unit2`` keeps no second quantity: nothing is enforced on it and its write-offs carry
``qty2`` 0 (whatever the list says, it has no meaning on that item).

Why a line for an item with ``unit2`` must give a positive ``qty2``: CEB621 ``qty2``/``unit2`` are optional
(``minOccurs="0"``) only because not every HS code has a second legal unit (regime reference §2.4, §3.8:
``unit1``/``unit2`` are the legal units of the HS code); customs' own pairing rule, stated in the CEB
specification for return lines (−625009: 当第二单位有值时，第二数量应为正数), is that a line whose goods have
a second unit carries a positive second quantity.  A line without one cannot be written off on the second
quantity, and no stock arriving would change that, so it is held under :data:`UNKNOWN` (as a line in
another unit), not :data:`SHORT`.  A line that names no ``unit2`` is read in the item's filed unit2 (as a
line without ``unit1`` is read in unit1); a line that names another ``unit2`` is held like one naming
another ``unit1``.

Lists compete for stock in arrival order (``seq``).  The fast path is vectorised: an item whose total demand
in the batch fits its balance on both quantities cannot hold anybody, so every list touching only such items
is released without looking at the others.  Only lists touching a *short* item (total demand above balance
on either quantity) go through an exact pass in arrival order, and that pass tracks the short items only —
the others fit whatever happens.  A held list takes nothing, so a later, smaller list may still be released
from what is left.  A list short on both quantities of an item is held with the first quantity's reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import polars as pl

#: Rule names of a hold (the engine's decision ``rule`` column).
SHORT = "L1"
"""账册料号余额不足: the item's balance, on its first or on its second legal quantity, does not cover the list
(released when stock arrives); the reason names the quantity."""
UNKNOWN = "L2"
"""料号未在账册备案, filed with another legal unit (first or second), or a line without the second quantity
its item is filed with: the ledger cannot cover the line at all, whatever stock arrives."""

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
        "unit2": pl.String(),
        "qty": pl.Int64(),
        "qty2": pl.Int64(),
    }
)
"""A list line as the ledger sees it: ``qty`` in unit1, ``qty2`` in unit2 (null or 0: none given); a null
unit means the line's quantity is read in the item's filed unit."""
BALANCE_SCHEMA = pl.Schema(
    {
        "ems_no": pl.String(),
        "item_record_no": pl.String(),
        "unit1": pl.String(),
        "balance": pl.Int64(),
        "unit2": pl.String(),
        "balance2": pl.Int64(),
    }
)
"""A ledger item: its legal units and balances (``unit2`` null: no second legal unit, ``balance2`` unused)."""
HOLD_SCHEMA = pl.Schema(
    {
        **DEMAND_SCHEMA,
        "rule": pl.String(),
        "reason_zh": pl.String(),
        "reason_en": pl.String(),
    }
)
_REASONS = pl.Schema(
    {"list_key": pl.String(), "rule": pl.String(), "reason_zh": pl.String(), "reason_en": pl.String()}
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


def _reason_short(ems: str, item: str, need: int, have: int, *, second: bool = False) -> tuple[str, str]:
    if second:
        return (
            f"账册{ems}料号{item}第二法定数量余额不足：需{show(need)}，余{show(have)}",
            f"ledger {ems}: second legal quantity of item {item} insufficient: "
            f"need {show(need)}, have {show(have)}",
        )
    return (
        f"账册{ems}料号{item}余额不足：需{show(need)}，余{show(have)}",
        f"ledger {ems}: balance of item {item} insufficient: need {show(need)}, have {show(have)}",
    )


def _unit(name: str) -> pl.Expr:
    """A unit code column, blank read as none."""
    col = pl.col(name).str.strip_chars()
    return pl.when(col.str.len_chars() > 0).then(col).otherwise(None)


def _problem() -> pl.Expr:
    """Why the ledger cannot cover a joined line at all (null: it can, stock permitting)."""
    has2 = pl.col("_unit2").is_not_null()
    return (
        pl.when(pl.col("balance").is_null())
        .then(pl.lit("item"))
        .when(pl.col("unit1").is_not_null() & (pl.col("unit1") != pl.col("_unit")))
        .then(pl.lit("unit1"))
        .when(has2 & pl.col("unit2").is_not_null() & (pl.col("unit2") != pl.col("_unit2")))
        .then(pl.lit("unit2"))
        .when(has2 & (pl.col("qty2").fill_null(0) <= 0))
        .then(pl.lit("qty2"))
        .otherwise(None)
    )


def _unknown_reasons(joined: pl.DataFrame) -> pl.DataFrame:
    """One L2 reason per list with a line the ledger cannot cover (its first such line)."""
    why = pl.col("_why")
    zh = (
        pl.when(why == "item")
        .then(pl.format("账册{}未备案料号{}（第{}项）", "ems_no", "item_record_no", "gnum"))
        .when(why == "unit1")
        .then(
            pl.format(
                "账册{}料号{}的法定计量单位为{}，清单第{}项为{}",
                "ems_no",
                "item_record_no",
                "_unit",
                "gnum",
                "unit1",
            )
        )
        .when(why == "unit2")
        .then(
            pl.format(
                "账册{}料号{}的第二法定计量单位为{}，清单第{}项为{}",
                "ems_no",
                "item_record_no",
                "_unit2",
                "gnum",
                "unit2",
            )
        )
        .otherwise(
            pl.format(
                "账册{}料号{}备案有第二法定计量单位{}，清单第{}项未申报第二法定数量",
                "ems_no",
                "item_record_no",
                "_unit2",
                "gnum",
            )
        )
    )
    en = (
        pl.when(why == "item")
        .then(pl.format("item {} (line {}) is not on ledger {}", "item_record_no", "gnum", "ems_no"))
        .when(why == "unit1")
        .then(
            pl.format(
                "item {} of ledger {} is kept in unit {}, list line {} declares {}",
                "item_record_no",
                "ems_no",
                "_unit",
                "gnum",
                "unit1",
            )
        )
        .when(why == "unit2")
        .then(
            pl.format(
                "item {} of ledger {} is kept in second unit {}, list line {} declares {}",
                "item_record_no",
                "ems_no",
                "_unit2",
                "gnum",
                "unit2",
            )
        )
        .otherwise(
            pl.format(
                "item {} of ledger {} is filed with a second legal unit {}: "
                "list line {} declares no second quantity",
                "item_record_no",
                "ems_no",
                "_unit2",
                "gnum",
            )
        )
    )
    return (
        joined.filter(why.is_not_null())
        .sort("seq", "gnum")
        .unique("list_key", keep="first", maintain_order=True)
        .select("list_key", pl.lit(UNKNOWN).alias("rule"), zh.alias("reason_zh"), en.alias("reason_en"))
    )


def fit(demand: pl.DataFrame, balances: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split the lines of lists wanting release into write-offs and holds.

    ``demand``: :data:`DEMAND_SCHEMA`, the lines of every list that would otherwise be released now;
    ``balances``: :data:`BALANCE_SCHEMA`, the current balance of the items they name (items missing here are
    not on their ledger).  Returns ``(writeoffs, holds)``: the demand lines of the released lists (``qty2``
    0 on items without a second legal unit), and the lines of the held lists with the list's rule and
    reason (:data:`HOLD_SCHEMA`).  A list is released or held whole.
    """
    if demand.height == 0:
        return empty_demand(), pl.DataFrame(schema=HOLD_SCHEMA)
    demand = demand.select(list(DEMAND_SCHEMA)).cast(dict(DEMAND_SCHEMA))  # type: ignore[arg-type]
    items = balances.select(
        "ems_no",
        "item_record_no",
        pl.col("unit1").alias("_unit"),
        pl.col("balance").cast(pl.Int64),
        _unit("unit2").alias("_unit2"),
        pl.col("balance2").cast(pl.Int64).fill_null(0),
    )
    joined = demand.with_columns(_unit("unit2")).join(items, on=["ems_no", "item_record_no"], how="left")
    has2 = pl.col("_unit2").is_not_null()
    joined = joined.with_columns(
        _problem().alias("_why"),
        # the second quantity counts only on an item that has one
        pl.when(has2).then(pl.col("qty2").fill_null(0)).otherwise(0).alias("_q2"),
        pl.when(has2).then(pl.col("balance2")).otherwise(0).alias("_b2"),
    )
    unknown_lists = _unknown_reasons(joined)
    candidates = joined.join(unknown_lists.select("list_key"), on="list_key", how="anti")
    # per list and item (two lines may name one item), then the batch's total demand per item
    per_item = candidates.group_by("list_key", "seq", "ems_no", "item_record_no").agg(
        pl.col("qty").sum().alias("need"),
        pl.col("_q2").sum().alias("need2"),
        pl.col("balance").first(),
        pl.col("_b2").first().alias("balance2"),
    )
    short_items = (
        per_item.group_by("ems_no", "item_record_no")
        .agg(
            pl.col("need").sum().alias("total"),
            pl.col("need2").sum().alias("total2"),
            pl.col("balance").first(),
            pl.col("balance2").first(),
        )
        .filter((pl.col("total") > pl.col("balance")) | (pl.col("total2") > pl.col("balance2")))
        .select("ems_no", "item_record_no", "balance", "balance2")
    )
    touching = per_item.join(short_items.select("ems_no", "item_record_no"), on=["ems_no", "item_record_no"])
    held_short: list[dict[str, str]] = []
    if touching.height:
        held_short = _sequential(touching.sort("seq", "list_key", "ems_no", "item_record_no"), short_items)
    reasons = pl.concat([unknown_lists, pl.DataFrame(held_short, schema=_REASONS)])
    holds = (
        demand.join(reasons, on="list_key", how="inner")
        .sort("seq", "gnum")
        .select(list(HOLD_SCHEMA))
        .cast(dict(HOLD_SCHEMA))  # type: ignore[arg-type]
    )
    writeoffs = (
        joined.join(reasons.select("list_key"), on="list_key", how="anti")
        .with_columns(pl.col("_q2").alias("qty2"))
        .sort("seq", "gnum")
        .select(list(DEMAND_SCHEMA))
    )
    return writeoffs, holds


def _sequential(touching: pl.DataFrame, short_items: pl.DataFrame) -> list[dict[str, str]]:
    """The exact pass over lists naming a short item, in arrival order: a list fits if every short item
    it names still covers it on both quantities; then it takes them, else it is held and takes nothing."""
    left: dict[tuple[str, str], list[int]] = {
        (e, i): [int(b), int(b2)]
        for e, i, b, b2 in short_items.select("ems_no", "item_record_no", "balance", "balance2").iter_rows()
    }
    held: list[dict[str, str]] = []
    current: str | None = None
    wants: list[tuple[tuple[str, str], int, int]] = []

    def settle(key: str, lines: Iterable[tuple[tuple[str, str], int, int]]) -> None:
        lines = list(lines)
        for item, need, need2 in lines:
            have, have2 = left[item]
            if have < need or have2 < need2:
                second = have >= need
                zh, en = _reason_short(
                    item[0], item[1], need2 if second else need, have2 if second else have, second=second
                )
                held.append({"list_key": key, "rule": SHORT, "reason_zh": zh, "reason_en": en})
                return
        for item, need, need2 in lines:
            left[item][0] -= need
            left[item][1] -= need2

    rows = touching.select("list_key", "ems_no", "item_record_no", "need", "need2").iter_rows()
    for key, ems, item, need, need2 in rows:
        if key != current:
            if current is not None:
                settle(current, wants)
            current, wants = key, []
        wants.append(((ems, item), int(need), int(need2)))
    if current is not None:
        settle(current, wants)
    return held


def release_order(holds: pl.DataFrame, balances: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Which held lists the current balances can release now, in arrival order (held lines in, same shape
    as :func:`fit`'s answer).  The same rule as at clearing: holds are re-evaluated as if they arrived again,
    in the order they first arrived."""
    return fit(holds.select(list(DEMAND_SCHEMA)), balances)
