"""Benchmark: the monthly summary declaration (清单核放、汇总申报) over a month of cleared export lists.

Prints one JSON line.  The lists are synthesised as columns (not XML) with Polars hashes as the random source
(seeded, no NumPy): a few hundred consignors of very different sizes, each with a few producers/sellers and a
catalogue of HS codes drawn from the project's HS table (export-type goods: apparel, shoes, bags, toys,
electronics …), destinations weighted US and UK first, 1–3 lines per list, 5 % simplified (A) lists.  Then
:func:`cbec.rules.summary.summarise_period` plans the month's applications and groups them.

    python bench/summary.py --lists 10000000

``synthesis_s`` is building the frames; ``summary_s`` is planning + grouping + mapping (the figure the
target, ≤ 30 s for 10 M lists on the 2-core machine, is about) and ``summary_cpu_s`` the CPU time it used
(both cores count: on an idle 2-core machine wall time approaches half of it); ``load_average_1m`` tells how
shared the machine was; ``peak_rss_mb`` is the process's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import datetime

import cbec  # noqa: F401  # isort: skip  (first: sets Polars' allocator before Polars loads, cbec/_allocator.py)
import polars as pl

from cbec.params.hs import load_cbec_hs
from cbec.rules.summary import SummaryOptions, summarise_period

# Export-type goods of the HS table (China's CBEC exports are mostly these).
EXPORT_CATEGORIES = (
    "accessories",
    "apparel_baby",
    "apparel_knit",
    "apparel_woven",
    "audio",
    "bags",
    "cameras",
    "computers",
    "footwear",
    "game_consoles",
    "home_textiles",
    "hosiery_underwear",
    "jewellery",
    "kitchenware",
    "phones",
    "personal_care_appliances",
    "small_appliances",
    "sports",
    "toys",
    "watches",
)
# Arrival / destination countries (customs codes) and weights: US and UK first, then EU, Asia, others.
COUNTRIES = {
    "502": 34,  # United States
    "303": 12,  # United Kingdom
    "304": 7,  # Germany
    "305": 5,  # France
    "501": 4,  # Canada
    "601": 4,  # Australia
    "116": 4,  # Japan
    "133": 3,  # Korea
    "307": 3,  # Italy
    "312": 3,  # Spain
    "309": 2,  # Netherlands
    "344": 3,  # Russia
    "132": 2,  # Singapore
    "122": 2,  # Malaysia
    "136": 2,  # Thailand
    "138": 2,  # United Arab Emirates
    "410": 3,  # Brazil
    "429": 2,  # Mexico
    "131": 1,  # Saudi Arabia
    "609": 1,  # New Zealand
}
CURRENCIES = {"502": 80, "142": 10, "303": 5, "300": 5}  # USD, CNY, GBP, EUR
TRANSPORT = {"5": 80, "4": 8, "2": 7, "3": 5}  # air, road, sea, rail
TRADE_MODES = {"9610": 90, "9710": 6, "9810": 4}
EXIT_PORTS = ("5141", "5145", "2233", "2244", "2901", "2921", "5301", "5320", "0100", "4600", "3100", "8013")


def _u(column: str, seed: int, buckets: int) -> pl.Expr:
    """A seeded pseudo-random integer in [0, buckets) per row of ``column``."""
    return (pl.col(column).hash(seed) % buckets).cast(pl.Int64)


def _weighted(column: str, seed: int, weights: dict[str, int]) -> pl.Expr:
    """A value drawn with the given weights (a 1,000-slot table gathered by a hash)."""
    total = sum(weights.values())
    table: list[str] = []
    for value, w in weights.items():
        table += [value] * round(1000 * w / total)
    table = (table + [next(iter(weights))] * 1000)[:1000]
    return pl.lit(pl.Series(table)).gather(_u(column, seed, 1000))


def synthesise(lists: int, consignors: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    hs = load_cbec_hs().frame().filter(pl.col("category").is_in(EXPORT_CATEGORIES)).sort("hs10")
    hs10 = hs["hs10"]
    unit1 = hs["unit1"]
    unit2 = hs["unit2"]
    names = hs["name_zh"]
    n_hs = hs.height

    # Consignor sizes: a Zipf-like draw, so a few big sellers hold most lists (as on real platforms).
    rank = pl.int_range(1, consignors + 1, eager=True)
    share = 1.0 / rank.cast(pl.Float64)
    cum = (share.cum_sum() / share.sum() * 1_000_000).cast(pl.Int64)
    ebc = [f"91{440300 + k:06d}MA{k:08d}"[:18] for k in range(consignors)]

    t = seed * 100
    heads = (
        pl.select(pl.int_range(lists, dtype=pl.Int64).alias("i"))
        .with_columns(
            pl.lit(cum)
            .search_sorted(_u("i", t + 1, 1_000_000), side="right")
            .clip(0, consignors - 1)
            .alias("c"),
        )
        .with_columns(
            pl.format("5141{}E{}", pl.lit("2026"), pl.col("i").cast(pl.String).str.zfill(10)).alias("invtNo"),
            pl.format("LP{}CN", pl.col("i").cast(pl.String).str.zfill(12)).alias("logisticsNo"),
            pl.lit(pl.Series(ebc)).gather(pl.col("c")).alias("ebcCode"),
            # each consignor sells for 1–4 producers/sellers (生产销售单位)
            pl.format(
                "{}{}",
                pl.lit(pl.Series(ebc)).gather(pl.col("c")).str.slice(0, 16),
                (_u("i", t + 2, 4) % (pl.col("c") % 4 + 1)).cast(pl.String).str.zfill(2),
            ).alias("ownerCode"),
            _weighted("i", t + 3, TRANSPORT).alias("trafMode"),
            _weighted("i", t + 4, COUNTRIES).alias("country"),
            pl.lit(pl.Series(EXIT_PORTS))
            .gather((pl.col("c") + _u("i", t + 5, 2)) % len(EXIT_PORTS))
            .alias("portCode"),
            _weighted("i", t + 6, TRADE_MODES).alias("tradeMode"),
            pl.when(_u("i", t + 7, 100) < 5).then(pl.lit("A")).otherwise(pl.lit("B")).alias("statisticsFlag"),
            (
                pl.lit(datetime(2026, 10, 1))
                + pl.duration(seconds=_u("i", t + 8, 31 * 86400))  # cleared over the month
            ).alias("cleared_at"),
            (_u("i", t + 9, 500_000) + 50).cast(pl.Decimal(38, 5)).alias("_g"),
            (_u("i", t + 10, 4) + 1).alias("_n"),
        )
        .with_columns(
            (pl.col("_g") / pl.lit(100, pl.Decimal(38, 0))).cast(pl.Decimal(19, 5)).alias("grossWeight"),
            (pl.col("_g") / pl.lit(125, pl.Decimal(38, 0))).cast(pl.Decimal(19, 5)).alias("netWeight"),
            pl.when(pl.col("_n") == 4).then(1).otherwise(pl.col("_n")).alias("_n"),  # 1 line: half the lists
        )
    )
    lines = (
        heads.select("i", "c", "invtNo", "country", pl.int_ranges(1, pl.col("_n") + 1).alias("gnum"))
        .explode("gnum")
        .with_columns((pl.col("i") * 4 + pl.col("gnum")).alias("j"))
        .with_columns(
            # a consignor's catalogue: ~12 HS codes around a start that depends on the consignor
            ((pl.col("c") * 37 + _u("j", t + 11, 12)) % n_hs).alias("h"),
            (_u("j", t + 12, 5) + 1).cast(pl.Decimal(38, 5)).alias("qty"),
            (_u("j", t + 13, 20_000) + 100).cast(pl.Decimal(38, 5)).alias("_cents"),
        )
        .select(
            "invtNo",
            pl.col("gnum").cast(pl.Int32),
            pl.lit(hs10).gather(pl.col("h")).alias("gcode"),
            pl.lit(names).gather(pl.col("h")).alias("gname"),
            "country",
            _weighted("i", t + 14, CURRENCIES).alias("currency"),
            pl.col("qty").cast(pl.Decimal(19, 5)),
            pl.lit("011").alias("unit"),
            pl.lit(unit1).gather(pl.col("h")).alias("unit1"),
            # legal quantity: pieces as declared, kilograms at 0.25 kg a piece
            pl.when(pl.lit(unit1).gather(pl.col("h")) == "035")
            .then(pl.col("qty") * pl.lit(0.25, pl.Decimal(38, 2)))
            .otherwise(pl.col("qty"))
            .cast(pl.Decimal(19, 5))
            .alias("qty1"),
            pl.lit(unit2).gather(pl.col("h")).alias("unit2"),
            pl.when(pl.lit(unit2).gather(pl.col("h")).is_not_null())
            .then(pl.col("qty") * pl.lit(0.25, pl.Decimal(38, 2)))
            .cast(pl.Decimal(19, 5))
            .alias("qty2"),
            (pl.col("qty") * pl.col("_cents") / pl.lit(100, pl.Decimal(38, 0)))
            .cast(pl.Decimal(19, 5))
            .alias("totalPrice"),
        )
    )
    return heads.drop("i", "c", "_g", "_n"), lines


def _cpu() -> float:
    """CPU seconds of this process (all threads): on a shared machine, wall time alone says little."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lists", type=int, default=1_000_000)
    ap.add_argument("--consignors", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--summary-flag", choices=("1", "2"), default="2")
    ap.add_argument("--item-name-flag", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    heads, lines = synthesise(args.lists, args.consignors, args.seed)
    synthesis = time.perf_counter() - t0
    rss_synth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cpu1 = _cpu()
    t1 = time.perf_counter()
    options = SummaryOptions(summary_flag=args.summary_flag, item_name_flag=args.item_name_flag)
    result = summarise_period(heads, lines, "2026-10", options=options)
    summary = time.perf_counter() - t1
    summary_cpu = _cpu() - cpu1

    figures = {
        "bench": "summary",
        "lists": heads.height,
        "lines": lines.height,
        "consignors": args.consignors,
        "summary_flag": args.summary_flag,
        "item_name_flag": args.item_name_flag,
        "declarations": result.declarations.height,
        "declaration_lines": result.declaration_lines.height,
        "mapped_lines": result.mapping.height,
        "excluded_lists": result.excluded.height,
        "synthesis_s": round(synthesis, 2),
        "summary_s": round(summary, 2),
        "summary_cpu_s": round(summary_cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "lists_per_s": round(heads.height / summary),
        "rss_after_synthesis_mb": round(rss_synth),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "polars": pl.__version__,
        "threads": pl.thread_pool_size(),
        "python": platform.python_version(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
