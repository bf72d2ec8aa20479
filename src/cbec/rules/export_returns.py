"""Export returns (跨境电商零售出口退货): the CEB213 application, the CEB215 tally, cross-district
re-entry and the tax on returned exports, in Polars.

Pure: frames in, frames out; :mod:`cbec.engine.export_returns` is the shell.  Facts: regime reference §7.2
(A-2020-44), §7.3 (A-2024-167 pilot, the 2026-04-01 nationwide rule), §7.4 (MOF-2023-4, its extension,
MOF-2026-16), §7.5 (consolidation, 退货合包) and the CEB213/214/215/216/607 field tables of §2.5.

The return application (CEB213 → CEB214)::

    213 ──▶ 120 accepted (海关入库: the quantities are reserved) ──▶ 800 released (放行: its parcel tallied)
     └────▶ 100 refused (first failing check below, with its code and reason in 中文 / English)

Checks, in order (the first that fails decides; every code is cbec's own, −2139xx, the spec has none):

* ``RF`` −213909: ``appType`` 1, ``ieFlag`` I (export-return documents use I, §3.1), ``country`` not China;
* ``RN`` −213901: the original list (``invtNo``) is one cbec cleared;
* ``RI`` −213905: ``ebpCode`` and ``ebcCode`` equal the original list's (§2.5: "must equal");
* ``RS`` −213902: the original list is released (800) or cleared (899);
* ``RM`` −213903: its trade mode may use the procedure (``export.retail.return.trade_modes``: 9610, 1210,
  9810 — 9710 is not named by A-2020-44);
* ``RW`` −213904: within ``export.retail.return.reentry_years`` (1) of the original release (800);
* ``RX`` −213908: a *cross-district* return — the directly-under district (first two digits) of the
  application's ``customsCode`` (the customs of re-entry) differs from the original list's — is allowed
  only from 2024-12-15 (pilot: re-entry district in ``…cross_district.pilot_districts``, a partial list),
  from 2026-04-01 everywhere, and for the modes of ``…cross_district.trade_modes`` (9610) only;
* ``RL`` −213906: at least one line; each ``gnum`` once, on the original list, same ``gcode`` and unit, a
  positive quantity;
* ``RQ`` −213907: per line, ``qty``/``qty1``/``qty2`` never above the original less what accepted returns
  took.  Applications of one batch count in batch order; one refused for quantity does not count for the
  next (:func:`check_applications` settles them in rounds).

The tally (CEB215 → CEB216) is matched to applications by the return waybill (``logisticsCode|logisticsNo``):
without an accepted application it waits (2); with one it is tallied (399) and the application released
(800) — unless ``−215903`` the tally is at a customs of another district than the application's,
``−215905`` its ``invtNo`` names another list, or ``−215902`` the return is cross-district and the site
(``customsCode`` + ``operatorCode``) is not filed as a CBEC-export site with an independent return area
valid that day (``…cross_district.site_required``).  Fields wrong: ``−215901``; the parcel tallied twice:
``−215904``.

Tax (:func:`tax_outcome`): a returned line is exempt from import duty, VAT and consumption tax when its
original export date (``leave_time``, else the release) lies in a window of
``export.retail.return.tax_exemption_months`` (MOF-2023-4, its extension, MOF-2026-16), the goods come back
within that many months of it, its mode is in ``…tax_exemption_trade_modes`` and it is not food
(``…tax_exemption_excluded_hs_chapters``, an approximation).  "Original state" (原状) is the enterprise's
guarantee (A-2020-44), not something cbec can see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from cbec.params.dated import ParameterNotInForce, ParameterSet

ACCEPTED, RELEASED, REFUSED, WAITING, TALLIED = 120, 800, 100, 2, 399
RETURNABLE_LIST_STATUSES = (800, 899)

RETURN_FIELDS = "-213909"
RETURN_NO_LIST = "-213901"
RETURN_STATUS = "-213902"
RETURN_MODE = "-213903"
RETURN_WINDOW = "-213904"
RETURN_IDENTITY = "-213905"
RETURN_LINES = "-213906"
RETURN_QUANTITY = "-213907"
RETURN_CROSS_DISTRICT = "-213908"
RETURN_DUPLICATE = "-213910"
TALLY_FIELDS = "-215901"
TALLY_SITE = "-215902"
TALLY_DISTRICT = "-215903"
TALLY_DUPLICATE = "-215904"
TALLY_LIST = "-215905"
BILL_RETURN_LIST = "-607903"

RULE_ORDER = ("RF", "RN", "RI", "RS", "RM", "RW", "RX", "RL", "RQ")
CODES = {
    "RF": RETURN_FIELDS,
    "RN": RETURN_NO_LIST,
    "RI": RETURN_IDENTITY,
    "RS": RETURN_STATUS,
    "RM": RETURN_MODE,
    "RW": RETURN_WINDOW,
    "RX": RETURN_CROSS_DISTRICT,
    "RL": RETURN_LINES,
    "RQ": RETURN_QUANTITY,
}
CHINA = "142"
E5 = 100_000

VERDICT_SCHEMA = pl.Schema(
    {
        "doc": pl.Int64(),
        "rule": pl.String(),
        "code": pl.String(),
        "reason_zh": pl.String(),
        "reason_en": pl.String(),
    }
)


def _periods(params: ParameterSet, name: str) -> list[tuple[date, date | None, object, str]]:
    return [(v.start, v.end, v.value, v.reference.source) for v in params.history(name)]


@dataclass(frozen=True)
class ReturnParams:
    """The dated parameters one clearing day needs (read once: rules never look values up per row)."""

    on: date
    reentry_years: int
    trade_modes: tuple[str, ...]
    coverage: str  # "none" (before 2024-12-15), "pilot", "nationwide"
    coverage_source: str
    cross_modes: tuple[str, ...]
    pilot_districts: tuple[str, ...]
    site_required: bool
    #: (from, to, months, modes, source) of every tax-exemption window, by original export date
    tax_windows: tuple[tuple[date, date | None, int, tuple[str, ...], str], ...]
    #: (from, to, chapters) of the food exclusion, by original export date
    food_chapters: tuple[tuple[date, date | None, tuple[str, ...]], ...]

    @classmethod
    def at(cls, params: ParameterSet, on: date) -> ReturnParams:
        def opt_str(name: str) -> tuple[str, str]:
            try:
                return params.str_at(name, on), params.reference_at(name, on).source
            except ParameterNotInForce:
                return "none", ""

        def opt_strings(name: str) -> tuple[str, ...]:
            try:
                return params.strings_at(name, on)
            except ParameterNotInForce:
                return ()

        def opt_bool(name: str) -> bool:
            try:
                return params.bool_at(name, on)
            except ParameterNotInForce:
                return False

        coverage, source = opt_str("export.retail.return.cross_district.coverage")
        months = {
            (s, e): (int(str(v)), src)
            for s, e, v, src in _periods(params, "export.retail.return.tax_exemption_months")
        }
        modes = {
            (s, e): tuple(str(x) for x in v) if isinstance(v, tuple) else ()
            for s, e, v, _src in _periods(params, "export.retail.return.tax_exemption_trade_modes")
        }
        windows = tuple((s, e, m, modes.get((s, e), ()), src) for (s, e), (m, src) in sorted(months.items()))
        food = tuple(
            (s, e, tuple(str(x) for x in v) if isinstance(v, tuple) else ())
            for s, e, v, _src in _periods(params, "export.retail.return.tax_exemption_excluded_hs_chapters")
        )
        try:  # before A-2020-44 there is no export return procedure: every application is refused (RM)
            years, modes_in_force = (
                params.int_at("export.retail.return.reentry_years", on),
                params.strings_at("export.retail.return.trade_modes", on),
            )
        except ParameterNotInForce:
            years, modes_in_force = 0, ()
        return cls(
            on=on,
            reentry_years=years,
            trade_modes=modes_in_force,
            coverage=coverage,
            coverage_source=source,
            cross_modes=opt_strings("export.retail.return.cross_district.trade_modes"),
            pilot_districts=opt_strings("export.retail.return.cross_district.pilot_districts"),
            site_required=opt_bool("export.retail.return.cross_district.site_required"),
            tax_windows=windows,
            food_chapters=food,
        )


def district(code: pl.Expr) -> pl.Expr:
    """The directly-under customs district (直属海关) of a 4-digit customs code: its first two digits."""
    return code.cast(pl.String).str.slice(0, 2)


def to_e5(col: pl.Expr) -> pl.Expr:
    """A N19,5 quantity as an exact integer count of 10^-5 units (null stays null)."""
    return (col.cast(pl.Decimal(38, 5)) * E5).round(0).cast(pl.Int64)


def return_bill_messages(bill_lines: pl.DataFrame) -> list[int]:
    """CEB607 messages (``_msg``) that are return master bills (退货合包): every line names an original
    export list in ``invtNo``.  Outbound master bills link parcels by ``logisticsNo`` and leave it empty."""
    if bill_lines.height == 0 or "invtNo" not in bill_lines.columns:
        return []
    named = pl.col("invtNo").cast(pl.String).str.strip_chars().fill_null("") != ""
    return sorted(
        bill_lines.group_by("_msg").agg(named.all().alias("_all")).filter(pl.col("_all"))["_msg"].to_list()
    )


def _cross_reason(p: ReturnParams) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(allowed, reason_zh, reason_en) for a cross-district application on ``p.on``; columns: trade_mode,
    re-entry district ``_d_in`` and export district ``_d_out``."""
    mode_ok = pl.col("trade_mode").is_in(list(p.cross_modes))
    if p.coverage == "nationwide":
        allowed = mode_ok
        zh = pl.format("跨关区退货仅适用于9610模式，原清单为{}", "trade_mode")
        en = pl.format(
            "cross-district returns apply to 9610 exports only; the original list is {}", "trade_mode"
        )
    elif p.coverage == "pilot":
        in_pilot = (pl.col("_d_in") + pl.lit("00")).is_in(list(p.pilot_districts))
        allowed = mode_ok & in_pilot
        zh = (
            pl.when(~mode_ok)
            .then(pl.format("跨关区退货试点仅适用于9610模式，原清单为{}", "trade_mode"))
            .otherwise(
                pl.format(
                    "{}00关区不在跨关区退货试点范围内（海关总署公告2024年第167号；2026-04-01起全国推广）",
                    "_d_in",
                )
            )
        )
        en = (
            pl.when(~mode_ok)
            .then(
                pl.format(
                    "the cross-district pilot covers 9610 exports only; the original list is {}", "trade_mode"
                )
            )
            .otherwise(
                pl.format(
                    "district {}00 is not a cross-district return pilot district (A-2024-167); "
                    "every district may from 2026-04-01",
                    "_d_in",
                )
            )
        )
    else:
        allowed = pl.lit(False)
        zh = pl.format(
            "出口关区{}00与退货关区{}00不同：跨关区退货自2024-12-15起方可试点（海关总署公告2024年第167号）",
            "_d_out",
            "_d_in",
        )
        en = pl.format(
            "exported through district {}00, returning through {}00: cross-district returns are allowed "
            "only from 2024-12-15 (pilot, A-2024-167)",
            "_d_out",
            "_d_in",
        )
    return allowed, zh, en


