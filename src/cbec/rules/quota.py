"""The buyer's annual quota (年度交易限值), per resident ID and calendar year.

A list counts against the quota when it is accepted; cancellations and returns give it back.  Within one
batch, several lists of the same buyer are taken in arrival order: each is admitted if the amount already used
plus everything admitted before it in the batch plus itself stays within the annual limit.

That is a sequential rule, computed here with cumulative sums per buyer.  Most buyers fit with every list
counted and are done in one pass.  For the few that do not, each pass brackets every undecided list between
two bounds of what the buyer will have used before it: counting every earlier list not yet refused (an upper
bound: if the list fits even then, it is admitted) and counting only the earlier lists already admitted (a
lower bound: if it does not fit even then, it is refused).  The first undecided list of a buyer always has
equal bounds, so every pass decides at least one list per buyer, and in practice two or three passes decide
them all.  The passes run on the troubled buyers' rows only.
"""

from __future__ import annotations

import polars as pl

_BY = ["buyer_key", "year"]


def admit(candidates: pl.DataFrame, *, limit_col: str = "annual_limit") -> pl.DataFrame:
    """Flag which lists fit the buyer's annual quota.

    ``candidates``: one row per list with ``list_key``, ``buyer_key``, ``year``, ``seq`` (arrival order),
    ``amount`` (Decimal: the list's dutiable value), ``used_before`` (Decimal: already used this year) and the
    annual limit in force (``limit_col``).  Returns the frame with ``quota_ok`` (bool) and ``used_at`` (the
    buyer's use before this list, counting only admitted lists before it).
    """
    frame = candidates.sort("seq").with_columns(_used_before_each(pl.lit(True)).alias("used_at"))
    misfit = (pl.col("used_at") + pl.col("amount")) > pl.col(limit_col)
    frame = frame.with_columns(misfit.any().over(_BY).alias("_troubled"))
    calm = frame.filter(~pl.col("_troubled")).with_columns(pl.lit(True).alias("quota_ok"))
    troubled = frame.filter(pl.col("_troubled")).with_columns(pl.lit(None, pl.Boolean).alias("quota_ok"))
    while troubled.height and troubled["quota_ok"].null_count():
        upper = _used_before_each(pl.col("quota_ok").fill_null(True))
        lower = _used_before_each(pl.col("quota_ok").fill_null(False))
        troubled = troubled.with_columns(
            pl.when(pl.col("quota_ok").is_not_null())
            .then(pl.col("quota_ok"))
            .when(upper + pl.col("amount") <= pl.col(limit_col))
            .then(pl.lit(True))
            .when(lower + pl.col("amount") > pl.col(limit_col))
            .then(pl.lit(False))
            .otherwise(pl.lit(None, pl.Boolean))
            .alias("quota_ok")
        )
    troubled = troubled.with_columns(_used_before_each(pl.col("quota_ok")).alias("used_at"))
    return pl.concat([calm, troubled]).drop("_troubled").sort("seq")


def _used_before_each(counts: pl.Expr) -> pl.Expr:
    """The buyer's use before each list: ``used_before`` plus the earlier lists for which ``counts`` holds."""
    counted = pl.when(counts).then(pl.col("amount")).otherwise(pl.col("amount") * 0)
    return pl.col("used_before") + counted.cum_sum().over(_BY) - counted
