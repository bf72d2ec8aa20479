"""The risk hook: random selection for inspection (查验) and manual review (人工审核).

Full risk targeting comes later; for now each list is selected with a dated probability, deterministically
from its business key (a hash, not a random generator), so replaying the same traffic selects the same lists.
"""

from __future__ import annotations

import polars as pl

_SCALE = float(2**64)


def draw(key: str = "list_key", salt: int = 0) -> pl.Expr:
    """A uniform number in [0, 1) derived from the key (stable for a given Polars version and salt)."""
    return pl.col(key).hash(seed=salt).cast(pl.Float64) / _SCALE


def select(frame: pl.DataFrame, *, inspection_rate: float, review_rate: float) -> pl.DataFrame:
    """Adds ``inspect`` and ``review`` booleans (independent draws)."""
    return frame.with_columns(
        (draw(salt=17) < inspection_rate).alias("inspect"),
        (draw(salt=29) < review_rate).alias("review"),
    )