def check_applications(
    apps: pl.DataFrame,
    lines: pl.DataFrame,
    originals: pl.DataFrame,
    original_lines: pl.DataFrame,
    returned: pl.DataFrame,
    p: ReturnParams,
    now: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decide CEB213 applications, in ``doc`` order.

    ``apps``: doc, invtNo, ebpCode, ebcCode, appType, ieFlag, country, customsCode.
    ``lines``: doc, gnum, gcode, unit, qty, qty1, qty2 (decimals or null).
    ``originals``: invt_no, status, trade_mode, customs_code, ebp_code, ebc_code, released_at (naive UTC).
    ``original_lines``: invt_no, gnum, gcode, unit, qty_e5, qty1_e5, qty2_e5.
    ``returned``: invt_no, gnum, qty_e5, qty1_e5, qty2_e5 — what accepted applications took already.

    Returns (verdict: doc, ok, rule, code, reason_zh, reason_en, cross_district, trade_mode;
    accepted lines: doc, invt_no, gnum, gcode, qty_e5, qty1_e5, qty2_e5, exported_e5).
    """
    heads = apps.with_columns(pl.col("doc").cast(pl.Int64)).join(
        originals.rename({"invt_no": "invtNo"}), on="invtNo", how="left"
    )
    heads = heads.with_columns(
        district(pl.col("customsCode")).alias("_d_in"),
        district(pl.col("customs_code")).alias("_d_out"),
    ).with_columns((pl.col("_d_in") != pl.col("_d_out")).fill_null(False).alias("cross_district"))
    found = pl.col("status").is_not_null()
    deadline = pl.col("released_at").dt.offset_by(f"{p.reentry_years}y")
    cross_ok, cross_zh, cross_en = _cross_reason(p)
    found_lines = with_original(_line_facts(lines, heads), original_lines)

    def v(
        rule: str, mask: pl.Expr, zh: pl.Expr | str, en: pl.Expr | str, frame: pl.DataFrame
    ) -> pl.DataFrame:
        zh_e = pl.lit(zh) if isinstance(zh, str) else zh
        en_e = pl.lit(en) if isinstance(en, str) else en
        return frame.filter(mask.fill_null(True)).select(
            pl.col("doc").cast(pl.Int64),
            pl.lit(rule).alias("rule"),
            pl.lit(CODES[rule]).alias("code"),
            zh_e.alias("reason_zh"),
            en_e.alias("reason_en"),
        )

    violations = [
        v(
            "RF",
            (pl.col("appType").cast(pl.String) != "1")
            | (pl.col("ieFlag") != "I")
            | (pl.col("country").cast(pl.String) == CHINA),
            "退货申请单须为新增（appType=1），ieFlag为I，起运国不能为中国",
            "a return application must be new (appType 1) with ieFlag I, from a country other than China",
            heads,
        ),
        v(
            "RN",
            ~found,
            pl.format("不存在清单编号为{}的已申报出口清单", "invtNo"),
            pl.format("no export list numbered {}", "invtNo"),
            heads,
        ),
        v(
            "RI",
            found & ((pl.col("ebpCode") != pl.col("ebp_code")) | (pl.col("ebcCode") != pl.col("ebc_code"))),
            pl.format("退货申请单的电商平台或电商企业与原清单{}不一致", "invtNo"),
            pl.format("the application's ebpCode or ebcCode differs from original list {}", "invtNo"),
            heads,
        ),
        v(
            "RS",
            found & ~pl.col("status").is_in(list(RETURNABLE_LIST_STATUSES)),
            pl.format("原清单{}状态为{}，未放行出口，不能退货", "invtNo", "status"),
            pl.format(
                "original list {} is at status {}: not released for export, nothing to return",
                "invtNo",
                "status",
            ),
            heads,
        ),
        v(
            "RM",
            found & ~pl.col("trade_mode").is_in(list(p.trade_modes)),
            pl.format("监管方式{}不适用跨境电商出口退货（海关总署公告2020年第44号）", "trade_mode"),
            pl.format("trade mode {} may not use the CBEC export return procedure (A-2020-44)", "trade_mode"),
            heads,
        ),
        v(
            "RW",
            found & (pl.lit(now) > deadline),
            pl.format(
                "原清单{}于{}放行，已超过出口放行之日起{}年的退货期限（海关总署公告2020年第44号）",
                "invtNo",
                pl.col("released_at").dt.date(),
                pl.lit(p.reentry_years),
            ),
            pl.format(
                "original list {} was released on {}: past the {}-year return window (A-2020-44)",
                "invtNo",
                pl.col("released_at").dt.date(),
                pl.lit(p.reentry_years),
            ),
            heads,
        ),
        v("RX", found & pl.col("cross_district") & ~cross_ok, cross_zh, cross_en, heads),
        _line_violations(heads, found_lines),
    ]
    first = _first(pl.concat(violations, how="vertical_relaxed"))
    # quantities, in rounds: an application refused for quantity does not consume what it asked for
    candidates = found_lines.join(first.select("doc"), on="doc", how="anti")
    qty_refused = _quantity_rounds(candidates, original_lines, returned)
    first = _first(pl.concat([first, qty_refused], how="vertical_relaxed"))
    verdict = heads.select("doc", "cross_district", "trade_mode").join(first, on="doc", how="left")
    verdict = verdict.with_columns(pl.col("rule").is_null().alias("ok"))
    ok_docs = verdict.filter(pl.col("ok")).select("doc")
    accepted = (
        candidates.join(ok_docs, on="doc", how="semi")
        .join(
            original_lines.select(
                pl.col("invt_no").alias("invtNo"), "gnum", pl.col("qty_e5").alias("exported_e5")
            ),
            on=["invtNo", "gnum"],
            how="left",
        )
        .select(
            "doc",
            pl.col("invtNo").alias("invt_no"),
            "gnum",
            "gcode",
            "qty_e5",
            "qty1_e5",
            "qty2_e5",
            "exported_e5",
        )
    )
    return verdict, accepted


def _first(violations: pl.DataFrame) -> pl.DataFrame:
    order = {r: i for i, r in enumerate(RULE_ORDER)}
    if violations.height == 0:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    return (
        violations.with_columns(pl.col("rule").replace_strict(order, return_dtype=pl.Int32).alias("_o"))
        .sort("doc", "_o")
        .unique("doc", keep="first", maintain_order=True)
        .drop("_o")
    )


def _line_facts(lines: pl.DataFrame, heads: pl.DataFrame) -> pl.DataFrame:
    schema = {"doc": pl.Int64(), "gnum": pl.Int64(), "gcode": pl.String(), "unit": pl.String()}
    if lines.height == 0:
        frame = pl.DataFrame(
            schema=schema | {"qty_e5": pl.Int64(), "qty1_e5": pl.Int64(), "qty2_e5": pl.Int64()}
        )
    else:
        frame = lines.select(
            pl.col("doc").cast(pl.Int64),
            pl.col("gnum").cast(pl.Int64),
            pl.col("gcode").cast(pl.String),
            pl.col("unit").cast(pl.String),
            to_e5(pl.col("qty")).alias("qty_e5"),
            to_e5(pl.col("qty1")).alias("qty1_e5"),
            to_e5(pl.col("qty2")).alias("qty2_e5")
            if "qty2" in lines.columns
            else pl.lit(None, pl.Int64).alias("qty2_e5"),
        )
    return frame.join(heads.select("doc", "invtNo"), on="doc", how="inner")


def _line_violations(heads: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """RL: lines present, each gnum once, on the original list with its gcode and unit, quantities > 0
    (``lines`` carry the original line's ``_orig_gcode``/``_orig_unit``, see :func:`with_original`)."""
    no_lines = heads.join(lines.select("doc").unique(), on="doc", how="anti").select(
        pl.col("doc").cast(pl.Int64),
        pl.lit("RL").alias("rule"),
        pl.lit(RETURN_LINES).alias("code"),
        pl.lit("退货申请单无表体").alias("reason_zh"),
        pl.lit("the application has no lines").alias("reason_en"),
    )
    dup = pl.col("gnum").is_duplicated().over("doc")
    bad = lines.filter(
        dup
        | pl.col("_orig_gcode").is_null()
        | (pl.col("gcode") != pl.col("_orig_gcode"))
        | (pl.col("unit") != pl.col("_orig_unit"))
        | ~(pl.col("qty_e5") > 0).fill_null(False)
    )
    why_zh = (
        pl.when(dup)
        .then(pl.format("表体第{}项重复", "gnum"))
        .when(pl.col("_orig_gcode").is_null())
        .then(pl.format("原清单{}无第{}项", "invtNo", "gnum"))
        .when(pl.col("gcode") != pl.col("_orig_gcode"))
        .then(pl.format("第{}项商品编码{}与原清单{}不一致", "gnum", "gcode", "_orig_gcode"))
        .when(pl.col("unit") != pl.col("_orig_unit"))
        .then(pl.format("第{}项计量单位{}与原清单{}不一致", "gnum", "unit", "_orig_unit"))
        .otherwise(pl.format("第{}项退货数量须大于0", "gnum"))
    )
    why_en = (
        pl.when(dup)
        .then(pl.format("line {} appears twice", "gnum"))
        .when(pl.col("_orig_gcode").is_null())
        .then(pl.format("original list {} has no line {}", "invtNo", "gnum"))
        .when(pl.col("gcode") != pl.col("_orig_gcode"))
        .then(pl.format("line {}: HS code {} differs from the original {}", "gnum", "gcode", "_orig_gcode"))
        .when(pl.col("unit") != pl.col("_orig_unit"))
        .then(pl.format("line {}: unit {} differs from the original {}", "gnum", "unit", "_orig_unit"))
        .otherwise(pl.format("line {}: the returned quantity must be positive", "gnum"))
    )
    per_line = (
        bad.sort("doc", "gnum")
        .select(
            pl.col("doc").cast(pl.Int64),
            pl.lit("RL").alias("rule"),
            pl.lit(RETURN_LINES).alias("code"),
            why_zh.alias("reason_zh"),
            why_en.alias("reason_en"),
        )
        .unique("doc", keep="first", maintain_order=True)
    )
    return pl.concat([no_lines, per_line], how="vertical_relaxed")


def with_original(lines: pl.DataFrame, original_lines: pl.DataFrame) -> pl.DataFrame:
    """Application lines (doc, invtNo, gnum …) with the original line's gcode and unit as ``_orig_*``."""
    return lines.join(
        original_lines.select(
            pl.col("invt_no").alias("invtNo"),
            "gnum",
            pl.col("gcode").alias("_orig_gcode"),
            pl.col("unit").alias("_orig_unit"),
        ),
        on=["invtNo", "gnum"],
        how="left",
    )


def _quantity_rounds(
    candidates: pl.DataFrame, original_lines: pl.DataFrame, returned: pl.DataFrame
) -> pl.DataFrame:
    """RQ refusals: per (list, line) and per quantity column, the cumulative sum in ``doc`` order plus what
    was returned before must stay within the export.  The first application over is refused and left out,
    then the rest are summed again (a refused application takes nothing)."""
    if candidates.height == 0:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    base = candidates.join(
        original_lines.select(
            pl.col("invt_no").alias("invtNo"),
            "gnum",
            pl.col("qty_e5").alias("_x"),
            pl.col("qty1_e5").alias("_x1"),
            pl.col("qty2_e5").alias("_x2"),
        ),
        on=["invtNo", "gnum"],
        how="left",
    ).join(
        returned.select(
            pl.col("invt_no").alias("invtNo"),
            "gnum",
            pl.col("qty_e5").alias("_r"),
            pl.col("qty1_e5").alias("_r1"),
            pl.col("qty2_e5").alias("_r2"),
        ),
        on=["invtNo", "gnum"],
        how="left",
    )
    base = base.with_columns(pl.col("_r", "_r1", "_r2").fill_null(0))
    refused: list[pl.DataFrame] = []
    live = base.sort("doc", "gnum")
    while live.height:
        summed = live.with_columns(
            (pl.col(q).fill_null(0).cum_sum().over("invtNo", "gnum") + pl.col(r)).alias(f"_c{q}")
            for q, r in (("qty_e5", "_r"), ("qty1_e5", "_r1"), ("qty2_e5", "_r2"))
        )
        over = summed.filter(
            (pl.col("_cqty_e5") > pl.col("_x"))
            | (pl.col("_cqty1_e5") > pl.col("_x1").fill_null(pl.col("_cqty1_e5")))
            | (pl.col("_cqty2_e5") > pl.col("_x2").fill_null(pl.col("_cqty2_e5")))
        )
        if over.height == 0:
            break
        first_doc = over["doc"].min()
        row = over.filter(pl.col("doc") == first_doc).head(1)
        left = row.select(
            pl.col("doc"),
            pl.lit("RQ").alias("rule"),
            pl.lit(RETURN_QUANTITY).alias("code"),
            pl.format(
                "原清单{}第{}项退货数量{}超过可退数量{}（出口数量{}，已退{}）",
                "invtNo",
                "gnum",
                _fmt("qty_e5"),
                _fmt_expr(pl.col("_x") - pl.col("_cqty_e5") + pl.col("qty_e5")),
                _fmt("_x"),
                _fmt_expr(pl.col("_cqty_e5") - pl.col("qty_e5")),
            ).alias("reason_zh"),
            pl.format(
                "original list {} line {}: returned quantity {} exceeds what may still be returned {} "
                "(exported {}, returned already {})",
                "invtNo",
                "gnum",
                _fmt("qty_e5"),
                _fmt_expr(pl.col("_x") - pl.col("_cqty_e5") + pl.col("qty_e5")),
                _fmt("_x"),
                _fmt_expr(pl.col("_cqty_e5") - pl.col("qty_e5")),
            ).alias("reason_en"),
        )
        refused.append(left)
        live = live.filter(pl.col("doc") != first_doc)
    if not refused:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    return pl.concat(refused, how="vertical_relaxed").with_columns(pl.col("doc").cast(pl.Int64))


def _fmt(col: str) -> pl.Expr:
    return _fmt_expr(pl.col(col))


def _fmt_expr(e5: pl.Expr) -> pl.Expr:
    """An e5 integer quantity as a short decimal ("2", "1.5")."""
    whole = (e5 // E5).cast(pl.String)
    frac = (e5 % E5).cast(pl.String).str.zfill(5).str.strip_chars_end("0")
    return pl.when(frac == "").then(whole).otherwise(pl.concat_str([whole, pl.lit("."), frac]))


def check_tallies(
    tallies: pl.DataFrame, apps: pl.DataFrame, sites: pl.DataFrame, p: ReturnParams, on: date
) -> pl.DataFrame:
    """Match tallies to accepted applications by return waybill and judge each pair.

    ``tallies``: tally_id, waybill_key, customs_code, operator_code, invt_no (nullable).
    ``apps``: app_guid, waybill_key, invt_no, customs_code, cross_district.
    ``sites``: customs_code, operator_code, cbec_export, return_area, data_open, valid_from, valid_to (dates).
    Returns per tally: tally_id, matched (any application), ok, code, reason_zh, reason_en and the list of
    ``app_guid`` it releases.
    """
    pairs = tallies.join(
        apps.rename({"invt_no": "_app_invt", "customs_code": "_app_customs"}), on="waybill_key", how="inner"
    )
    registered = sites.filter(
        pl.col("cbec_export")
        & pl.col("return_area")
        & pl.col("data_open")
        & (pl.col("valid_from") <= on)
        & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= on))
    ).select("customs_code", "operator_code", pl.lit(True).alias("_site_ok"))
    pairs = pairs.join(
        registered.unique(["customs_code", "operator_code"]), on=["customs_code", "operator_code"], how="left"
    )
    named = pl.col("invt_no").is_not_null() & (pl.col("invt_no") != "")
    code = (
        pl.when(district(pl.col("customs_code")) != district(pl.col("_app_customs")))
        .then(pl.lit(TALLY_DISTRICT))
        .when(p.site_required & pl.col("cross_district") & pl.col("_site_ok").is_null())
        .then(pl.lit(TALLY_SITE))
    )
    pairs = pairs.with_columns(code.alias("code"))
    # a tally naming a list must name one of the parcel's applications
    listed = pairs.group_by("tally_id").agg(
        (pl.col("_app_invt") == pl.col("invt_no")).any().alias("_names_one"), named.first().alias("_named")
    )
    per = (
        pairs.sort("tally_id", "code", nulls_last=True)
        .group_by("tally_id", maintain_order=True)
        .agg(
            pl.col("code").first(),
            pl.col("customs_code").first(),
            pl.col("operator_code").first(),
            pl.col("_app_customs").first(),
            pl.col("app_guid").sort().alias("app_guids"),
        )
        .join(listed, on="tally_id")
        .with_columns(
            pl.when(pl.col("code").is_null() & pl.col("_named") & ~pl.col("_names_one"))
            .then(pl.lit(TALLY_LIST))
            .otherwise(pl.col("code"))
            .alias("code")
        )
    )
    zh = (
        pl.when(pl.col("code") == TALLY_DISTRICT)
        .then(pl.format("理货海关{}与退货申请海关{}不在同一关区", "customs_code", "_app_customs"))
        .when(pl.col("code") == TALLY_SITE)
        .then(
            pl.format(
                "跨关区退货只能退至已备案开展跨境电商零售出口业务、具备独立退货作业区的监管场所；"
                "{}关区经营人{}的场所未备案",
                "customs_code",
                "operator_code",
            )
        )
        .when(pl.col("code") == TALLY_LIST)
        .then(pl.lit("理货明细的清单编号与该运单的退货申请不一致"))
        .otherwise(pl.lit("理货完成，退货商品已运抵"))
    )
    en = (
        pl.when(pl.col("code") == TALLY_DISTRICT)
        .then(
            pl.format(
                "tallied at customs {}, outside the district of the application's customs {}",
                "customs_code",
                "_app_customs",
            )
        )
        .when(pl.col("code") == TALLY_SITE)
        .then(
            pl.format(
                "a cross-district return may only go into a site filed as a CBEC-export site with an "
                "independent return area; the site of operator {} at customs {} is not",
                "operator_code",
                "customs_code",
            )
        )
        .when(pl.col("code") == TALLY_LIST)
        .then(pl.lit("the tally's invtNo is not the list of this parcel's return application"))
        .otherwise(pl.lit("tallied; the returned goods have arrived"))
    )
    return per.select(
        "tally_id",
        pl.col("code").is_null().alias("ok"),
        "code",
        zh.alias("reason_zh"),
        en.alias("reason_en"),
        "app_guids",
    )


def tax_outcome(lines: pl.DataFrame, p: ReturnParams, returned_on: date) -> pl.DataFrame:
    """The tax treatment of returned lines (MOF-2023-4, its extension, MOF-2026-16), as data per line.

    ``lines``: any columns plus gcode, trade_mode, export_date (date).  Adds ``tax_exempt`` (bool),
    ``tax_basis`` (exempt / food / mode / window / no_policy), ``tax_source`` and ``tax_reason_zh/en``.
    """
    windows = pl.DataFrame(
        [
            {"_w": i, "_from": s, "_to": e, "_months": m, "_modes": list(modes), "_src": src}
            for i, (s, e, m, modes, src) in enumerate(p.tax_windows)
        ],
        schema={
            "_w": pl.Int64(),
            "_from": pl.Date(),
            "_to": pl.Date(),
            "_months": pl.Int64(),
            "_modes": pl.List(pl.String()),
            "_src": pl.String(),
        },
    )
    food = pl.DataFrame(
        [{"_ff": s, "_ft": e, "_ch": list(ch)} for s, e, ch in p.food_chapters],
        schema={"_ff": pl.Date(), "_ft": pl.Date(), "_ch": pl.List(pl.String())},
    )
    keyed = lines.with_row_index("_row")
    win = (
        keyed.select("_row", "export_date")
        .join(windows, how="cross")
        .filter(
            (pl.col("export_date") >= pl.col("_from"))
            & (pl.col("_to").is_null() | (pl.col("export_date") <= pl.col("_to")))
        )
        .unique("_row", keep="first")
        .drop("export_date")
    )
    fd = (
        keyed.select("_row", "export_date")
        .join(food, how="cross")
        .filter(
            (pl.col("export_date") >= pl.col("_ff"))
            & (pl.col("_ft").is_null() | (pl.col("export_date") <= pl.col("_ft")))
        )
        .unique("_row", keep="first")
        .select("_row", "_ch")
    )
    out = keyed.join(win, on="_row", how="left").join(fd, on="_row", how="left")
    deadline = pl.col("export_date").dt.offset_by(pl.format("{}mo", pl.col("_months")))
    is_food = pl.col("_ch").list.contains(pl.col("gcode").cast(pl.String).str.slice(0, 2)).fill_null(False)
    basis = (
        pl.when(pl.col("_w").is_null())
        .then(pl.lit("no_policy"))
        .when(~pl.col("_modes").list.contains(pl.col("trade_mode")).fill_null(False))
        .then(pl.lit("mode"))
        .when(is_food)
        .then(pl.lit("food"))
        .when(pl.lit(returned_on) > deadline)
        .then(pl.lit("window"))
        .otherwise(pl.lit("exempt"))
    )
    out = out.with_columns(basis.alias("tax_basis"))
    zh = (
        pl.when(pl.col("tax_basis") == "exempt")
        .then(
            pl.format(
                "出口之日{}起{}个月内原状退运进境：免征进口关税和进口环节增值税、消费税（{}）",
                "export_date",
                "_months",
                "_src",
            )
        )
        .when(pl.col("tax_basis") == "food")
        .then(pl.lit("食品不适用退货免税，照章征税"))
        .when(pl.col("tax_basis") == "mode")
        .then(pl.format("监管方式{}不适用退货免税，照章征税", "trade_mode"))
        .when(pl.col("tax_basis") == "window")
        .then(pl.format("超过出口之日{}起{}个月，照章征税", "export_date", "_months"))
        .otherwise(pl.format("出口日期{}不在退货免税政策期内，照章征税", "export_date"))
    )
    en = (
        pl.when(pl.col("tax_basis") == "exempt")
        .then(
            pl.format(
                "returned within {} months of export on {}: "
                "exempt from import duty, import VAT and consumption tax ({})",
                "_months",
                "export_date",
                "_src",
            )
        )
        .when(pl.col("tax_basis") == "food")
        .then(pl.lit("food is excluded from the returned-goods exemption: taxed as usual"))
        .when(pl.col("tax_basis") == "mode")
        .then(pl.format("trade mode {} is not covered by the exemption: taxed as usual", "trade_mode"))
        .when(pl.col("tax_basis") == "window")
        .then(pl.format("more than {} months after export on {}: taxed as usual", "_months", "export_date"))
        .otherwise(
            pl.format("export date {} lies outside every exemption period: taxed as usual", "export_date")
        )
    )
    return (
        out.with_columns(
            (pl.col("tax_basis") == "exempt").alias("tax_exempt"),
            pl.col("_src").fill_null("").alias("tax_source"),
            zh.alias("tax_reason_zh"),
            en.alias("tax_reason_en"),
        )
        .sort("_row")
        .drop("_row", "_w", "_from", "_to", "_months", "_modes", "_src", "_ch")
    )


def bill_lines_verdict(lines: pl.DataFrame, lists: pl.DataFrame, p: ReturnParams) -> pl.DataFrame:
    """Per return master bill (``doc``): every parcel's ``invtNo`` names an export list released or cleared,
    of a mode that may use the return procedure.  ``lists``: invt_no, status, trade_mode."""
    joined = lines.join(
        lists.select(pl.col("invt_no").alias("invtNo"), "status", "trade_mode"), on="invtNo", how="left"
    )
    bad = joined.filter(
        pl.col("status").is_null()
        | ~pl.col("status").is_in(list(RETURNABLE_LIST_STATUSES))
        | ~pl.col("trade_mode").is_in(list(p.trade_modes))
    )
    first_bad = (
        bad.sort("doc", "gnum")
        .group_by("doc", maintain_order=True)
        .agg(pl.col("invtNo").first(), pl.col("logisticsNo").first())
    )
    return (
        lines.select("doc")
        .unique(maintain_order=True)
        .join(first_bad, on="doc", how="left")
        .select(
            "doc",
            pl.col("invtNo").is_null().alias("ok"),
            pl.when(pl.col("invtNo").is_null()).then(None).otherwise(pl.lit(BILL_RETURN_LIST)).alias("code"),
            pl.when(pl.col("invtNo").is_null())
            .then(pl.lit("退货合包总分单审核通过"))
            .otherwise(
                pl.format("退货包裹{}的原出口清单{}不存在、未放行或不适用退货", "logisticsNo", "invtNo")
            )
            .alias("reason_zh"),
            pl.when(pl.col("invtNo").is_null())
            .then(pl.lit("consolidated return master bill accepted"))
            .otherwise(
                pl.format(
                    "return parcel {}: original export list {} is unknown, not released or not returnable",
                    "logisticsNo",
                    "invtNo",
                )
            )
            .alias("reason_en"),
        )
    )


def cumulative_within(exported: Sequence[int], requests: Sequence[Sequence[int]]) -> list[bool]:
    """Reference model for tests: the requests (per-line quantities, in order) a sequential clerk accepts."""
    left = list(exported)
    out = []
    for req in requests:
        ok = all(q <= left[i] for i, q in enumerate(req))
        if ok:
            left = [left[i] - q for i, q in enumerate(req)]
        out.append(ok)
    return out
