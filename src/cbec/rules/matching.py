"""Three-document matching (三单对碰): the list against its order, payment and waybill.

Pure and vectorised: every function takes Polars frames and returns frames.  The keys and rules are those of
the regime reference §4.1–§4.2: list ↔ order on (ebpCode, orderNo) with ebcCode agreeing, list ↔ waybill on
(logisticsCode, logisticsNo), payment ↔ order on (ebpCode, orderNo); rules M1–M8 compare amounts, parties and
lines.  A failed rule becomes a *violation* row (list_key, rule, code, reason in Chinese and English); the
decision step picks the first by rule order.  Tolerances are parameters; the default is exact, as the spec
says.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

VIOLATION_SCHEMA = pl.Schema(
    {
        "list_key": pl.String(),
        "rule": pl.String(),
        "code": pl.String(),
        "reason_zh": pl.String(),
        "reason_en": pl.String(),
    }
)
# The spec has no dedicated negative code per matching rule; customs answers such a list with status 100 and
# a reason.  -621001 "清单报文校验失败，[*]" (list failed validation: [*]) is the closest catalogue entry.
MATCH_CODE = "-621001"


@dataclass(frozen=True)
class MatchingTolerance:
    """Allowed absolute differences (CNY); zero means exact, the spec's own rule."""

    amount: Decimal = Decimal("0")
    line_amount: Decimal = Decimal("0")


def order_key(ebp: str | pl.Expr = "ebpCode", order_no: str | pl.Expr = "orderNo") -> pl.Expr:
    e = pl.col(ebp) if isinstance(ebp, str) else ebp
    o = pl.col(order_no) if isinstance(order_no, str) else order_no
    return pl.concat_str([e, o], separator="|")


def waybill_key(code: str = "logisticsCode", number: str = "logisticsNo") -> pl.Expr:
    return pl.concat_str([pl.col(code), pl.col(number)], separator="|")


def link_sets(
    lists: pl.DataFrame, orders: pl.DataFrame, payments: pl.DataFrame, waybills: pl.DataFrame
) -> pl.DataFrame:
    """One row per list with the keys of the documents it needs and whether each is present.

    ``lists`` must carry ``list_key`` (= ebpCode|orderNo) and ``waybill_key``; the others carry
    ``order_key`` / ``waybill_key`` as built by :func:`order_key` / :func:`waybill_key`.
    """
    base = lists.select("list_key", "waybill_key")
    has_order = orders.select(pl.col("order_key").alias("list_key"), pl.lit(True).alias("has_order"))
    has_payment = payments.select(pl.col("order_key").alias("list_key"), pl.lit(True).alias("has_payment"))
    has_waybill = waybills.select("waybill_key", pl.lit(True).alias("has_waybill"))
    out = (
        base.join(has_order.unique("list_key"), on="list_key", how="left")
        .join(has_payment.unique("list_key"), on="list_key", how="left")
        .join(has_waybill.unique("waybill_key"), on="waybill_key", how="left")
        .with_columns(pl.col("has_order", "has_payment", "has_waybill").fill_null(False))
    )
    return out.with_columns(
        (pl.col("has_order") & pl.col("has_payment") & pl.col("has_waybill")).alias("complete")
    )


def violation(
    frame: pl.DataFrame,
    mask: pl.Expr,
    rule: str,
    zh: pl.Expr | str,
    en: pl.Expr | str,
    code: str = MATCH_CODE,
) -> pl.DataFrame:
    """The lists where ``mask`` holds (or cannot be evaluated), as violation rows of ``rule``."""
    zh_e = pl.lit(zh) if isinstance(zh, str) else zh
    en_e = pl.lit(en) if isinstance(en, str) else en
    return frame.filter(mask.fill_null(True)).select(
        pl.col("list_key"),
        pl.lit(rule).alias("rule"),
        pl.lit(code).alias("code"),
        zh_e.alias("reason_zh"),
        en_e.alias("reason_en"),
    )


def _differs(a: str, b: str, tol: Decimal) -> pl.Expr:
    return (pl.col(a) - pl.col(b)).abs() > pl.lit(tol)


