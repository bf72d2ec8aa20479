"""Checkout estimator: what a basket will cost in CBEC tax, and whether it may be bought at all.

A platform asks this at checkout, before any order exists, so it takes plain items rather than an inventory
list. It builds the one-list frame customs would see and runs the very same vectorised rule
(:mod:`cbec.rules.tax`) on it — an estimate that used different arithmetic from the clearance would be a
promise the clearance breaks.

Legal quantities (``qty1``/``qty2``, in the code's legal units) matter for two things only: the
consumption-tax thresholds of cosmetics and watches, and specific consumption tax (beer, spirits). When an
item does not give them, the estimator assumes one legal unit per item if the legal unit is a count (件, 个,
只 …), and leaves them unknown for mass and volume units; the rule then errs on the side of charging the
consumption tax and the line carries a flag saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

import polars as pl

from cbec.params.dated import ParameterSet, default_parameters
from cbec.params.hs import HsTable, UnknownHsCode, load_cbec_hs
from cbec.rules.tax import annual_check, assess, list_totals

__all__ = ["BasketError", "BasketEstimate", "BasketItem", "BasketLine", "estimate"]

_MEASURE_UNITS: Final = frozenset(
    {"030", "032", "033", "035", "036", "070", "076", "083", "084", "095", "096"}
)
"""Legal units that measure (length, area, volume, mass): one item says nothing about how much it holds."""
_FIVE_PLACES: Final = Decimal("0.00001")
_BASKET_KEY: Final = "basket"
_INPUT_DTYPE: Final = pl.Decimal(38, 5)


class BasketError(ValueError):
    """The basket cannot be estimated as given; the message says which item and why."""


@dataclass(frozen=True, slots=True)
class BasketItem:
    """One product in the basket: its 10-digit HS code, unit price in CNY and number of items.

    ``qty1``/``qty2`` are the line's total quantities in the code's first and second legal units (e.g. kg and
    件 for cosmetics, L and kg for spirits), as an inventory list would declare them; optional.
    """

    hs10: str
    price: Decimal
    qty: Decimal = Decimal(1)
    qty1: Decimal | None = None
    qty2: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BasketLine:
    """One priced line; amounts are None when the basket is not admissible (no CBEC tax is due then)."""

    gnum: int
    hs10: str
    name_zh: str
    name_en: str
    qty: Decimal
    price: Decimal
    total_price: Decimal
    dutiable_value: Decimal
    duty_rate: Decimal | None
    ct_rate: Decimal | None
    vat_rate: Decimal | None
    duty: Decimal | None
    ct: Decimal | None
    vat: Decimal | None
    payable: Decimal | None
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BasketEstimate:
    """The estimate for the whole basket: totals, verdict with its reason, and the buyer's quota after it."""

    on: date
    lines: tuple[BasketLine, ...]
    goods_value: Decimal
    freight: Decimal
    insurance: Decimal
    dutiable_value: Decimal
    duty: Decimal | None
    ct: Decimal | None
    vat: Decimal | None
    tax_total: Decimal | None
    amount_to_pay: Decimal | None
    treatment: str
    admissible: bool
    reject_code: str | None
    reason_zh: str
    reason_en: str
    single_limit: Decimal
    annual_limit: Decimal
    used_quota: Decimal
    quota_remaining: Decimal
    flags: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings (exact), dates ISO, so a client never re-rounds a float."""

        def plain(value: object) -> object:
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            return value

        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "lines":
                out["lines"] = [
                    {f.name: plain(getattr(line, f.name)) for f in fields(line)} for line in value
                ]
            else:
                out[field.name] = plain(value)
        return out


def _number(value: Decimal | int | str, what: str, *, positive: bool = False) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise BasketError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite():
        raise BasketError(f"{what}: {value!r} is not a finite number")
    if number < 0 or (positive and number == 0):
        raise BasketError(f"{what}: must be {'greater than 0' if positive else '0 or more'}, got {number}")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -5:
        raise BasketError(f"{what}: at most 5 decimal places (the N19,5 of customs messages), got {number}")
    if number >= Decimal(10) ** 14:
        raise BasketError(f"{what}: {number} is too large")
    return number


def _tidy(value: Decimal | None, scale: int) -> Decimal | None:
    """Show an amount at the rounding scale when that loses nothing (9.10000 → 9.10), else as it is."""
    if value is None:
        return None
    quantum = Decimal(1).scaleb(-scale)
    short = value.quantize(quantum)
    return short if short == value else _plain(value)


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros and without an exponent: 0.13000 → 0.13, 10 → 10 (not 1E+1)."""
    stripped = value.normalize()
    exponent = stripped.as_tuple().exponent
    return stripped.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else stripped


def _legal_quantity(given: Decimal | None, unit: str | None, qty: Decimal, what: str) -> Decimal | None:
    if given is not None:
        return _number(given, what)
    if unit is None or unit in _MEASURE_UNITS:
        return None
    return qty


