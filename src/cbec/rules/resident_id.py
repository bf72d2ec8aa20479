"""Chinese resident identity numbers (公民身份号码, GB 11643-1999): check digit and validity.

The buyer and payer on a retail-import list must be identified by a resident ID (idType 1); the 18th character
is an ISO 7064 MOD 11-2 check digit.  Both a scalar form (generator, HTTP edge) and a vectorised Polars form
(clearance rules over whole batches) are here, sharing the same weights.
"""

from __future__ import annotations

from datetime import date

import polars as pl

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_digit(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def is_valid(number: str) -> bool:
    """18 characters, 17 digits, a real birth date, and the right check character (X upper or lower)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return check_digit(number[:17]) == number[17].upper()


def valid_expr(col: str | pl.Expr) -> pl.Expr:
    """Polars expression: True where the column holds a valid resident ID (null stays null)."""
    c = pl.col(col) if isinstance(col, str) else col
    c = c.str.to_uppercase()
    total = pl.sum_horizontal(
        [c.str.slice(i, 1).cast(pl.Int64, strict=False) * w for i, w in enumerate(WEIGHTS)]
    )
    expected = (total % 11).replace_strict(dict(enumerate(CHECK_CHARS)), return_dtype=pl.String)
    birth = c.str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    return (
        c.str.contains(r"^\d{17}[0-9X]$") & birth.is_not_null() & (c.str.slice(17, 1) == expected)
    ).fill_null(False) & c.is_not_null()
