"""The line frame the tax rule takes, shared by the worked-example and the property tests."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

N19_5 = pl.Decimal(19, 5)

#: Columns of a list line as :func:`cbec.rules.tax.assess` reads them (heads joined onto their lines).
SCHEMA: Mapping[str, pl.DataType] = {
    "list_key": pl.String(),
    "gnum": pl.Int64(),
    "gcode": pl.String(),
    "qty": N19_5,
    "qty1": N19_5,
    "unit1": pl.String(),
    "qty2": N19_5,
    "unit2": pl.String(),
    "price": N19_5,
    "totalPrice": N19_5,
    "freight": N19_5,
    "insuredFee": N19_5,
    "declDate": pl.Date(),
}
