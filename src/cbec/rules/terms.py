"""Conditions written once, run two ways: as a Polars expression over a frame, or on one row in Python.

A rule is vectorised over columns with Polars, and that is how a day of events is decided.  But a Polars
query costs some tens of microseconds per expression to plan whatever the number of rows, so a rule of twenty
conditions costs milliseconds on the single row of an HTTP request — more than everything else the request
does.  A :class:`Term` carries both forms of one condition, built together by the same combinators, so the
rule stays one definition; the row form follows Polars' semantics exactly (nulls propagate through
comparisons and arithmetic, ``&``/``|`` are Kleene logic, ``when`` treats a null condition as false), and the
rules' tests check that both forms agree on random rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = ["Row", "Term", "col", "formatted", "lit", "max_of", "when"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Term:
    """One expression in both forms: ``expr`` for frames, ``fn`` for one row (``None`` is null)."""

    expr: pl.Expr
    fn: Callable[[Row], Any]

    # --- logic (Kleene, as Polars) ---
    def __and__(self, other: Term) -> Term:
        a, b = self.fn, other.fn

        def both(r: Row) -> bool | None:
            x, y = a(r), b(r)
            if x is False or y is False:
                return False
            return None if x is None or y is None else True

        return Term(self.expr & other.expr, both)

    def __or__(self, other: Term) -> Term:
        a, b = self.fn, other.fn

        def either(r: Row) -> bool | None:
            x, y = a(r), b(r)
            if x is True or y is True:
                return True
            return None if x is None or y is None else False

        return Term(self.expr | other.expr, either)

    def __invert__(self) -> Term:
        a = self.fn
        return Term(~self.expr, lambda r: None if (x := a(r)) is None else not x)

    # --- comparisons (null on a null side) ---
    def eq(self, other: Term) -> Term:
        return self._binary(other, self.expr == other.expr, lambda x, y: x == y)

    def ne(self, other: Term) -> Term:
        return self._binary(other, self.expr != other.expr, lambda x, y: x != y)

    def gt(self, other: Term) -> Term:
        return self._binary(other, self.expr > other.expr, lambda x, y: x > y)

    def eq_missing(self, other: Term) -> Term:
        """Equal, two nulls being equal and a null never equal to a value (never null)."""
        a, b = self.fn, other.fn
        return Term(self.expr.eq_missing(other.expr), lambda r: a(r) == b(r))

    def is_in(self, values: Sequence[Any]) -> Term:
        a, allowed = self.fn, frozenset(values)
        return Term(self.expr.is_in(list(values)), lambda r: None if (x := a(r)) is None else x in allowed)

    def is_null(self) -> Term:
        a = self.fn
        return Term(self.expr.is_null(), lambda r: a(r) is None)

    def is_not_null(self) -> Term:
        a = self.fn
        return Term(self.expr.is_not_null(), lambda r: a(r) is not None)

    def fill_null(self, value: Any) -> Term:
        a = self.fn
        return Term(self.expr.fill_null(value), lambda r: value if (x := a(r)) is None else x)

    # --- arithmetic on integers (null on a null side) ---
    def __sub__(self, other: Term) -> Term:
        return self._binary(other, self.expr - other.expr, lambda x, y: x - y)

    def __neg__(self) -> Term:
        a = self.fn
        return Term(-self.expr, lambda r: None if (x := a(r)) is None else -x)

    def abs(self) -> Term:
        a = self.fn
        return Term(self.expr.abs(), lambda r: None if (x := a(r)) is None else abs(x))

    def times_floor(self, ratio: Term) -> Term:
        """``floor(ratio × self)`` in floating point, as an integer (a share of a weight in grams)."""
        a, b = self.fn, ratio.fn

        def product(r: Row) -> int | None:
            x, y = a(r), b(r)
            return None if x is None or y is None else math.floor(float(y) * float(x))

        expr = (ratio.expr * self.expr.cast(pl.Float64)).floor().cast(pl.Int64)
        return Term(expr, product)

    # --- text ---
    def text(self) -> Term:
        """As text in a reason: strings as they are, integers in decimal, null as ``—``."""
        a = self.fn
        return Term(
            self.expr.cast(pl.String).fill_null("—"), lambda r: "—" if (x := a(r)) is None else str(x)
        )

    def kg_text(self) -> Term:
        """Integer grams as kilograms text with up to three decimals (``12345.6``, ``20000.0``)."""
        a = self.fn
        expr = (self.expr.cast(pl.Float64) / 1000).round(3).cast(pl.String)
        return Term(expr, lambda r: None if (x := a(r)) is None else repr(round(float(x) / 1000, 3)))

    def alias(self, name: str) -> pl.Expr:
        return self.expr.alias(name)

    def _binary(self, other: Term, expr: pl.Expr, op: Callable[[Any, Any], Any]) -> Term:
        a, b = self.fn, other.fn

        def apply(r: Row) -> Any:
            x, y = a(r), b(r)
            return None if x is None or y is None else op(x, y)

        return Term(expr, apply)


def col(name: str) -> Term:
    return Term(pl.col(name), lambda r: r[name])


def lit(value: Any, dtype: pl.DataType | None = None) -> Term:
    return Term(pl.lit(value, dtype), lambda _r: value)


def max_of(*terms: Term) -> Term:
    """The largest of the non-null values (null when all are null), as ``pl.max_horizontal``."""
    fns = [t.fn for t in terms]

    def largest(r: Row) -> Any:
        values = [x for f in fns if (x := f(r)) is not None]
        return max(values) if values else None

    return Term(pl.max_horizontal(*(t.expr for t in terms)), largest)


def when(condition: Term, then: Term, otherwise: Term) -> Term:
    """``then`` where the condition is true, else ``otherwise`` (a null condition counts as false)."""
    c, a, b = condition.fn, then.fn, otherwise.fn
    return Term(
        pl.when(condition.expr).then(then.expr).otherwise(otherwise.expr),
        lambda r: a(r) if c(r) is True else b(r),
    )


def formatted(template: str, *args: Term) -> Term:
    """``template`` with each ``{}`` replaced by the text of the next argument (``pl.format``)."""
    if not args:
        return Term(pl.lit(template), lambda _r: template)
    fns = [a.fn for a in args]
    parts = template.split("{}")
    if len(parts) != len(args) + 1:
        raise ValueError(f"{template!r} has {len(parts) - 1} placeholders for {len(args)} values")

    def fill(r: Row) -> str:
        out = [parts[0]]
        for f, part in zip(fns, parts[1:], strict=True):
            out.append(str(f(r)))
            out.append(part)
        return "".join(out)

    return Term(pl.format(template, *(a.expr for a in args)), fill)