def check_sets(
    lists: pl.DataFrame,
    list_lines: pl.DataFrame,
    orders: pl.DataFrame,
    order_lines: pl.DataFrame,
    payments: pl.DataFrame,
    waybills: pl.DataFrame,
    tolerance: MatchingTolerance | None = None,
) -> pl.DataFrame:
    """Violations of M1–M8 for complete sets (each list joined with its order, payment and waybill)."""
    tol = tolerance or MatchingTolerance()
    o = orders.select(
        pl.col("order_key").alias("list_key"),
        pl.col("ebcCode").alias("o_ebcCode"),
        pl.col("goodsValue").alias("o_goodsValue"),
        pl.col("freight").alias("o_freight"),
        pl.col("discount").alias("o_discount"),
        pl.col("taxTotal").alias("o_taxTotal"),
        pl.col("acturalPaid").alias("o_acturalPaid"),
        pl.col("buyerIdNumber").alias("o_buyerIdNumber"),
        pl.col("buyerName").alias("o_buyerName"),
        pl.col("buyerTelephone").alias("o_buyerTelephone"),
        pl.col("consignee").alias("o_consignee"),
        pl.col("consigneeTelephone").alias("o_consigneeTelephone"),
        pl.col("consigneeAddress").alias("o_consigneeAddress"),
        pl.col("payCode").alias("o_payCode"),
        pl.col("payTransactionId").alias("o_payTransactionId"),
    ).unique("list_key", keep="first")
    p = payments.select(
        pl.col("order_key").alias("list_key"),
        pl.col("payCode").alias("p_payCode"),
        pl.col("payTransactionId").alias("p_payTransactionId"),
        pl.col("payerIdNumber").alias("p_payerIdNumber"),
        pl.col("payerName").alias("p_payerName"),
        pl.col("amountPaid").alias("p_amountPaid"),
    ).unique("list_key", keep="first")
    w = waybills.select(
        "waybill_key",
        pl.col("consignee").alias("w_consignee"),
        pl.col("consigneeTelephone").alias("w_consigneeTelephone"),
        pl.col("consigneeAddress").alias("w_consigneeAddress"),
        pl.col("freight").alias("w_freight"),
        pl.col("packNo").alias("w_packNo"),
        pl.col("orderNo").alias("w_orderNo"),
    ).unique("waybill_key", keep="first")
    s = (
        lists.join(o, on="list_key", how="inner")
        .join(p, on="list_key", how="inner")
        .join(w, on="waybill_key", how="inner")
    )
    zero = pl.lit(Decimal(0))
    found: list[pl.DataFrame] = []
    # M1: order arithmetic
    expected_paid = (
        pl.col("o_goodsValue")
        + pl.col("o_freight").fill_null(zero)
        + pl.col("o_taxTotal").fill_null(zero)
        - pl.col("o_discount").fill_null(zero)
    )
    found.append(
        violation(
            s,
            (pl.col("o_acturalPaid") - expected_paid).abs() > pl.lit(tol.amount),
            "M1",
            pl.format(
                "订单实际支付金额{}不等于商品价格+运费+税款-非现金抵扣金额{}", "o_acturalPaid", expected_paid
            ),
            pl.format(
                "order acturalPaid {} differs from goodsValue + freight + taxTotal - discount = {}",
                "o_acturalPaid",
                expected_paid,
            ),
        )
    )
    # M2: payment amount = order paid
    found.append(
        violation(
            s,
            _differs("p_amountPaid", "o_acturalPaid", tol.amount),
            "M2",
            pl.format("支付金额{}与订单实际支付金额{}不一致", "p_amountPaid", "o_acturalPaid"),
            pl.format(
                "payment amountPaid {} differs from the order's acturalPaid {}",
                "p_amountPaid",
                "o_acturalPaid",
            ),
        )
    )
    # M3: consignee on order = waybill
    m3 = (
        (pl.col("o_consignee") != pl.col("w_consignee"))
        | (pl.col("o_consigneeTelephone") != pl.col("w_consigneeTelephone"))
        | (pl.col("o_consigneeAddress") != pl.col("w_consigneeAddress"))
    )
    found.append(
        violation(
            s,
            m3,
            "M3",
            "订单与运单的收货人信息不一致",
            "consignee name, telephone or address differ between order and waybill",
        )
    )
    # M4: packNo = 1 on waybill and list
    found.append(
        violation(
            s,
            (pl.col("w_packNo") != 1) | (pl.col("packNo") != 1),
            "M4",
            "进口运单和清单的件数必须为1",
            "packNo must be 1 on the import waybill and list",
        )
    )
    # M5: payer = buyer (identity not authenticated by a state authority)
    m5 = (pl.col("p_payerIdNumber").str.to_uppercase() != pl.col("o_buyerIdNumber").str.to_uppercase()) | (
        pl.col("p_payerName") != pl.col("o_buyerName")
    )
    found.append(
        violation(
            s,
            m5,
            "M5",
            "支付人与订购人不一致（订购人身份未经认证时须为同一人）",
            "payer and buyer differ (they must be the same person unless the buyer's "
            "identity is authenticated)",
        )
    )
    # M6: list buyer and consignee = order
    m6 = (
        (pl.col("buyerIdNumber").str.to_uppercase() != pl.col("o_buyerIdNumber").str.to_uppercase())
        | (pl.col("buyerName") != pl.col("o_buyerName"))
        | (pl.col("buyerTelephone") != pl.col("o_buyerTelephone"))
        | (pl.col("consigneeAddress") != pl.col("o_consigneeAddress"))
        | (pl.col("ebcCode") != pl.col("o_ebcCode"))
    )
    found.append(
        violation(
            s,
            m6,
            "M6",
            "清单的订购人、收货地址或电商企业与订单不一致",
            "buyer, consignee address or e-commerce enterprise on the list differ from the order",
        )
    )
    # M8: freight on list = waybill (the order's freight is checked through M1)
    found.append(
        violation(
            s,
            _differs("freight", "w_freight", tol.amount) & pl.col("w_freight").is_not_null(),
            "M8",
            pl.format("清单运费{}与运单运费{}不一致", "freight", "w_freight"),
            pl.format("list freight {} differs from the waybill's {}", "freight", "w_freight"),
        )
    )
    found.append(_line_violations(s.select("list_key", "o_goodsValue"), list_lines, order_lines, tol))
    return pl.concat([f.cast(VIOLATION_SCHEMA) for f in found])


