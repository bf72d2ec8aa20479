"""Type and check the fields of a whole column batch at once.

The extractor hands over strings exactly as sent.  Here each column is trimmed, emptied to null, checked
against the facets the XSD gives (required, length, digits, time format, code tables) and cast to its type —
Decimal(19,5) for money and quantities, Int64, Datetime/Date — with Polars expressions, so ten messages or ten
million cost the same code.  The result is the typed frame plus a long frame of problems (one row per bad
value) that the caller turns into findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from cbec.messages.codes import FIELD_TABLES, CodeSets
from cbec.messages.spec import TIME_PATTERNS, Entity, Field

INDEX_COLUMNS = ("_msg", "_doc", "_line")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # xs:int


NUMBER_DECIMAL, NUMBER_INT = 1, 2


def number_facets(f: Field) -> tuple[int, int, int]:
    """``(kind, whole, frac)`` of a numeric field's pattern (kind 0: not a number) — also what the C walk
    checks values against (see :class:`ColumnFacts`)."""
    if f.type == "decimal":
        total = f.total_digits or 19
        frac = f.fraction_digits or 0
        return NUMBER_DECIMAL, max(total - frac, 1), frac
    if f.type == "int":
        return NUMBER_INT, f.total_digits or 10, 0
    return 0, 0, 0


def decimal_pattern(f: Field) -> str:
    """The lexical form of a decimal field: ASCII digits only (xs:decimal), within its digit facets."""
    _kind, whole, frac = number_facets(f)
    if frac:
        return rf"^[+-]?[0-9]{{1,{whole}}}(\.[0-9]{{1,{frac}}})?$"
    return rf"^[+-]?[0-9]{{1,{whole}}}$"


def int_pattern(f: Field) -> str:
    _kind, digits, _frac = number_facets(f)
    return rf"^[+-]?[0-9]{{1,{digits}}}$"


TIME_SHAPES: dict[str, str] = {
    "ts14": r"^[0-9]{12}[0-5][0-9]$",
    "ts17": r"^[0-9]{12}[0-5][0-9][0-9]{3}$",
    "date8": r"^[0-9]{8}$",
}
"""What a time field's text must look like before it is parsed: ASCII digits, seconds 00–59.

The parser alone is too lenient: it takes a space for a leading zero ("202401311200 0"), rolls a leap second
into the next day ("…235960" became 1 January) and reads year 0000, which Python cannot hold (that crashed
the decoder).  Year 0000 is refused apart (see :func:`_cast`).
"""


@dataclass(frozen=True, slots=True)
class ColumnFacts:
    """What the extractor noticed about one raw string column of a batch while copying it.

    The field checks skip what these settle for the whole column: no trimming when no value is empty or has
    white space at either end, lengths in bytes when all is ASCII, no length check when the shortest and
    longest values fit, no pattern check when every value is a plain ASCII number within the facets.
    """

    nulls: int  # rows without a value
    untrimmed: bool  # some value is empty or starts or ends with (Unicode) white space
    ascii: bool  # every value is ASCII
    min_chars: int  # the shortest and longest value, in characters (-1 when there is no value)
    max_chars: int
    numeric_ok: bool  # every value matches ``number_facets`` in ASCII digits (integers: and is an int32)


def expected_text(f: Field) -> str:
    """What a finding says the field should hold: its fixed value, time layout or the spec's notation."""
    if f.fixed is not None:
        return f.fixed
    if f.format:
        return {"ts14": "YYYYMMDDhhmmss", "ts17": "YYYYMMDDhhmmssSSS", "date8": "YYYYMMDD"}[f.format]
    return f.notation


def _dtype(f: Field) -> pl.DataType:
    if f.type == "decimal":
        return pl.Decimal(
            38 if (f.total_digits or 19) > 38 else (f.total_digits or 19), f.fraction_digits or 0
        )
    if f.type == "int":
        return pl.Int64()
    if f.format == "ts17":
        return pl.Datetime("ms")
    if f.format == "ts14":
        return pl.Datetime("us")
    if f.format == "date8":
        return pl.Date()
    return pl.String()


def empty_frame(entity: Entity) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {c: pl.Int32() for c in INDEX_COLUMNS}
    schema.update({f.name: _dtype(f) for f in entity.fields})
    return pl.DataFrame(schema=schema)


# per field: (trim, ascii, check required, check lengths, check the number pattern)
Profile = tuple[bool, bool, bool, bool, bool]
_FULL: Profile = (True, False, True, True, True)


def least_length(f: Field) -> int | None:
    return f.min_length if f.min_length is not None and f.min_length > 1 else None


