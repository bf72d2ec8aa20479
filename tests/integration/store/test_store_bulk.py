"""``bulk.insert_frame`` stores every row as given, NULLs included, whatever way it binds them.

On SQLite it leaves out of the INSERT the nullable columns without a default that a row has NULL (binding
``None`` costs several times a string), grouping rows by those columns when the ids may come in any order.
What is stored must not depend on it: a NULL stays NULL even where the column has a server default, and
without ``any_order`` the ids follow the frame's order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, select, text

from cbec.store.bulk import insert_frame
from cbec.store.schema import Id, UtcDateTime

_meta = MetaData()
probe = Table(
    "bulk_probe",
    _meta,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(20), nullable=False),
    Column("note", String(20), nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("label", String(20), nullable=True, server_default=text("'default'")),
    Column("at", UtcDateTime(), nullable=True),
)
SCHEMA = {
    "name": pl.String(),
    "note": pl.String(),
    "amount": pl.Int64(),
    "label": pl.String(),
    "at": pl.Datetime("us", "UTC"),
}
AT = datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def table_engine(engine: Engine) -> Iterator[Engine]:
    _meta.create_all(engine)
    yield engine
    _meta.drop_all(engine)


def _stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(probe.c.name, probe.c.note, probe.c.amount, probe.c.label, probe.c.at)
                            .order_by(probe.c.id))  # fmt: skip
        return [tuple(r) for r in rows]


def _insert(engine: Engine, rows: list[tuple[object, ...]], *, any_order: bool) -> None:
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    with engine.begin() as conn:
        assert insert_frame(conn, probe, frame, any_order=any_order) == len(rows)


ROWS: list[tuple[object, ...]] = [
    ("a", "x", 1, "l", AT),
    ("b", None, 2, None, AT),
    ("c", "y", None, "m", None),
    ("d", None, None, None, None),
    ("e", "z", 5, "n", AT),
    ("f", None, 6, None, AT),
]


@pytest.mark.parametrize("any_order", [False, True])
def test_nulls_stay_null_and_values_stay_values(table_engine: Engine, any_order: bool) -> None:
    _insert(table_engine, ROWS, any_order=any_order)
    stored = _stored(table_engine)
    # a NULL given for a column with a server default is stored as NULL, not replaced by the default
    expected = sorted(ROWS, key=lambda r: str(r[0]))
    assert sorted(stored, key=lambda r: str(r[0])) == expected
    if not any_order:
        assert stored == ROWS  # the ids follow the frame


def test_a_column_null_in_every_row(table_engine: Engine) -> None:
    rows: list[tuple[object, ...]] = [("a", None, 1, None, None), ("b", None, 2, None, None)]
    _insert(table_engine, rows, any_order=False)
    assert _stored(table_engine) == rows


_value = st.one_of(st.none(), st.text(alphabet="abc中", min_size=0, max_size=5))
_row = st.tuples(
    st.text(alphabet="xyz", min_size=1, max_size=4),
    _value,
    st.one_of(st.none(), st.integers(-(2**40), 2**40)),
    _value,
    st.one_of(st.none(), st.just(AT)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=30), any_order=st.booleans())
def test_any_rows_come_back_as_given(
    table_engine: Engine, rows: list[tuple[object, ...]], any_order: bool
) -> None:
    with table_engine.begin() as conn:
        conn.execute(probe.delete())
    _insert(table_engine, rows, any_order=any_order)
    stored = _stored(table_engine)
    if any_order:
        assert sorted(map(repr, stored)) == sorted(map(repr, rows))
    else:
        assert stored == rows