def _line_violations(
    sets: pl.DataFrame, list_lines: pl.DataFrame, order_lines: pl.DataFrame, tol: MatchingTolerance
) -> pl.DataFrame:
    """M7: same line numbers, names, quantities and prices; Σ list totalPrice = order goodsValue."""
    keys = sets.select("list_key", "o_goodsValue")
    ll = list_lines.join(keys.select("list_key"), on="list_key", how="semi").select(
        "list_key", "gnum", "gname", "qty", "price", "totalPrice"
    )
    ol = (
        order_lines.rename({"order_key": "list_key"})
        .join(keys.select("list_key"), on="list_key", how="semi")
        .select(
            "list_key",
            "gnum",
            pl.col("itemName").alias("o_itemName"),
            pl.col("qty").alias("o_qty"),
            pl.col("price").alias("o_price"),
            pl.col("totalPrice").alias("o_totalPrice"),
        )
    )
    joined = ll.join(ol, on=["list_key", "gnum"], how="full", coalesce=True)
    bad_line = (
        pl.col("gname").is_null()
        | pl.col("o_itemName").is_null()
        | (pl.col("gname") != pl.col("o_itemName"))
        | ((pl.col("qty") - pl.col("o_qty")).abs() > pl.lit(tol.line_amount))
        | ((pl.col("price") - pl.col("o_price")).abs() > pl.lit(tol.line_amount))
        | ((pl.col("totalPrice") - pl.col("o_totalPrice")).abs() > pl.lit(tol.line_amount))
    )
    per_list = (
        joined.group_by("list_key")
        .agg(
            bad_line.fill_null(True).sum().alias("bad_lines"),
            pl.col("gnum").filter(bad_line.fill_null(True)).min().alias("first_bad_gnum"),
            pl.col("totalPrice").sum().alias("lines_total"),
        )
        .join(keys, on="list_key", how="inner")
    )
    m7_lines = violation(
        per_list,
        pl.col("bad_lines") > 0,
        "M7",
        pl.format("清单表体与订单表体不一致（商品序号{}：序号、名称、数量或价格不符）", "first_bad_gnum"),
        pl.format(
            "list lines differ from the order lines (gnum {}: number, name, quantity or price)",
            "first_bad_gnum",
        ),
    )
    m7_total = violation(
        per_list,
        (pl.col("bad_lines") == 0)
        & ((pl.col("lines_total") - pl.col("o_goodsValue")).abs() > pl.lit(tol.amount)),
        "M7",
        pl.format("清单表体总价合计{}不等于订单商品价格{}", "lines_total", "o_goodsValue"),
        pl.format(
            "sum of list line totals {} differs from the order goodsValue {}", "lines_total", "o_goodsValue"
        ),
    )
    return pl.concat([m7_lines.cast(VIOLATION_SCHEMA), m7_total.cast(VIOLATION_SCHEMA)])
