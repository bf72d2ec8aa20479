"""Type and check the fields of a whole column batch at once.

The extractor hands over strings exactly as sent.  Here each column is trimmed, emptied to null, checked
against the facets the XSD gives (required, length, digits, time format, code tables) and cast to its type —
Decimal(19,5) for money and quantities, Int64, Datetime/Date — with Polars expressions, so ten messages or ten
million cost the same code.  The result is the typed frame plus a long frame of problems (one row per bad
value) that the caller turns into findings.
"""

from __future__ import annotations

import polars as pl

from cbec.messages.codes import FIELD_TABLES, CodeSets
from cbec.messages.spec import TIME_PATTERNS, Entity, Field

INDEX_COLUMNS = ("_msg", "_doc", "_line")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # xs:int


def _decimal_regex(f: Field) -> str:
    total = f.total_digits or 19
    frac = f.fraction_digits or 0
    whole = max(total - frac, 1)
    if frac:
        return rf"^[+-]?\d{{1,{whole}}}(\.\d{{1,{frac}}})?$"
    return rf"^[+-]?\d{{1,{whole}}}$"


def _int_regex(f: Field) -> str:
    digits = f.total_digits or 10
    return rf"^[+-]?\d{{1,{digits}}}$"


def _expected(f: Field) -> str:
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


def check_entity(
    raw: pl.DataFrame, entity: Entity, code_tables: CodeSets | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (typed frame, problems frame) for one entity's string columns.

    ``problems`` has columns _msg, _doc, _line, field, code, value, expected, table.
    """
    code_tables = code_tables or {}
    stripped = {f.name: pl.col(f.name).str.strip_chars() for f in entity.fields}
    trimmed = raw.with_columns(
        *(s.replace("", None).alias(n) for n, s in stripped.items()),
        *(((pl.col(n) != s) & (s != "")).alias(f"__ws_{n}") for n, s in stripped.items()),
    )
    checks: list[pl.Expr] = []
    casts: list[pl.Expr] = []
    for f in entity.fields:
        c = pl.col(f.name)
        conds: list[tuple[pl.Expr, str]] = []
        if f.required:
            conds.append((c.is_null(), "field.required"))
        if f.type == "string" and f.format is None:
            n = c.str.len_chars()
            if f.length is not None:
                conds.append((n != f.length, "field.length"))
            if f.max_length is not None:
                conds.append((n > f.max_length, "field.length"))
            if f.min_length is not None and f.min_length > 1:
                conds.append((n < f.min_length, "field.length"))
            if f.fixed is not None:
                conds.append((c != f.fixed, "field.fixed"))
            table = code_tables.get(f.name)
            if table is not None:
                codes, strict = table
                conds.append((~c.is_in(list(codes)), "field.code" if strict else "tolerated.code"))
            casts.append(c)
        elif f.type == "decimal":
            conds.append((~c.str.contains(_decimal_regex(f)), "field.decimal"))
            casts.append(c.cast(_dtype(f), strict=False))
        elif f.type == "int":
            as_int = c.cast(pl.Int64(), strict=False)
            out_of_range = (as_int < INT_MIN) | (as_int > INT_MAX)
            conds.append((~c.str.contains(_int_regex(f)) | out_of_range, "field.integer"))
            casts.append(as_int)
        elif f.format is not None:
            parsed = c.str.strptime(_dtype(f), TIME_PATTERNS[f.format], strict=False)  # type: ignore[arg-type]
            conds.append(
                (c.is_not_null() & ((c.str.len_chars() != f.length) | parsed.is_null()), "field.time")
            )
            casts.append(parsed)
        else:
            casts.append(c)
        # whitespace trimmed: a warning, computed on the original column
        conds.append((pl.col(f"__ws_{f.name}"), "tolerated.whitespace"))
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
    if value_cols:
        long_codes = verdicts.unpivot(
            index=list(INDEX_COLUMNS), on=value_cols, variable_name="field", value_name="code"
        ).drop_nulls("code")
    else:
        long_codes = pl.DataFrame(
            schema={**{c: pl.Int32() for c in INDEX_COLUMNS}, "field": pl.String(), "code": pl.String()}
        )
    if long_codes.height:
        values = raw.select(*idx, *[pl.col(n).cast(pl.String) for n in value_cols]).unpivot(
            index=list(INDEX_COLUMNS), on=value_cols, variable_name="field", value_name="value"
        )
        problems = long_codes.join(values, on=[*INDEX_COLUMNS, "field"], how="left")
        specs = {f.name: f for f in entity.fields}
        problems = problems.with_columns(
            pl.col("field")
            .replace_strict({n: _expected(specs[n]) for n in value_cols}, default="")
            .alias("expected"),
            pl.col("field")
            .replace_strict({n: _table_name(n, code_tables) for n in value_cols}, default="")
            .alias("table"),
        )
    else:
        problems = long_codes.with_columns(
            pl.lit(None, pl.String).alias("value"),
            pl.lit(None, pl.String).alias("expected"),
            pl.lit(None, pl.String).alias("table"),
        )
    typed = trimmed.select(*idx, *[e.alias(f.name) for e, f in zip(casts, entity.fields, strict=True)])
    return typed, problems


def _table_name(field_name: str, code_tables: CodeSets) -> str:
    return FIELD_TABLES[field_name][0] if field_name in code_tables else ""
