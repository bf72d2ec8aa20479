"""Decide each list: waiting, refused, reviewed, inspected or released — with the official status codes.

Statuses (regime reference §3.2): 2 declaring/waiting for its documents, 100 refused (退单) with a negative
code and a reason, 300 manual review (人工审核), 500 inspection (查验), 800 released (放行).  Released lists
pass through 120 (accepted into customs' system) and 399 (concluded) on the way; the engine records those
steps.  The first violation by rule order decides the reason: duplicates, then validation, then matching, then
the single-transaction limit, then the annual quota.
"""

from __future__ import annotations

import polars as pl

from cbec.rules.matching import VIOLATION_SCHEMA

RULE_ORDER = [
    "D",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
    "M1",
    "M2",
    "M3",
    "M4",
    "M5",
    "M6",
    "M7",
    "M8",
    "T",
    "Q",
]
DECISION_COLUMNS = ["list_key", "status", "code", "rule", "reason_zh", "reason_en"]
EMPTY_DECISIONS = pl.Schema(
    {
        "list_key": pl.String(),
        "guid": pl.String(),
        "status": pl.Int32(),
        "code": pl.String(),
        "rule": pl.String(),
        "reason_zh": pl.String(),
        "reason_en": pl.String(),
        "complete": pl.Boolean(),
        "invtNo": pl.String(),
    }
)

WAITING, REFUSED, ACCEPTED, REVIEW, CONCLUDED, INSPECTION, RELEASED = 2, 100, 120, 300, 399, 500, 800


def first_violation(violations: pl.DataFrame) -> pl.DataFrame:
    """One row per list: the violation that comes first in :data:`RULE_ORDER`."""
    if violations.height == 0:
        return pl.DataFrame(schema=VIOLATION_SCHEMA)
    rank = {r: i for i, r in enumerate(RULE_ORDER)}
    return (
        violations.with_columns(pl.col("rule").replace_strict(rank, default=len(rank)).alias("_rank"))
        .sort("list_key", "_rank")
        .unique("list_key", keep="first", maintain_order=True)
        .drop("_rank")
    )


def decide(
    lists: pl.DataFrame,
    violations: pl.DataFrame,
    *,
    expired: pl.Series | None = None,
) -> pl.DataFrame:
    """Final status per list.

    ``lists`` has list_key, complete (bool), inspect (bool), review (bool); ``violations`` the union of every
    rule's violations; ``expired`` marks incomplete lists whose wait is over.
    """
    first = first_violation(violations)
    frame = lists.join(first, on="list_key", how="left")
    if expired is not None:
        frame = frame.with_columns(expired.alias("_expired"))
    else:
        frame = frame.with_columns(pl.lit(False).alias("_expired"))
    missing_zh = pl.concat_str(
        [
            pl.lit("三单不齐，超时未收到："),
            pl.concat_list(
                pl.when(~pl.col("has_order")).then(pl.lit("订单")),
                pl.when(~pl.col("has_payment")).then(pl.lit("支付单")),
                pl.when(~pl.col("has_waybill")).then(pl.lit("运单")),
            )
            .list.drop_nulls()
            .list.join("、"),
        ]
    )
    missing_en = pl.concat_str(
        [
            pl.lit("documents missing when the wait expired: "),
            pl.concat_list(
                pl.when(~pl.col("has_order")).then(pl.lit("order")),
                pl.when(~pl.col("has_payment")).then(pl.lit("payment")),
                pl.when(~pl.col("has_waybill")).then(pl.lit("waybill")),
            )
            .list.drop_nulls()
            .list.join(", "),
        ]
    )
    refused = pl.col("rule").is_not_null()
    status = (
        pl.when(refused)
        .then(pl.lit(REFUSED))
        .when(~pl.col("complete") & pl.col("_expired"))
        .then(pl.lit(REFUSED))
        .when(~pl.col("complete"))
        .then(pl.lit(WAITING))
        .when(pl.col("review"))
        .then(pl.lit(REVIEW))
        .when(pl.col("inspect"))
        .then(pl.lit(INSPECTION))
        .otherwise(pl.lit(RELEASED))
    )
    expired_refusal = ~refused & ~pl.col("complete") & pl.col("_expired")
    decided = frame.with_columns(
        status.alias("status"),
        pl.when(expired_refusal).then(pl.lit("-621003")).otherwise(pl.col("code")).alias("code"),
        pl.when(expired_refusal).then(pl.lit("E")).otherwise(pl.col("rule")).alias("rule"),
        pl.when(expired_refusal).then(missing_zh).otherwise(pl.col("reason_zh")).alias("reason_zh"),
        pl.when(expired_refusal).then(missing_en).otherwise(pl.col("reason_en")).alias("reason_en"),
    ).drop("_expired")
    s = pl.col("status")
    return decided.with_columns(
        pl.coalesce(
            pl.col("reason_zh"),
            pl.when(s == RELEASED)
            .then(pl.lit("海关放行"))
            .when(s == INSPECTION)
            .then(pl.lit("布控查验"))
            .when(s == REVIEW)
            .then(pl.lit("转人工审核"))
            .when(s == WAITING)
            .then(pl.lit("等待三单齐全")),
        ).alias("reason_zh"),
        pl.coalesce(
            pl.col("reason_en"),
            pl.when(s == RELEASED)
            .then(pl.lit("released by customs"))
            .when(s == INSPECTION)
            .then(pl.lit("selected for inspection"))
            .when(s == REVIEW)
            .then(pl.lit("sent to manual review"))
            .when(s == WAITING)
            .then(pl.lit("waiting for the order, payment and waybill")),
        ).alias("reason_en"),
    )
