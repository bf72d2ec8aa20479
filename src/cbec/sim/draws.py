"""Seeded random columns: many draws at once, as Polars series.

The generator draws per column rather than per parcel.  The bits come from Python's own Mersenne Twister
(:meth:`random.Random.randbytes`, stable across Python versions), read as unsigned 64-bit integers through
Arrow without a Python loop; uniform, integer, weighted, normal and UUID columns are built from them with
Polars expressions.  Same seed, same columns.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import cast

import polars as pl
import pyarrow as pa

_TWO_POW_53 = float(2**53)
# the RFC 4122 variant nibble: 10xx -> 8, 9, A, B
_VARIANT = {f"{i:X}": f"{8 + (i & 3):X}" for i in range(16)}


class Draws:
    """Columns of random values from one seeded generator (the draw order is part of the seed's meaning)."""

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)

    def bits(self, n: int, name: str = "bits") -> pl.Series:
        """``n`` uniformly random UInt64 values."""
        if n == 0:
            return pl.Series(name, [], dtype=pl.UInt64)
        buffer = pa.py_buffer(self.rng.randbytes(8 * n))
        array = pa.Array.from_buffers(pa.uint64(), n, [None, buffer])
        return cast(pl.Series, pl.from_arrow(array)).alias(name)

    def uniform(self, n: int, name: str = "u") -> pl.Series:
        """Floats in [0, 1), 53 random bits each."""
        return ((self.bits(n) // 2048).cast(pl.Float64) / _TWO_POW_53).alias(name)

    def below(self, n: int, k: int, name: str = "i") -> pl.Series:
        """Integers in [0, k), uniformly (``k`` far below 2**53)."""
        return (self.uniform(n) * k).floor().cast(pl.Int64).clip(0, max(k - 1, 0)).alias(name)

    def integers(self, n: int, low: int, high: int, name: str = "i") -> pl.Series:
        """Integers in [low, high], both ends included (like :meth:`random.Random.randint`)."""
        return (self.below(n, high - low + 1) + low).alias(name)

    def weighted(self, n: int, weights: Sequence[float], name: str = "i") -> pl.Series:
        """Indices into ``weights``, drawn with those relative weights."""
        total = float(sum(weights))
        bounds, acc = [], 0.0
        for w in weights[:-1]:
            acc += w
            bounds.append(acc / total)
        u = self.uniform(n)
        index = (u * 0).cast(pl.Int64)
        for b in bounds:
            index = index + (u >= b).cast(pl.Int64)
        return index.alias(name)

    def normal(self, n: int, name: str = "z") -> pl.Series:
        """Standard normal values (Box–Muller)."""
        u1 = 1.0 - self.uniform(n)  # (0, 1]: log is finite
        u2 = self.uniform(n)
        return ((-2.0 * u1.log()).sqrt() * (2.0 * math.pi * u2).cos()).alias(name)

    def guids(self, n: int, name: str = "guid") -> pl.Series:
        """Random (version 4) UUIDs in the spec's form: 36 upper-case characters."""
        if n == 0:
            return pl.Series(name, [], dtype=pl.String)
        buffer = pa.py_buffer(self.rng.randbytes(16 * n))
        array = pa.Array.from_buffers(pa.binary(16), n, [None, buffer])
        hexes = cast(pl.Series, pl.from_arrow(array)).bin.encode("hex").str.to_uppercase()
        frame = pl.DataFrame({"h": hexes})
        h = pl.col("h")
        return frame.select(
            pl.concat_str(
                [
                    h.str.slice(0, 8),
                    pl.lit("-"),
                    h.str.slice(8, 4),
                    pl.lit("-4"),
                    h.str.slice(13, 3),
                    pl.lit("-"),
                    h.str.slice(16, 1).replace_strict(_VARIANT, return_dtype=pl.String),
                    h.str.slice(17, 3),
                    pl.lit("-"),
                    h.str.slice(20, 12),
                ]
            ).alias(name)
        ).to_series()

    def pick(self, options: Sequence[str], n: int, name: str = "pick") -> pl.Series:
        """``n`` values drawn uniformly from ``options``."""
        return pl.Series(name, list(options), dtype=pl.String).gather(self.below(n, len(options)))
