"""The field checks of :mod:`cbec.messages.fieldcheck`, value by value, for batches too small for frames.

A Polars query costs about the same for three rows as for three thousand: the service's intake, which reads
one or a few messages at a time, spent most of its decoding time planning expressions over frames of a few
dozen rows.  Here the same checks run in plain Python over the extractor's column lists.  They must give
exactly what the vectorised checks give — the same problems in the same order, the same typed values — and
``tests/unit/messages/test_rowdecode.py`` holds the two to that with generated columns.

What the extractor noticed about a column (:class:`~cbec.messages.fieldcheck.ColumnFacts`) spares the same
work as in the vectorised path: most columns are settled for the whole batch and not looked at value by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cbec.messages.codes import CodeSets
from cbec.messages.fieldcheck import (
    INT_MAX,
    INT_MIN,
    TIME_SHAPES,
    CodeKey,
    ColumnFacts,
    Profile,
    code_key,
    decimal_pattern,
    expected_text,
    field_profile,
    int_pattern,
    least_length,
    table_name,
)
from cbec.messages.spec import Entity, Field

WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""Unicode White_Space: what Polars' ``strip_chars()`` removes (Python's own ``strip()`` also takes
U+001C–U+001F, which XML cannot carry anyway)."""

Value = str | None


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One field of one row that fails a check (the first failing check of the field wins)."""

    row: int
    field: str
    code: str
    value: str | None  # as sent, untrimmed
    expected: str
    table: str


Typed = Callable[[str], Any]
"""A trimmed, non-empty value to its typed form; None when it cannot be typed (the check then fails)."""


def _decimal(f: Field) -> Typed:
    exponent = Decimal(1).scaleb(-(f.fraction_digits or 0))

    def convert(v: str) -> Decimal:
        return Decimal(v).quantize(exponent) + 0  # + 0 turns -0 into 0, as the vectorised cast does

    return convert


def _checked(convert: Typed, pattern: str) -> Typed:
    """``convert`` for values of the field's lexical form only (None for the others)."""
    shape = re.compile(pattern)

    def typed(v: str) -> Any:
        return convert(v) if shape.match(v) else None

    return typed


def _time(f: Field) -> Typed:
    assert f.format is not None
    shape = re.compile(TIME_SHAPES[f.format])
    fmt = f.format

    def typed(v: str) -> date | datetime | None:
        if not shape.match(v):
            return None
        try:  # Python has no year 0: date() refuses 0000 as the vectorised check does
            y, mo, d = int(v[:4]), int(v[4:6]), int(v[6:8])
            if fmt == "date8":
                return date(y, mo, d)
            micro = int(v[14:17]) * 1000 if fmt == "ts17" else 0
            return datetime(y, mo, d, int(v[8:10]), int(v[10:12]), int(v[12:14]), micro)
        except ValueError:  # year 0, 30 February, hour 24 …
            return None

    return typed


def _converter(f: Field) -> Typed | None:
    """How a well-formed number of the field becomes its typed value (None: not a number field)."""
    if f.type == "decimal":
        return _decimal(f)
    if f.type == "int":
        return int
    return None


def _typer(f: Field) -> Typed | None:
    convert = _converter(f)
    if convert is not None:
        return _checked(convert, decimal_pattern(f) if f.type == "decimal" else int_pattern(f))
    if f.format is not None:
        return _time(f)
    return None


@dataclass(frozen=True, slots=True)
class _FieldRule:
    """One field's checks, in the vectorised path's priority order (see ``fieldcheck._conditions``)."""

    field: Field
    typer: Typed | None
    convert: Typed | None  # numbers only: the typer without the pattern check
    codes: frozenset[str] | None
    strict_codes: bool
    expected: str
    table: str

    def type_column(self, trimmed: list[Value], *, well_formed: bool) -> list[Any]:
        """The typed column; ``well_formed``: the extractor found every number plain and within its facets,
        so the numbers are converted without matching their pattern again."""
        typer = self.convert if well_formed and self.convert is not None else self.typer
        if typer is None:
            return trimmed
        return [None if v is None else typer(v) for v in trimmed]

    def problem(self, trimmed: Value, typed: Any) -> str | None:
        """The first failing check of a trimmed value (None: empty), whitespace aside."""
        f = self.field
        if trimmed is None:
            return "field.required" if f.required else None
        if f.type == "string" and f.format is None:
            n = len(trimmed)  # code points: what len_chars counts (and len_bytes when all is ASCII)
            if f.length is not None and n != f.length:
                return "field.length"
            if f.max_length is not None and n > f.max_length:
                return "field.length"
            shortest = least_length(f)
            if shortest is not None and n < shortest:
                return "field.length"
            if f.fixed is not None and trimmed != f.fixed:
                return "field.fixed"
            if self.codes is not None and trimmed not in self.codes:
                return "field.code" if self.strict_codes else "tolerated.code"
            return None
        if f.type == "decimal":
            return "field.decimal" if typed is None else None
        if f.type == "int":
            return "field.integer" if typed is None or not INT_MIN <= typed <= INT_MAX else None
        if f.format is not None:
            return "field.time" if len(trimmed) != f.length or typed is None else None
        return None