def _conditions(
    f: Field, c: pl.Expr, cast: pl.Expr, code_tables: CodeSets, profile: Profile = _FULL
) -> list[tuple[pl.Expr, str]]:
    """The checks of one field, in priority order: (condition on the trimmed column, problem code).

    ``c`` is the trimmed value (null when empty), ``cast`` its typed form (for ints and times).  ``profile``
    leaves out what is settled for the column (see :func:`field_profile`); by default nothing is.
    """
    _trim, ascii, required, lengths, number = profile
    conds: list[tuple[pl.Expr, str]] = []
    if f.required and required:
        conds.append((c.is_null(), "field.required"))
    if f.type == "string" and f.format is None:
        min_length = least_length(f)
        if lengths and (f.length is not None or f.max_length is not None or min_length is not None):
            n = c.str.len_bytes() if ascii else c.str.len_chars()
            if f.length is not None:
                conds.append((n != f.length, "field.length"))
            if f.max_length is not None:
                conds.append((n > f.max_length, "field.length"))
            if min_length is not None:
                conds.append((n < min_length, "field.length"))
        if f.fixed is not None:
            conds.append((c != f.fixed, "field.fixed"))
        table = code_tables.get(f.name)
        if table is not None:
            codes, strict = table
            conds.append((~c.is_in(sorted(codes)), "field.code" if strict else "tolerated.code"))
    elif f.type == "decimal":
        if number:
            conds.append((~c.str.contains(decimal_pattern(f)), "field.decimal"))
    elif f.type == "int":
        if number:
            out_of_range = (cast < INT_MIN) | (cast > INT_MAX)
            conds.append((~c.str.contains(int_pattern(f)) | out_of_range, "field.integer"))
    elif f.format is not None:
        n = c.str.len_bytes() if ascii else c.str.len_chars()
        conds.append((c.is_not_null() & ((n != f.length) | cast.is_null()), "field.time"))
    return conds


def _cast(f: Field, c: pl.Expr) -> pl.Expr | None:
    """The typed form of a trimmed string column, or None when it stays a string."""
    if f.type == "string" and f.format is None:
        return None
    if f.type == "decimal":
        return c.cast(_dtype(f), strict=False)
    if f.type == "int":
        return c.cast(pl.Int64(), strict=False)
    if f.format is not None:
        shaped = c.str.contains(TIME_SHAPES[f.format]) & ~c.str.starts_with("0000")
        parsed = c.str.strptime(_dtype(f), TIME_PATTERNS[f.format], strict=False)  # type: ignore[arg-type]
        return pl.when(shaped).then(parsed)  # null when ill-shaped, so the check below refuses it
    return None


def _ws(name: str) -> str:
    return f"__ws_{name}"


def _typed_name(name: str) -> str:
    return f"__typed_{name}"


def _len_name(name: str) -> str:
    return f"__len_{name}"


@dataclass(frozen=True, slots=True)
class _Plan:
    """The expressions of one entity, built once: the whole batch goes through them in one query."""

    lengths: tuple[pl.Expr, ...]  # byte length of each original value (whitespace is detected with it)
    trims: tuple[pl.Expr, ...]  # each column trimmed, empty -> null
    casts: tuple[pl.Expr, ...]  # typed forms of the non-string columns, under temporary names
    outputs: tuple[pl.Expr, ...]  # the typed frame's columns
    suspects: tuple[pl.Expr, ...]  # conditions that may mean a problem (exact findings come later)


def field_profile(f: Field, facts: ColumnFacts | None) -> Profile:
    """Which work a column needs, given what the extractor noticed about it (all of it without facts)."""
    if facts is None:
        return _FULL
    trim = facts.untrimmed
    if facts.max_chars < 0:  # no value at all: nothing to measure
        lengths_ok = True
    else:
        min_length = least_length(f)
        lengths_ok = (
            (f.length is None or facts.min_chars == facts.max_chars == f.length)
            and (f.max_length is None or facts.max_chars <= f.max_length)
            and (min_length is None or facts.min_chars >= min_length)
        )
    return (
        trim,
        facts.ascii,
        trim or facts.nulls > 0,
        trim or not lengths_ok,
        not facts.numeric_ok,
    )


CodeKey = tuple[tuple[str, frozenset[str], bool], ...]
_PLANS: dict[tuple[Entity, CodeKey, tuple[Profile, ...]], _Plan] = {}


def code_key(code_tables: CodeSets) -> CodeKey:
    """The code tables as a cache key, by content (what the checks built from them depend on)."""
    return tuple((name, c, strict) for name, (c, strict) in sorted(code_tables.items()))


def _plan(entity: Entity, code_tables: CodeSets, profiles: tuple[Profile, ...]) -> _Plan:
    key = (entity, code_key(code_tables), profiles)
    plan = _PLANS.get(key)
    if plan is not None:
        return plan
    lengths, trims, casts, outputs, suspects = [], [], [], [], []
    for f, profile in zip(entity.fields, profiles, strict=True):
        c = pl.col(f.name)
        trim = profile[0]
        if trim:
            lengths.append(c.str.len_bytes().alias(_len_name(f.name)))
            trims.append(c.str.strip_chars().replace("", None).alias(f.name))
        cast = _cast(f, c)
        typed = c
        if cast is not None:
            casts.append(cast.alias(_typed_name(f.name)))
            typed = pl.col(_typed_name(f.name))
        outputs.append(typed.alias(f.name))
        suspects += [cond.fill_null(False) for cond, _code in _conditions(f, c, typed, code_tables, profile)]
        if trim:
            # trimmed something: the original is longer than what is left (a superset of the whitespace
            # warning, which the exact pass decides)
            suspects.append((pl.col(_len_name(f.name)) != c.str.len_bytes().fill_null(0)).fill_null(False))
    plan = _Plan(tuple(lengths), tuple(trims), tuple(casts), tuple(outputs), tuple(suspects))
    if len(_PLANS) < 512:
        _PLANS[key] = plan
    return plan


