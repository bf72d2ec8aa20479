"""Export clearance (9610 / 9710 / 9810): matching, validation and the list status machine, in Polars.

Pure: frames in, frames out; nothing here reads the store (``cbec.engine.export`` is the shell).
Facts: regime reference §1 (modes), §2.5 (CEB303/403/505/507/509/603/605/607), §3.2 (statuses),
§4.1 (keys), §6.1 and §6.3.

The list (CEB603) status machine::

    2 waiting for its order and waybill ──▶ 120 accepted ──▶ 399 concluded ──▶ 800 released ──▶ 899 cleared
          │ (wait expired, −603901)          (one step)        (arrival 507)       (departure 509)
          └──▶ 100 refused (first violation in RULE_ORDER)     cancellation 605 ──▶ 100 cancelled (before 899)

Decisions where the reference leaves room (each says why):

* **What must be present before a list is accepted:** the order (CEB303, key ``ebpCode|orderNo``, §4.1 list ↔
  order) and the waybill (CEB505, key ``logisticsCode|logisticsNo``).  The collection (CEB403) is *not*
  waited for: §3.2 and §4.3 say customs matches it after the list is concluded (it gets its 120 once the list
  is at 399), and §10 Q10 leaves open whether it gates release.
* **Release (800)** needs the list concluded (399) *and* its parcel reported at the supervised site (CEB507,
  by ``logisticsCode|logisticsNo``), in either order.  The master bill (CEB607) supplies transport details and
  is recorded, but does not gate release: only one secondary page (P:basenton) ties release to it.
* **Departure (899)** is accepted per CEB509 document only if every parcel on it is released (800); a
  document naming a parcel not released is refused whole, naming it (a carrier cannot take part of a manifest
  back).  A cancellation (CEB605) is accepted at 120/399/800 and refused once the list has departed (899).
* **Simplified declaration (statisticsFlag A, §6.3):** no licence, no export duty, no export VAT refund.  The
  refund is the enterprise's claim, not a property of the code, so "no refund" is checked as "no line asks
  for one" (no ``HWC-YT`` pre-refund mark).  Licence and duty come from the export-controls table: under A
  only the first 4 digits of ``gcode`` must be right, so any controlled row under that heading refuses A.
  Under A the heading must be a known heading; under B the full 10-digit code must be in the tariff loaded.
* **9710 / 9810 by list** only when the ticket (Σ line ``totalPrice`` in CNY at ``export.fx.rates``) is at
  most ``export.b2b.list_value_limit`` and no line needs a licence, legal inspection or export duty;
  otherwise refused: such goods must go on a customs declaration (报关单).
* **The 9810 pre-refund (离境即退税) flag** is a list line whose ``note`` carries ``HWC-YT`` (the mark
  reported for STA-2025-3); CEB603 has no field of its own for it.  Only 9810 lines may carry it, and
  only while ``export.overseas_warehouse.prerefund`` is in force.

The spec has no negative codes for export lists, cancellations, arrivals, departures or master bills; the
codes ``−6039xx``, ``−6059xx``, ``−5079xx``, ``−5099xx`` and ``−6079xx`` are cbec's own (like aftercare's
``−6259xx``) and are listed in ``params/data/codes/business_errors.yaml`` with ``origin: cbec``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from cbec.params.dated import ParameterSet

WAITING, REFUSED, ACCEPTED, CONCLUDED, RELEASED, CLEARED = 2, 100, 120, 399, 800, 899
EXPORT_MODES = ("9610", "9710", "9810")
B2B_MODES = ("9710", "9810")
ORDER_TYPE_OF_MODE: Mapping[str, str] = {"9610": "E", "9710": "B", "9810": "W"}
PREREFUND_MARK = "HWC-YT"

#: refusal rules in the order the first one decides (validation before matching, expiry last)
RULE_ORDER = ["XV", "XD", "XH", "XA", "XR", "XL", "XB", "XM", "XE"]

# cbec's own codes (the spec has none for export lists; see the module docstring)
LIST_FIELDS = "-603909"  # ieFlag / tradeMode / appType
LIST_MISSING = "-603901"  # order or waybill missing when the wait expired
LIST_DUPLICATE = "-603902"  # a list already declared for this order
LIST_MISMATCH = "-603903"  # list ↔ order
LIST_SIMPLIFIED = "-603904"  # statisticsFlag A not allowed
LIST_HS = "-603905"  # HS code unknown
LIST_B2B_LIMIT = "-603906"  # 9710/9810 ticket over the list limit
LIST_B2B_CONTROLS = "-603907"  # 9710/9810 with licence, inspection or duty
LIST_PREREFUND = "-603908"  # HWC-YT mark where not allowed
LIST_LICENCE = "-603910"  # licensed goods without licenseNo
CANCEL_NOT_FOUND = "-605901"
CANCEL_STATUS = "-605902"
CANCEL_IDENTITY = "-605903"
ARRIVAL_FIELDS = "-507901"
DEPARTURE_NOT_RELEASED = "-509901"
BILL_UNKNOWN = "-607901"
BILL_DEPARTED = "-607902"
DOC_APP_TYPE = "-603911"  # appType other than 1 on any export document

VIOLATION_SCHEMA = pl.Schema(
    {
        "list_key": pl.String(),
        "rule": pl.String(),
        "code": pl.String(),
        "reason_zh": pl.String(),
        "reason_en": pl.String(),
    }
)
MONEY = pl.Decimal(38, 5)


@dataclass(frozen=True)
class ExportParams:
    """The dated parameters one clearing day needs, read once (rules must not look values up per row)."""

    on: date
    list_value_limit: Decimal
    fx: Mapping[str, Decimal]
    prerefund: bool
    default_refund_rate: Decimal
    expiry: timedelta

    @classmethod
    def at(cls, params: ParameterSet, on: date) -> ExportParams:
        fx: dict[str, Decimal] = {}
        for pair in params.strings_at("export.fx.rates", on):
            code, _, rate = pair.partition("=")
            fx[code.strip()] = Decimal(rate.strip())
        return cls(
            on=on,
            list_value_limit=params.decimal_at("export.b2b.list_value_limit", on),
            fx=fx,
            prerefund=params.bool_at("export.overseas_warehouse.prerefund", on),
            default_refund_rate=params.decimal_at("export.refund.default_rate", on),
            expiry=timedelta(hours=float(params.decimal_at("export.matching.expiry_hours", on))),
        )

    def fx_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"currency": list(self.fx), "_cny_rate": list(self.fx.values())},
            schema={"currency": pl.String(), "_cny_rate": pl.Decimal(19, 6)},
        )


def violation(
    frame: pl.DataFrame, mask: pl.Expr, rule: str, code: str, zh: pl.Expr | str, en: pl.Expr | str
) -> pl.DataFrame:
    """Rows of ``frame`` (one per list_key) where ``mask`` holds, as violations; an unknown mask counts."""
    zh_e = pl.lit(zh) if isinstance(zh, str) else zh
    en_e = pl.lit(en) if isinstance(en, str) else en
    return (
        frame.filter(mask.fill_null(True))
        .select(
            "list_key",
            pl.lit(rule).alias("rule"),
            pl.lit(code).alias("code"),
            zh_e.alias("reason_zh"),
            en_e.alias("reason_en"),
        )
        .cast(VIOLATION_SCHEMA)  # type: ignore[arg-type]
    )


def _first_per_list(frame: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return (
        frame.sort("list_key", "gnum")
        .group_by("list_key", maintain_order=True)
        .agg(pl.col(c).first() for c in ("gnum", *cols))
    )


# --- HS facts per line -----------------------------------------------------------------------
def line_facts(
    lines: pl.DataFrame, heads: pl.DataFrame, controls: pl.DataFrame, tariff_codes: pl.Series
) -> pl.DataFrame:
    """Each list line with what the tariff and the export-controls table say about its code.

    ``heads``: list_key, statisticsFlag.  ``controls``: the rows in force (prefix, licence, export_duty,
    inspection, refund_rate).  Adds ``_licence``, ``_duty``, ``_inspection`` (the longest prefix of gcode
    that has a row, or — under flag A, where only the heading is right — any row under the heading),
    ``_refund_rate`` (longest prefix; null: the default rate applies), ``_known_code``, ``_known_heading``,
    ``_prerefund`` (the HWC-YT mark in the note).
    """
    base = lines.join(heads.select("list_key", "statisticsFlag"), on="list_key", how="left").with_columns(
        pl.col("gcode").cast(pl.String).str.strip_chars().alias("_gcode"),
        pl.col("note")
        .cast(pl.String)
        .fill_null("")
        .str.contains(PREREFUND_MARK, literal=True)
        .alias("_prerefund"),
    )
    ctl = controls.select("prefix", "licence", "export_duty", "inspection", "refund_rate")
    by_prefix = base.select("list_key", "gnum", "_gcode")
    found = []
    for n in (10, 8, 6, 4):
        part = (
            by_prefix.with_columns(pl.col("_gcode").str.slice(0, n).alias("prefix"))
            .join(ctl.filter(pl.col("prefix").str.len_chars() == n), on="prefix", how="inner")
            .with_columns(pl.lit(n).alias("_len"))
        )
        found.append(part)
    longest = (
        pl.concat(found)
        .sort("_len", descending=True)
        .unique(["list_key", "gnum"], keep="first")
        .select(
            "list_key",
            "gnum",
            pl.col("licence").alias("_l_licence"),
            pl.col("export_duty").alias("_l_duty"),
            pl.col("inspection").alias("_l_inspection"),
            pl.col("refund_rate").alias("_refund_rate"),
        )
    )
    under_heading = (
        by_prefix.with_columns(pl.col("_gcode").str.slice(0, 4).alias("_heading"))
        .join(ctl.with_columns(pl.col("prefix").str.slice(0, 4).alias("_heading")), on="_heading")
        .group_by("list_key", "gnum")
        .agg(
            pl.col("licence").any().alias("_h_licence"),
            pl.col("export_duty").any().alias("_h_duty"),
            pl.col("inspection").any().alias("_h_inspection"),
        )
    )
    headings = pl.concat(
        [tariff_codes.cast(pl.String).str.slice(0, 4), controls["prefix"].str.slice(0, 4)]
    ).unique()
    simplified = pl.col("statisticsFlag") == "A"
    return (
        base.join(longest, on=["list_key", "gnum"], how="left")
        .join(under_heading, on=["list_key", "gnum"], how="left")
        .with_columns(
            pl.when(simplified)
            .then(pl.col(f"_h_{name}"))
            .otherwise(pl.col(f"_l_{name}"))
            .fill_null(False)
            .alias(f"_{name}")
            for name in ("licence", "duty", "inspection")
        )
        .with_columns(
            pl.col("_gcode").is_in(tariff_codes.cast(pl.String).implode()).alias("_known_code"),
            pl.col("_gcode").str.slice(0, 4).is_in(headings.implode()).alias("_known_heading"),
            pl.col("_gcode").str.contains(r"^\d{10}$").alias("_digits"),
        )
        .drop(
            "_l_licence", "_l_duty", "_l_inspection", "_h_licence", "_h_duty", "_h_inspection", strict=False
        )
    )


# --- validation of a list on its own ---------------------------------------------------------
def validate_lists(heads: pl.DataFrame, facts: pl.DataFrame, p: ExportParams) -> pl.DataFrame:
    """Violations of the list itself (needs no other document): fields, HS, flag A, pre-refund, 9710/9810.

    ``heads``: CEB603 heads with list_key; ``facts``: :func:`line_facts`.
    """
    out = [
        violation(
            heads,
            pl.col("appType") != "1",
            "XV",
            DOC_APP_TYPE,
            "cbec只受理新增（appType=1）的出口清单，变更请撤单后重新申报",
            "only new export lists (appType 1) are accepted; cancel and declare again to change one",
        ),
        violation(
            heads,
            pl.col("ieFlag") != "E",
            "XV",
            LIST_FIELDS,
            "出口清单进出口标记ieFlag必须为E",
            "ieFlag must be E on an export list",
        ),
        violation(
            heads,
            ~pl.col("tradeMode").is_in(EXPORT_MODES),
            "XV",
            LIST_FIELDS,
            pl.format("监管方式{}不是cbec受理的跨境电商出口方式（9610/9710/9810）", "tradeMode"),
            pl.format("tradeMode {} is not an export mode cbec clears (9610/9710/9810)", "tradeMode"),
        ),
    ]
    with_mode = facts.join(heads.select("list_key", "tradeMode", "licenseNo"), on="list_key", how="left")
    bad_digits = _first_per_list(with_mode.filter(~pl.col("_digits")), "_gcode")
    out.append(
        violation(
            bad_digits,
            pl.lit(True),
            "XH",
            LIST_HS,
            pl.format("第{}项商品编码{}须为10位数字", "gnum", "_gcode"),
            pl.format("line {}: HS code {} must be 10 digits", "gnum", "_gcode"),
        )
    )
    a = pl.col("statisticsFlag") == "A"
    unknown = _first_per_list(
        with_mode.filter(
            pl.col("_digits") & ((a & ~pl.col("_known_heading")) | (~a & ~pl.col("_known_code")))
        ),
        "_gcode",
        "statisticsFlag",
    )
    out.append(
        violation(
            unknown,
            pl.lit(True),
            "XH",
            LIST_HS,
            pl.when(pl.col("statisticsFlag") == "A")
            .then(
                pl.format(
                    "第{}项商品编码{}的前4位不是税则中的品目（简化申报只要求前4位准确）", "gnum", "_gcode"
                )
            )
            .otherwise(pl.format("第{}项商品编码{}不在已加载的税则中", "gnum", "_gcode")),
            pl.when(pl.col("statisticsFlag") == "A")
            .then(
                pl.format(
                    "line {}: the first 4 digits of HS code {} are no heading of the tariff "
                    "(a simplified declaration needs only those right)",
                    "gnum",
                    "_gcode",
                )
            )
            .otherwise(pl.format("line {}: HS code {} is not in the tariff loaded", "gnum", "_gcode")),
        )
    )
    simplified_bad = _first_per_list(
        with_mode.filter(a & (pl.col("_licence") | pl.col("_duty") | pl.col("_prerefund"))),
        "_gcode",
        "_licence",
        "_duty",
    )
    what_zh = (
        pl.when(pl.col("_licence"))
        .then(pl.lit("涉及出口许可证"))
        .when(pl.col("_duty"))
        .then(pl.lit("涉及出口关税"))
        .otherwise(pl.lit("申请出口退税（HWC-YT预退）"))
    )
    what_en = (
        pl.when(pl.col("_licence"))
        .then(pl.lit("needs an export licence"))
        .when(pl.col("_duty"))
        .then(pl.lit("carries export duty"))
        .otherwise(pl.lit("asks for an export VAT refund (HWC-YT pre-refund)"))
    )
    out.append(
        violation(
            simplified_bad,
            pl.lit(True),
            "XA",
            LIST_SIMPLIFIED,
            pl.format(
                "简化申报（A）不适用：第{}项商品{}{}，应按汇总申报（B）申报", "gnum", "_gcode", what_zh
            ),
            pl.format(
                "simplified declaration (A) not allowed: line {} ({}) {}; declare with statisticsFlag B",
                "gnum",
                "_gcode",
                what_en,
            ),
        )
    )
    marked = with_mode.filter(pl.col("_prerefund") & (pl.col("statisticsFlag") != "A"))
    out.append(
        violation(
            _first_per_list(marked.filter(pl.col("tradeMode") != "9810"), "tradeMode"),
            pl.lit(True),
            "XR",
            LIST_PREREFUND,
            pl.format("第{}项标记HWC-YT（海外仓预退），但监管方式{}不是9810", "gnum", "tradeMode"),
            pl.format(
                "line {} is marked HWC-YT (overseas-warehouse pre-refund) but tradeMode {} is not 9810",
                "gnum",
                "tradeMode",
            ),
        )
    )
    if not p.prerefund:
        out.append(
            violation(
                _first_per_list(marked.filter(pl.col("tradeMode") == "9810")),
                pl.lit(True),
                "XR",
                LIST_PREREFUND,
                pl.format(
                    "第{}项标记HWC-YT，但{}时离境即退税尚未施行（2025-01-27起）",
                    "gnum",
                    pl.lit(p.on.isoformat()),
                ),
                pl.format(
                    "line {} is marked HWC-YT, but the departure pre-refund was not in force on {} "
                    "(from 2025-01-27)",
                    "gnum",
                    pl.lit(p.on.isoformat()),
                ),
            )
        )
    unlicensed = _first_per_list(
        with_mode.filter(
            (pl.col("statisticsFlag") != "A")
            & pl.col("_licence")
            & (pl.col("licenseNo").is_null() | (pl.col("licenseNo").cast(pl.String).str.strip_chars() == ""))
            & (pl.col("tradeMode") == "9610")
        ),
        "_gcode",
    )
    out.append(
        violation(
            unlicensed,
            pl.lit(True),
            "XL",
            LIST_LICENCE,
            pl.format("第{}项商品{}属出口许可证管理，清单未填写许可证号licenseNo", "gnum", "_gcode"),
            pl.format(
                "line {} ({}) needs an export licence and the list gives no licenseNo", "gnum", "_gcode"
            ),
        )
    )
    out.append(b2b_violations(heads, facts, p))
    return pl.concat(out)


def b2b_violations(heads: pl.DataFrame, facts: pl.DataFrame, p: ExportParams) -> pl.DataFrame:
    """9710/9810 by list: ticket ≤ the list limit (CNY) and no licence, inspection or export duty."""
    b2b = heads.filter(pl.col("tradeMode").is_in(B2B_MODES)).select("list_key", "tradeMode")
    lines = facts.join(b2b, on="list_key", how="inner").join(p.fx_frame(), on="currency", how="left")
    ticket = lines.group_by("list_key", maintain_order=True).agg(
        (pl.col("totalPrice").cast(MONEY) * pl.col("_cny_rate").cast(MONEY)).sum().alias("_cny"),
        pl.col("_cny_rate").is_null().any().alias("_no_rate"),
        pl.col("currency").filter(pl.col("_cny_rate").is_null()).first().alias("_currency"),
        pl.col("tradeMode").first(),
    )
    limit = pl.lit(p.list_value_limit).cast(MONEY)
    controlled = _first_per_list(
        lines.filter(pl.col("_licence") | pl.col("_inspection") | pl.col("_duty")),
        "_gcode",
        "_licence",
        "_inspection",
        "tradeMode",
    )
    what_zh = (
        pl.when(pl.col("_licence"))
        .then(pl.lit("涉证"))
        .when(pl.col("_inspection"))
        .then(pl.lit("涉检"))
        .otherwise(pl.lit("涉税"))
    )
    what_en = (
        pl.when(pl.col("_licence"))
        .then(pl.lit("needs a licence"))
        .when(pl.col("_inspection"))
        .then(pl.lit("is subject to inspection"))
        .otherwise(pl.lit("carries export duty"))
    )
    return pl.concat(
        [
            violation(
                ticket.filter(pl.col("_no_rate")),
                pl.lit(True),
                "XB",
                LIST_B2B_LIMIT,
                pl.format(
                    "币制{}无折算汇率，无法确认{}清单单票货值不超过{}元，请以报关单申报",
                    "_currency",
                    "tradeMode",
                    pl.lit(str(p.list_value_limit)),
                ),
                pl.format(
                    "no exchange rate for currency {}: cannot show that the {} ticket is within CNY {}; "
                    "declare it on a customs declaration",
                    "_currency",
                    "tradeMode",
                    pl.lit(str(p.list_value_limit)),
                ),
            ),
            violation(
                ticket.filter(~pl.col("_no_rate") & (pl.col("_cny") > limit)),
                pl.lit(True),
                "XB",
                LIST_B2B_LIMIT,
                pl.format(
                    "{}单票货值{}元超过清单申报限额{}元，应以报关单申报",
                    "tradeMode",
                    pl.col("_cny").round(2).cast(pl.String),
                    pl.lit(str(p.list_value_limit)),
                ),
                pl.format(
                    "{} ticket of CNY {} is over the list limit of CNY {}: it must go on a customs "
                    "declaration",
                    "tradeMode",
                    pl.col("_cny").round(2).cast(pl.String),
                    pl.lit(str(p.list_value_limit)),
                ),
            ),
            violation(
                controlled,
                pl.lit(True),
                "XB",
                LIST_B2B_CONTROLS,
                pl.format(
                    "{}清单第{}项商品{}{}，不适用清单申报，应以报关单申报",
                    "tradeMode",
                    "gnum",
                    "_gcode",
                    what_zh,
                ),
                pl.format(
                    "{} list line {} ({}) {}: lists are only for goods without licence, inspection or "
                    "tax; use a customs declaration",
                    "tradeMode",
                    "gnum",
                    "_gcode",
                    what_en,
                ),
            ),
        ]
    )


# --- matching the list with its order --------------------------------------------------------
def match_lists(
    heads: pl.DataFrame, lines: pl.DataFrame, orders: pl.DataFrame, order_lines: pl.DataFrame
) -> pl.DataFrame:
    """List ↔ order (§4.1: ``ebpCode|orderNo``, ``ebcCode`` agreeing, lines one-to-one by ``gnum`` with the
    order's item name, Σ list ``totalPrice`` = order ``goodsValue``; order type fits the trade mode).

    ``heads``/``orders`` carry ``order_key``; only lists whose order is present are checked.
    """
    o = orders.select(
        "order_key",
        pl.col("ebcCode").alias("_o_ebc"),
        pl.col("orderType").alias("_o_type"),
        pl.col("goodsValue").cast(MONEY).alias("_o_value"),
        pl.col("currency").alias("_o_currency"),
    ).unique("order_key", keep="first")
    sets = heads.select("list_key", "order_key", "ebcCode", "tradeMode").join(o, on="order_key", how="inner")
    totals = lines.group_by("list_key").agg(
        pl.col("totalPrice").cast(MONEY).sum().alias("_l_value"),
        pl.col("currency").n_unique().alias("_currencies"),
        pl.col("currency").first().alias("_l_currency"),
        pl.len().alias("_l_count"),
    )
    o_count = order_lines.group_by("order_key").agg(pl.len().alias("_o_count"))
    sets = (
        sets.join(totals, on="list_key", how="left")
        .join(o_count, on="order_key", how="left")
        .with_columns(
            pl.col("tradeMode").replace_strict(dict(ORDER_TYPE_OF_MODE), default=None).alias("_want_type")
        )
    )
    paired = (
        lines.select("list_key", "gnum", "gname")
        .join(sets.select("list_key", "order_key"), on="list_key", how="inner")
        .join(
            order_lines.select("order_key", "gnum", pl.col("itemName").alias("_item")),
            on=["order_key", "gnum"],
            how="left",
        )
    )
    line_bad = _first_per_list(
        paired.filter(pl.col("_item").is_null() | (pl.col("_item") != pl.col("gname"))), "gname", "_item"
    )
    return pl.concat(
        [
            violation(
                sets,
                pl.col("ebcCode") != pl.col("_o_ebc"),
                "XM",
                LIST_MISMATCH,
                pl.format("清单电商企业{}与订单电商企业{}不一致", "ebcCode", "_o_ebc"),
                pl.format("list ebcCode {} differs from the order's {}", "ebcCode", "_o_ebc"),
            ),
            violation(
                sets.filter(pl.col("_want_type").is_not_null()),
                pl.col("_o_type") != pl.col("_want_type"),
                "XM",
                LIST_MISMATCH,
                pl.format("监管方式{}应对应订单类型{}，订单类型为{}", "tradeMode", "_want_type", "_o_type"),
                pl.format(
                    "tradeMode {} needs orderType {}; the order is of type {}",
                    "tradeMode",
                    "_want_type",
                    "_o_type",
                ),
            ),
            violation(
                sets,
                pl.col("_l_count") != pl.col("_o_count"),
                "XM",
                LIST_MISMATCH,
                pl.format("清单表体{}项与订单表体{}项不一一对应", "_l_count", "_o_count"),
                pl.format(
                    "the list's {} lines do not pair one-to-one with the order's {}", "_l_count", "_o_count"
                ),
            ),
            violation(
                line_bad,
                pl.lit(True),
                "XM",
                LIST_MISMATCH,
                pl.format(
                    "清单第{}项商品名称{}与订单同序号商品{}不一致",
                    "gnum",
                    "gname",
                    pl.col("_item").fill_null("（无）"),
                ),
                pl.format(
                    "list line {} goods name {} differs from the order's line ({})",
                    "gnum",
                    "gname",
                    pl.col("_item").fill_null("none"),
                ),
            ),
            violation(
                sets,
                (pl.col("_currencies") > 1) | (pl.col("_l_currency") != pl.col("_o_currency")),
                "XM",
                LIST_MISMATCH,
                pl.format("清单币制{}与订单币制{}不一致", "_l_currency", "_o_currency"),
                pl.format("list currency {} differs from the order's {}", "_l_currency", "_o_currency"),
            ),
            violation(
                sets,
                pl.col("_l_value") != pl.col("_o_value"),
                "XM",
                LIST_MISMATCH,
                pl.format(
                    "清单商品总价{}与订单商品价格goodsValue {}不一致",
                    pl.col("_l_value").cast(pl.String),
                    pl.col("_o_value").cast(pl.String),
                ),
                pl.format(
                    "the list's line totals {} differ from the order's goodsValue {}",
                    pl.col("_l_value").cast(pl.String),
                    pl.col("_o_value").cast(pl.String),
                ),
            ),
        ]
    )


# --- the decision ----------------------------------------------------------------------------
def decide_lists(
    sets: pl.DataFrame, violations: pl.DataFrame, *, now: pl.Expr | object, expiry: timedelta
) -> pl.DataFrame:
    """One row per list: status 2 (waiting), 100 (refused) or 399 (accepted and concluded).

    ``sets``: list_key, has_order, has_waybill, received_at (naive UTC); ``violations``: every rule's rows.
    A refusal needs no partner document; an incomplete set waits until ``expiry`` after it was received.
    """
    rank = {r: i for i, r in enumerate(RULE_ORDER)}
    first = (
        violations.with_columns(pl.col("rule").replace_strict(rank, default=len(rank)).alias("_rank"))
        .sort("list_key", "_rank", maintain_order=True)
        .unique("list_key", keep="first", maintain_order=True)
        .drop("_rank")
    )
    now_e = now if isinstance(now, pl.Expr) else pl.lit(now)
    frame = sets.join(first, on="list_key", how="left").with_columns(
        (pl.col("has_order") & pl.col("has_waybill")).alias("complete"),
        ((now_e - pl.col("received_at")) > pl.lit(expiry)).alias("_expired"),
    )
    missing_zh = (
        pl.concat_list(
            pl.when(~pl.col("has_order")).then(pl.lit("订单")),
            pl.when(~pl.col("has_waybill")).then(pl.lit("运单")),
        )
        .list.drop_nulls()
        .list.join("、")
    )
    missing_en = (
        pl.concat_list(
            pl.when(~pl.col("has_order")).then(pl.lit("order (CEB303)")),
            pl.when(~pl.col("has_waybill")).then(pl.lit("waybill (CEB505)")),
        )
        .list.drop_nulls()
        .list.join(", ")
    )
    refused = pl.col("rule").is_not_null()
    expired = ~refused & ~pl.col("complete") & pl.col("_expired")
    return frame.select(
        "list_key",
        pl.when(refused | expired)
        .then(pl.lit(REFUSED))
        .when(~pl.col("complete"))
        .then(pl.lit(WAITING))
        .otherwise(pl.lit(CONCLUDED))
        .alias("status"),
        pl.when(expired).then(pl.lit("XE")).otherwise(pl.col("rule")).alias("rule"),
        pl.when(expired).then(pl.lit(LIST_MISSING)).otherwise(pl.col("code")).alias("code"),
        pl.when(expired)
        .then(pl.concat_str([pl.lit("单证不齐，超时未收到："), missing_zh]))
        .when(refused)
        .then(pl.col("reason_zh"))
        .when(~pl.col("complete"))
        .then(pl.concat_str([pl.lit("电子口岸申报中，等待"), missing_zh]))
        .otherwise(pl.lit("海关审结"))
        .alias("reason_zh"),
        pl.when(expired)
        .then(pl.concat_str([pl.lit("documents missing when the wait expired: "), missing_en]))
        .when(refused)
        .then(pl.col("reason_en"))
        .when(~pl.col("complete"))
        .then(pl.concat_str([pl.lit("declared; waiting for the "), missing_en]))
        .otherwise(pl.lit("concluded by customs"))
        .alias("reason_en"),
    )


# --- after the decision: arrival, departure, cancellation, master bill -----------------------
def released_by_arrival(lists: pl.DataFrame, arrived: pl.Series) -> pl.DataFrame:
    """Lists concluded (399) whose parcel (``waybill_key``) has arrived at the supervised site → 800."""
    return lists.filter(
        (pl.col("status") == CONCLUDED) & pl.col("waybill_key").is_in(arrived.implode())
    ).select("list_key")


def check_departures(lines: pl.DataFrame, lists: pl.DataFrame) -> pl.DataFrame:
    """Per departure document (``doc``): accepted only if every parcel on it is released (800).

    ``lines``: doc, gnum, waybill_key, logisticsNo; ``lists``: waybill_key, list_key, status (the parcel's
    live list; absent: no list).  Returns doc, ok, code, reason_zh, reason_en.
    """
    joined = lines.join(lists.select("waybill_key", "list_key", "status"), on="waybill_key", how="left")
    bad = joined.filter(pl.col("status").is_null() | (pl.col("status") != RELEASED))
    state_zh = (
        pl.when(pl.col("status").is_null())
        .then(pl.lit("无出口清单"))
        .when(pl.col("status") == CLEARED)
        .then(pl.lit("已离境结关"))
        .when(pl.col("status") == REFUSED)
        .then(pl.lit("清单已退单或撤销"))
        .when(pl.col("status") == CONCLUDED)
        .then(pl.lit("未运抵监管场所"))
        .otherwise(pl.lit("清单未审结"))
    )
    state_en = (
        pl.when(pl.col("status").is_null())
        .then(pl.lit("has no export list"))
        .when(pl.col("status") == CLEARED)
        .then(pl.lit("has already departed"))
        .when(pl.col("status") == REFUSED)
        .then(pl.lit("has its list refused or cancelled"))
        .when(pl.col("status") == CONCLUDED)
        .then(pl.lit("has not arrived at the supervised site"))
        .otherwise(pl.lit("has its list not yet concluded"))
    )
    first_bad = (
        bad.sort("doc", "gnum")
        .group_by("doc", maintain_order=True)
        .agg(
            pl.len().alias("_n"),
            pl.col("logisticsNo").first(),
            state_zh.first().alias("_zh"),
            state_en.first().alias("_en"),
        )
    )
    docs = lines.select("doc").unique(maintain_order=True)
    return docs.join(first_bad, on="doc", how="left").select(
        "doc",
        pl.col("_n").is_null().alias("ok"),
        pl.when(pl.col("_n").is_null()).then(None).otherwise(pl.lit(DEPARTURE_NOT_RELEASED)).alias("code"),
        pl.when(pl.col("_n").is_null())
        .then(pl.lit("离境单审核通过，清单结关"))
        .otherwise(pl.format("离境单有{}个运单未放行，如运单{}{}；整单退回", "_n", "logisticsNo", "_zh"))
        .alias("reason_zh"),
        pl.when(pl.col("_n").is_null())
        .then(pl.lit("departure accepted; the lists are cleared"))
        .otherwise(
            pl.format(
                "{} parcel(s) on the departure are not released, e.g. waybill {} {}; "
                "the whole departure is refused",
                "_n",
                "logisticsNo",
                "_en",
            )
        )
        .alias("reason_en"),
    )


def check_cancels(cancels: pl.DataFrame, lists: pl.DataFrame) -> pl.DataFrame:
    """Per cancellation (``doc``, invtNo, ebcCode, agentCode): the list must exist with the same
    enterprise and declaring agent, and not have departed (899), been refused or cancelled already.

    ``lists``: invt_no, list_key, status, ebc_code, agent_code.  Returns doc, list_key, ok, code, reasons.
    """
    j = cancels.join(
        lists.select(pl.col("invt_no").alias("invtNo"), "list_key", "status", "ebc_code", "agent_code"),
        on="invtNo",
        how="left",
    )
    code = (
        pl.when(pl.col("list_key").is_null())
        .then(pl.lit(CANCEL_NOT_FOUND))
        .when((pl.col("ebcCode") != pl.col("ebc_code")) | (pl.col("agentCode") != pl.col("agent_code")))
        .then(pl.lit(CANCEL_IDENTITY))
        .when(~pl.col("status").is_in([ACCEPTED, CONCLUDED, RELEASED]))
        .then(pl.lit(CANCEL_STATUS))
    )
    state_zh = (
        pl.when(pl.col("status") == CLEARED)
        .then(pl.lit("已离境结关，不能撤销"))
        .when(pl.col("status") == REFUSED)
        .then(pl.lit("已退单或已撤销"))
        .otherwise(pl.lit("尚未入库"))
    )
    state_en = (
        pl.when(pl.col("status") == CLEARED)
        .then(pl.lit("has departed and is cleared; it can no longer be cancelled"))
        .when(pl.col("status") == REFUSED)
        .then(pl.lit("is refused or cancelled already"))
        .otherwise(pl.lit("has not entered customs' system"))
    )
    return j.with_columns(code.alias("code")).select(
        "doc",
        "list_key",
        pl.col("code").is_null().alias("ok"),
        "code",
        pl.when(pl.col("code") == CANCEL_NOT_FOUND)
        .then(pl.format("不存在清单编号为{}的出口清单", "invtNo"))
        .when(pl.col("code") == CANCEL_IDENTITY)
        .then(pl.format("撤销申请的电商企业或申报企业与清单{}不一致", "invtNo"))
        .when(pl.col("code") == CANCEL_STATUS)
        .then(pl.format("清单{}{}", "invtNo", state_zh))
        .otherwise(pl.format("撤销申请审核通过，清单{}已撤销", "invtNo"))
        .alias("reason_zh"),
        pl.when(pl.col("code") == CANCEL_NOT_FOUND)
        .then(pl.format("no export list numbered {}", "invtNo"))
        .when(pl.col("code") == CANCEL_IDENTITY)
        .then(pl.format("the cancellation's ebcCode or agentCode differs from list {}", "invtNo"))
        .when(pl.col("code") == CANCEL_STATUS)
        .then(pl.format("list {} {}", "invtNo", state_en))
        .otherwise(pl.format("cancellation accepted; list {} is cancelled", "invtNo"))
        .alias("reason_en"),
    )


def check_bills(lines: pl.DataFrame, lists: pl.DataFrame) -> pl.DataFrame:
    """Per master/sub-bill document (``doc``): every parcel must have a live export list not yet departed."""
    joined = lines.join(lists.select("waybill_key", "status"), on="waybill_key", how="left")
    bad = joined.filter(pl.col("status").is_null() | pl.col("status").is_in([REFUSED, CLEARED]))
    first_bad = (
        bad.sort("doc", "gnum")
        .group_by("doc", maintain_order=True)
        .agg(pl.col("logisticsNo").first(), pl.col("status").first())
    )
    departed = pl.col("status") == CLEARED
    return (
        lines.select("doc")
        .unique(maintain_order=True)
        .join(first_bad, on="doc", how="left")
        .select(
            "doc",
            pl.col("logisticsNo").is_null().alias("ok"),
            pl.when(pl.col("logisticsNo").is_null())
            .then(None)
            .when(departed)
            .then(pl.lit(BILL_DEPARTED))
            .otherwise(pl.lit(BILL_UNKNOWN))
            .alias("code"),
            pl.when(pl.col("logisticsNo").is_null())
            .then(pl.lit("总分单审核通过"))
            .when(departed)
            .then(pl.format("运单{}已离境，不能再变更总分单", "logisticsNo"))
            .otherwise(pl.format("运单{}无有效的出口清单", "logisticsNo"))
            .alias("reason_zh"),
            pl.when(pl.col("logisticsNo").is_null())
            .then(pl.lit("master/sub-bill accepted"))
            .when(departed)
            .then(pl.format("parcel {} has departed; its master bill can no longer change", "logisticsNo"))
            .otherwise(pl.format("parcel {} has no live export list", "logisticsNo"))
            .alias("reason_en"),
        )
    )


# --- the 9810 pre-refund (离境即退税) -------------------------------------------------------------
def to_fen(value: Decimal) -> int:
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def prerefund_lines(facts: pl.DataFrame, p: ExportParams) -> pl.DataFrame:
    """Flagged 9810 lines with their CNY value and refund rate (the code's, else the default), in fen/e5."""
    rate = pl.col("_refund_rate").fill_null(pl.lit(p.default_refund_rate).cast(pl.Decimal(9, 5)))
    return (
        facts.filter(pl.col("_prerefund"))
        .join(p.fx_frame(), on="currency", how="left")
        .select(
            "list_key",
            pl.col("gnum").cast(pl.Int64),
            pl.col("_gcode").alias("gcode"),
            (pl.col("qty").cast(MONEY) * 100_000).round(0).cast(pl.Int64).alias("qty_e5"),
            (pl.col("totalPrice").cast(MONEY) * pl.col("_cny_rate").fill_null(Decimal(0)).cast(MONEY) * 100)
            .round(0)
            .cast(pl.Int64)
            .alias("value_fen"),
            (rate.cast(pl.Decimal(9, 5)) * 10_000).round(0).cast(pl.Int64).alias("refund_rate_bp"),
        )
    )


def provisional_fen(value_fen: int, rate_bp: int) -> int:
    """The provisional refund at departure: value × rate, to the fen (half up)."""
    return to_fen(Decimal(value_fen) * Decimal(rate_bp) / Decimal(1_000_000))


@dataclass(frozen=True)
class RefundLine:
    qty_e5: int
    provisional_fen: int
    sold_e5: int
    returned_e5: int
    repaid_fen: int


class TrueUpRefused(ValueError):
    """The sale or return cannot be recorded on this line; ``zh``/``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def true_up(line: RefundLine, kind: str, qty_e5: int) -> tuple[int, int]:
    """Record ``qty_e5`` sold or returned on a pre-refunded line; returns (sold or returned e5, repay fen).

    A sale confirms the provisional refund of that share (nothing to repay); goods brought back unsold repay
    their share of it (§7.4: a refund obtained must be repaid when goods come back).  The share is the
    returned fraction of the provisional refund; the return that completes the line repays exactly what is
    left, so the shares always add up to the refund.
    """
    if kind not in ("sold", "returned"):
        raise TrueUpRefused(f"未知的核销类型{kind}", f"unknown true-up kind {kind!r} (sold or returned)")
    if qty_e5 <= 0:
        raise TrueUpRefused("数量须大于0", "the quantity must be positive")
    left = line.qty_e5 - line.sold_e5 - line.returned_e5
    if qty_e5 > left:
        raise TrueUpRefused(
            f"数量{qty_e5 / 100000:g}超过未核销数量{left / 100000:g}",
            f"quantity {qty_e5 / 100000:g} exceeds what is still open ({left / 100000:g})",
        )
    if kind == "sold":
        return qty_e5, 0
    # cumulative shares: what all returns so far owe, less what was repaid before (sums to the refund)
    owed = to_fen(Decimal(line.provisional_fen) * (line.returned_e5 + qty_e5) / line.qty_e5 / 100)
    return qty_e5, max(0, min(owed, line.provisional_fen) - line.repaid_fen)