def estimate(
    items: Sequence[BasketItem],
    *,
    freight: Decimal | int | str,
    insurance: Decimal | int | str = Decimal(0),
    on: date,
    used_quota: Decimal | int | str,
    params: ParameterSet | None = None,
    hs: HsTable | None = None,
) -> BasketEstimate:
    """Estimate the CBEC tax of a basket bought on ``on`` by a buyer who has used ``used_quota`` this year.

    Raises :class:`BasketError` for an empty basket or a bad number, :class:`~cbec.params.hs.UnknownHsCode`
    for a code the tariff does not know, and ParameterNotInForce for a date outside the regime.
    """
    params = params if params is not None else default_parameters()
    table = hs if hs is not None else load_cbec_hs()
    if not items:
        raise BasketError("the basket is empty")
    freight_value = _number(freight, "freight")
    insurance_value = _number(insurance, "insurance")
    used = _number(used_quota, "used quota")
    rows: list[dict[str, object]] = []
    for gnum, item in enumerate(items, start=1):
        what = f"item {gnum} ({item.hs10})"
        code = item.hs10.strip()
        if len(code) != 10 or not code.isdigit():
            raise BasketError(f"{what}: the HS code must be 10 digits")
        row = table.get(code)
        if row is None:
            raise UnknownHsCode(code, table.origin)
        price = _number(item.price, f"{what}: price")
        qty = _number(item.qty, f"{what}: quantity", positive=True)
        rows.append(
            {
                "list_key": _BASKET_KEY,
                "gnum": gnum,
                "gcode": code,
                "qty": qty,
                "qty1": _legal_quantity(item.qty1, row.unit1, qty, f"{what}: qty1"),
                "unit1": row.unit1,
                "qty2": _legal_quantity(item.qty2, row.unit2, qty, f"{what}: qty2"),
                "unit2": row.unit2,
                "price": price,
                "totalPrice": (price * qty).quantize(_FIVE_PLACES, rounding=ROUND_HALF_UP),
                "freight": freight_value,
                "insuredFee": insurance_value,
            }
        )
    schema: dict[str, pl.DataType] = {
        "list_key": pl.String(),
        "gnum": pl.Int64(),
        "gcode": pl.String(),
        "qty": _INPUT_DTYPE,
        "qty1": _INPUT_DTYPE,
        "unit1": pl.String(),
        "qty2": _INPUT_DTYPE,
        "unit2": pl.String(),
        "price": _INPUT_DTYPE,
        "totalPrice": _INPUT_DTYPE,
        "freight": _INPUT_DTYPE,
        "insuredFee": _INPUT_DTYPE,
    }
    lines = pl.DataFrame(rows, schema=schema)
    taxed = assess(lines, on=on, params=params, hs=table)
    totals = annual_check(
        list_totals(taxed).with_columns(pl.lit(used, dtype=_INPUT_DTYPE).alias("used_before")), "used_before"
    ).row(0, named=True)
    scale = params.int_at("import.retail.tax_rounding.scale", on)

    def money(value: Decimal | None) -> Decimal | None:
        return _tidy(value, scale)

    def exact(value: Decimal | None) -> Decimal:
        result = _tidy(value, scale)
        assert result is not None
        return result

    priced: list[BasketLine] = []
    for line in taxed.iter_rows(named=True):
        tariff = table[line["gcode"]]
        priced.append(
            BasketLine(
                gnum=line["gnum"],
                hs10=line["gcode"],
                name_zh=tariff.name_zh,
                name_en=tariff.name_en,
                qty=_plain(line["qty"]),
                price=exact(line["price"]),
                total_price=exact(line["totalPrice"]),
                dutiable_value=exact(line["dutiable_value"]),
                duty_rate=_rate(line["duty_rate"]),
                ct_rate=_rate(line["ct_rate"]),
                vat_rate=_rate(line["vat_rate"]),
                duty=money(line["duty"]),
                ct=money(line["ct"]),
                vat=money(line["vat"]),
                payable=money(line["payable"]),
                flags=tuple(line["flags"]),
            )
        )
    tax_total = money(totals["tax_total"])
    goods = exact(totals["goods_value"])
    amount = None if tax_total is None else exact(goods + freight_value + insurance_value + tax_total)
    return BasketEstimate(
        on=on,
        lines=tuple(priced),
        goods_value=goods,
        freight=exact(freight_value),
        insurance=exact(insurance_value),
        dutiable_value=exact(totals["dutiable_value"]),
        duty=money(totals["duty"]),
        ct=money(totals["ct"]),
        vat=money(totals["vat"]),
        tax_total=tax_total,
        amount_to_pay=amount,
        treatment=totals["treatment"],
        admissible=bool(totals["admissible"]),
        reject_code=totals["reject_code"],
        reason_zh=totals["reason_zh"],
        reason_en=totals["reason_en"],
        single_limit=exact(totals["single_limit"]),
        annual_limit=exact(totals["annual_limit"]),
        used_quota=exact(used),
        quota_remaining=exact(totals["quota_remaining"]),
        flags=tuple(totals["flags"]),
    )


def _rate(value: Decimal | None) -> Decimal | None:
    return None if value is None else _plain(value)
