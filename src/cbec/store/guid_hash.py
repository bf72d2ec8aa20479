"""The 60-bit number under which a document's guid is indexed (``document.guid_hash``).

Why not index the guid itself: guids are random UUIDs, so a B-tree over 36-character text takes each new
document at a random place.  Once the document table outgrows a clearing transaction, every commit dirties
nearly every page of that index, writes them all to the WAL and copies them back at the checkpoint (at a
million parcels, 220 MB per commit for this one index).  A 64-bit integer makes the index about a quarter
of the size, so a commit rewrites a quarter of the pages.

The number is not unique: readers look it up and compare the guid text too (``guid_hash = ? AND guid = ?``),
so a collision only costs a second row read.  It must never change for a stored guid, so it is defined here
rather than taken from a library whose hash may change between versions:

* a guid in UUID form (8-4-4-4-12 hexadecimal digits, any case, as the CEB specification requires): the
  first 15 of its 32 digits XOR the last 15, read as hexadecimal numbers (the random bits of a version-4
  UUID and the varying time bits of a version-1 UUID both reach the result);
* any other text: the first 60 bits of its BLAKE2b-64 digest (UTF-8).

Both are below 2**60, so they fit a signed BIGINT on every backend.
"""

from __future__ import annotations

import hashlib
import re

import polars as pl

#: A guid in UUID form (the CEB form is upper case; the hash reads either case).
UUID_FORM = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_UUID = re.compile(UUID_FORM)


def guid_hash(guid: str) -> int:
    """The index number of one guid (see the module docstring)."""
    if _UUID.match(guid) and len(guid) == 36:
        digits = guid.replace("-", "")
        return int(digits[:15], 16) ^ int(digits[17:], 16)
    return int.from_bytes(hashlib.blake2b(guid.encode("utf-8"), digest_size=8).digest(), "big") >> 4


def guid_hashes(guids: pl.Series) -> pl.Series:
    """:func:`guid_hash` of a whole column, in Polars for the guids in UUID form (all of them, in practice)
    and in Python for the others; null stays null."""
    digits = pl.col("g").str.replace_all("-", "", literal=True)
    frame = pl.DataFrame({"g": guids}, schema={"g": pl.String()}).select(
        pl.when(pl.col("g").str.contains(UUID_FORM) & (pl.col("g").str.len_bytes() == 36))
        .then(
            digits.str.slice(0, 15)
            .str.to_integer(base=16, strict=False)
            .xor(digits.str.slice(17, 15).str.to_integer(base=16, strict=False))
        )
        .cast(pl.Int64)
        .alias("h"),
        pl.col("g"),
    )
    hashed = frame["h"]
    others = frame.filter(pl.col("h").is_null() & pl.col("g").is_not_null())
    if others.height == 0:
        return hashed.alias(guids.name)
    fallback = pl.DataFrame(
        {"g": others["g"], "f": [guid_hash(g) for g in others["g"].to_list()]},
        schema={"g": pl.String(), "f": pl.Int64()},
    ).unique("g")
    filled = frame.join(fallback, on="g", how="left", maintain_order="left").select(pl.coalesce("h", "f"))
    return filled.to_series().alias(guids.name)