def _rule(f: Field, code_tables: CodeSets) -> _FieldRule:
    table = code_tables.get(f.name)
    return _FieldRule(
        field=f,
        typer=_typer(f),
        convert=_converter(f),
        codes=table[0] if table is not None else None,
        strict_codes=table[1] if table is not None else False,
        expected=expected_text(f),
        table=table_name(f.name, code_tables),
    )


_RULES: dict[tuple[Entity, CodeKey], tuple[_FieldRule, ...]] = {}


def _rules(entity: Entity, code_tables: CodeSets) -> tuple[_FieldRule, ...]:
    key = (entity, code_key(code_tables))  # by content, as the vectorised plans are: an id can be reused
    rules = _RULES.get(key)
    if rules is None:
        rules = tuple(_rule(f, code_tables) for f in entity.fields)
        if len(_RULES) < 512:
            _RULES[key] = rules
    return rules


def _settled(rule: _FieldRule, profile: Profile) -> bool:
    """True when the column's facts leave nothing to check value by value (the vectorised plan skips it)."""
    f = rule.field
    trim, _ascii, required, lengths, number = profile
    if trim or (f.required and required) or rule.codes is not None or f.fixed is not None:
        return False
    if f.type == "string" and f.format is None:
        return not lengths or (f.length is None and f.max_length is None and least_length(f) is None)
    if f.type in ("decimal", "int"):
        return not number
    return f.format is None  # times are always parsed and checked


def _suspect(
    rule: _FieldRule, values: Sequence[Value], trimmed: list[Value], typed: list[Any], trim: bool
) -> bool:
    """Whether some value of the column may fail a check: a few passes over the whole column, so that the
    value-by-value search (which says which check fails, and where) only runs where there is something."""
    f = rule.field
    present = [v for v in trimmed if v is not None]
    if len(present) < len(trimmed) and f.required:
        return True
    if trim and any(o != v for o, v in zip(values, trimmed, strict=True) if v is not None):
        return True  # white space around a value (a warning), or a value of only white space
    if rule.typer is not None:
        failed = typed.count(None) != len(trimmed) - len(present)
        if f.type == "int":
            return failed or any(not INT_MIN <= v <= INT_MAX for v in typed if v is not None)
        return failed
    if present and (f.length is not None or f.max_length is not None or least_length(f) is not None):
        sizes = [len(v) for v in present]
        shortest, longest = min(sizes), max(sizes)
        if f.length is not None and not shortest == longest == f.length:
            return True
        if f.max_length is not None and longest > f.max_length:
            return True
        floor = least_length(f)
        if floor is not None and shortest < floor:
            return True
    if f.fixed is not None and any(v != f.fixed for v in present):
        return True
    return rule.codes is not None and not rule.codes.issuperset(present)


def check_columns(
    entity: Entity,
    columns: Sequence[Sequence[Value]],
    code_tables: CodeSets | None = None,
    *,
    facts: Mapping[str, ColumnFacts] | None = None,
    typed: bool = True,
) -> tuple[list[list[Any]], list[RowProblem]]:
    """Type and check one entity's raw columns (one list of values per field, in field order).

    Returns the typed columns (trimmed text, Decimal, int, datetime, date; None for empty) and the problems,
    field by field and in row order within a field — the order of ``fieldcheck.check_entity``'s problems.
    ``typed=False``: only the problems are wanted (the typed columns come back empty), which spares typing
    the numbers the extractor already found well formed.
    """
    code_tables = code_tables or {}
    facts = facts or {}
    typed_columns: list[list[Any]] = []
    problems: list[RowProblem] = []
    for rule, values in zip(_rules(entity, code_tables), columns, strict=True):
        f = rule.field
        noticed = facts.get(f.name)
        profile = field_profile(f, noticed)
        settled = _settled(rule, profile)
        if settled and not typed:
            continue
        trim = profile[0]
        trimmed: list[Value] = [_trim(v) for v in values] if trim else list(values)
        as_typed = rule.type_column(trimmed, well_formed=noticed is not None and noticed.numeric_ok)
        if typed:
            typed_columns.append(as_typed)
        if settled or not _suspect(rule, values, trimmed, as_typed, trim):
            continue
        for row, (original, value, one) in enumerate(zip(values, trimmed, as_typed, strict=True)):
            code = rule.problem(value, one)
            if code is None and trim and value is not None and original != value:
                code = "tolerated.whitespace"
            if code is not None:
                problems.append(RowProblem(row, f.name, code, original, rule.expected, rule.table))
    return typed_columns, problems


def _trim(v: Value) -> Value:
    return None if v is None else (v.strip(WHITESPACE) or None)
