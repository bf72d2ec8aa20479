"""Writing whole Polars frames into a table, for the clearance hot path.

The repositories take rows as dataclasses and go through SQLAlchemy's per-row parameter processing, which is
right for a handful of rows and far too slow for the hundreds of thousands a large clearance batch writes
(the per-value Python work costs more than SQLite's own insert).  Here a frame goes in as it is:

* on SQLite, one ``executemany`` on the connection's own DBAPI cursor, so the rows join the transaction
  SQLAlchemy already began, with timestamps rendered once per column in the format SQLAlchemy itself
  stores (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) so every reader sees the same values;
* on PostgreSQL, :func:`cbec.store._common.bulk_insert` (one ``unnest`` of column arrays per page).

Only columns of the table may appear; timestamp columns must be timezone-aware UTC (``Datetime(tz="UTC")``),
the same rule :class:`cbec.store.schema.UtcDateTime` enforces for single rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import polars as pl
from sqlalchemy import Connection, Table, and_, bindparam, update

from cbec.store._common import bulk_insert
from cbec.store.db import driver_cursor
from cbec.store.schema import UtcDateTime

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S%.6f"


def sqlite_time(column: pl.Expr) -> pl.Expr:
    """A UTC-aware Datetime column as the text a ``UtcDateTime`` is stored as on SQLite."""
    return column.dt.convert_time_zone("UTC").dt.strftime(_SQLITE_TIME)


def insert_frame(
    conn: Connection, table: Table, frame: pl.DataFrame, *, ignore_conflicts: bool = False
) -> int:
    """Insert every row of ``frame``; with ``ignore_conflicts``, rows clashing with a unique key are skipped.

    Returns the number of rows handed to the database.
    """
    if frame.height == 0:
        return 0
    unknown = [c for c in frame.columns if c not in table.c]
    if unknown:
        raise ValueError(f"columns not in table {table.name}: {unknown}")
    for name in frame.columns:
        if isinstance(table.c[name].type, UtcDateTime):
            dtype = frame.schema[name]
            if not isinstance(dtype, pl.Datetime) or dtype.time_zone != "UTC":
                raise ValueError(f"{table.name}.{name} must be a UTC-aware Datetime column, not {dtype}")
    if conn.dialect.name != "sqlite":
        rows = frame.to_dicts()
        bulk_insert(
            conn,
            table,
            rows,
            on_conflict=(lambda stmt: stmt.on_conflict_do_nothing()) if ignore_conflicts else None,
        )
        return len(rows)
    rendered = frame.with_columns(
        sqlite_time(pl.col(name)) for name in frame.columns if isinstance(table.c[name].type, UtcDateTime)
    )
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})'
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    with driver_cursor(conn) as cursor:
        cursor.executemany(sql, frame_rows(rendered))
    return frame.height


def frame_rows(frame: pl.DataFrame) -> Iterator[tuple[object, ...]]:
    """The frame's rows as tuples for ``executemany``: each column turned into Python values at once and
    zipped, about a third less time than ``iter_rows`` (which builds every row through Polars)."""
    return zip(*(column.to_list() for column in frame.iter_columns()), strict=True)


def update_status(
    conn: Connection, table: Table, key_columns: Sequence[str], frame: pl.DataFrame, *, column: str = "status"
) -> int:
    """Set ``column`` from ``frame`` for the rows matching ``key_columns`` (one executemany).

    ``frame`` holds the key columns and ``column``.  Returns the number of rows handed to the database.
    """
    if frame.height == 0:
        return 0
    where = " AND ".join(f'"{k}" = ?' for k in key_columns)
    ordered = frame.select(column, *key_columns)
    if conn.dialect.name == "sqlite":
        with driver_cursor(conn) as cursor:
            cursor.executemany(f'UPDATE "{table.name}" SET "{column}" = ? WHERE {where}', frame_rows(ordered))
        return frame.height
    stmt = (
        update(table)
        .where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in key_columns)))
        .values({column: bindparam(f"v_{column}")})
    )
    conn.execute(
        stmt,
        [
            {f"v_{column}": row[0], **{f"k_{k}": v for k, v in zip(key_columns, row[1:], strict=True)}}
            for row in ordered.iter_rows()
        ],
    )
    return frame.height