def check_entity(
    raw: pl.DataFrame,
    entity: Entity,
    code_tables: CodeSets | None = None,
    *,
    facts: Mapping[str, ColumnFacts] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (typed frame, problems frame) for one entity's string columns.

    ``problems`` has columns _msg, _doc, _line, field, code, value, expected, table.

    One pass over the whole batch trims and types every column and evaluates each check as a flag; the
    exact findings are then worked out on the rows flagged (usually none).  ``facts`` (what the extractor
    noticed about each column, see :class:`ColumnFacts`) spares the work they settle.
    """
    code_tables = code_tables or {}
    facts = facts or {}
    plan = _plan(entity, code_tables, tuple(field_profile(f, facts.get(f.name)) for f in entity.fields))
    idx = [pl.col(c) for c in INDEX_COLUMNS]
    # eager steps: each is one pass over the columns (the lazy optimiser's passes cost more than they save)
    frame = raw.with_columns(*plan.lengths, *plan.trims) if plan.trims else raw
    if plan.casts:
        frame = frame.with_columns(*plan.casts)
    typed = frame.select(*idx, *plan.outputs)
    if not plan.suspects:
        return typed, _no_problems()
    # each flag a column of its own, then folded: one expression over them all costs far more to plan
    flags = frame.select(cond.alias(str(i)) for i, cond in enumerate(plan.suspects))
    suspect = flags.max_horizontal() if flags.width > 1 else flags.to_series()
    # usually no row is flagged: then there is nothing more to compute
    return typed, (_problems(raw.filter(suspect), entity, code_tables) if suspect.any() else _no_problems())


def _no_problems() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            **{c: pl.Int32() for c in INDEX_COLUMNS},
            "field": pl.String(),
            "code": pl.String(),
            "value": pl.String(),
            "expected": pl.String(),
            "table": pl.String(),
        }
    )


def _problems(raw: pl.DataFrame, entity: Entity, code_tables: CodeSets) -> pl.DataFrame:
    """The exact problems of some rows: one row per field with a problem, the first failing check wins.

    Rows come out field by field, in the frame's order within a field.
    """
    stripped = {f.name: pl.col(f.name).str.strip_chars() for f in entity.fields}
    trimmed = raw.with_columns(
        *(s.replace("", None).alias(n) for n, s in stripped.items()),
        *(((pl.col(n) != s) & (s != "")).alias(_ws(n)) for n, s in stripped.items()),
    )
    checks: list[pl.Expr] = []
    for f in entity.fields:
        c = pl.col(f.name)
        cast = _cast(f, c)
        conds = _conditions(f, c, cast if cast is not None else c, code_tables)
        # whitespace trimmed: a warning, computed on the original column
        conds.append((pl.col(_ws(f.name)), "tolerated.whitespace"))
        expr: pl.Expr | None = None
        for cond, code in reversed(conds):
            expr = (
                pl.when(cond.fill_null(False))
                .then(pl.lit(code))
                .otherwise(expr if expr is not None else pl.lit(None, pl.String))
            )
        if expr is not None:
            checks.append(expr.alias(f.name))
    idx = [pl.col(c) for c in INDEX_COLUMNS]
    verdicts = trimmed.select(*idx, *checks)
    value_cols = [f.name for f in entity.fields if f.name in verdicts.columns]
    if not value_cols:
        return _no_problems()
    long_codes = verdicts.unpivot(
        index=list(INDEX_COLUMNS), on=value_cols, variable_name="field", value_name="code"
    ).drop_nulls("code")
    if not long_codes.height:
        return _no_problems()
    values = raw.select(*idx, *[pl.col(n).cast(pl.String) for n in value_cols]).unpivot(
        index=list(INDEX_COLUMNS), on=value_cols, variable_name="field", value_name="value"
    )
    problems = long_codes.join(values, on=[*INDEX_COLUMNS, "field"], how="left", maintain_order="left")
    specs = {f.name: f for f in entity.fields}
    return problems.with_columns(
        pl.col("field")
        .replace_strict({n: expected_text(specs[n]) for n in value_cols}, default="")
        .alias("expected"),
        pl.col("field")
        .replace_strict({n: table_name(n, code_tables) for n in value_cols}, default="")
        .alias("table"),
    )


def table_name(field_name: str, code_tables: CodeSets) -> str:
    return FIELD_TABLES[field_name][0] if field_name in code_tables else ""
