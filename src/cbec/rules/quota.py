"""The buyer's annual quota (年度交易限值), per resident ID and calendar year.

A list counts against the quota when it is accepted; cancellations and returns give it back (a later issue).
Within one batch, several lists of the same buyer are taken in arrival order: each is admitted if the amount
already used plus everything admitted before it in the batch plus itself stays within the annual limit.
That is a sequential rule; it is computed with cumulative sums per buyer, repeated only while some list is
refused (a refused list must not count against the ones after it) — in practice one or two passes.
"""

from __future__ import annotations

import polars as pl


def admit(candidates: pl.DataFrame, *, limit_col: str = "annual_limit") -> pl.DataFrame:
    """Flag which lists fit the buyer's annual quota.

    ``candidates``: one row per list with ``list_key``, ``buyer_key``, ``year``, ``seq`` (arrival order),
    ``amount`` (Decimal: the list's dutiable value), ``used_before`` (Decimal: already used this year) and the
    annual limit in force (``limit_col``).  Returns the frame with ``quota_ok`` (bool) and ``used_at`` (the
    buyer's use before this list, counting only admitted lists before it).
    """
    frame = candidates.sort("seq").with_columns(pl.lit(True).alias("quota_ok"))
    for _ in range(frame.height + 1):
        counted = pl.when(pl.col("quota_ok")).then(pl.col("amount")).otherwise(pl.col("amount") * 0)
        frame = frame.with_columns(
            (pl.col("used_before") + counted.cum_sum().over(["buyer_key", "year"]) - counted).alias("used_at")
        )
        fits = (pl.col("used_at") + pl.col("amount")) <= pl.col(limit_col)
        # refuse only the first misfit per buyer in this pass: the ones after it are re-judged without it
        misfit = ~fits & pl.col("quota_ok")
        first_misfit = misfit & (misfit.cast(pl.Int32).cum_sum().over(["buyer_key", "year"]) == 1)
        if not frame.select(first_misfit.any()).item():
            break
        frame = frame.with_columns((pl.col("quota_ok") & ~first_misfit).alias("quota_ok"))
    return frame
