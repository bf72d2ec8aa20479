"""Named counters for numbers handed out in sequence (list numbers), safe with several clearing processes.

:func:`take` reads and moves a counter in the caller's transaction.  On SQLite that transaction already holds
the database's only write lock (``BEGIN IMMEDIATE``); on PostgreSQL the row is locked (``FOR UPDATE``) until
the transaction ends.  Either way a number is handed out once, and a rolled-back transaction gives its
numbers back.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from cbec.store._common import dialect_insert
from cbec.store.schema import counter

INVT_NO = "invt_no"


def current(conn: Connection, name: str, *, lock: bool = True) -> int:
    """The counter's value (0 if never moved), locking its row until the transaction ends.

    ``lock=False`` only reads (nothing written: usable in a read-only transaction), for a caller that reads
    again with the lock before relying on the value.
    """
    if not lock:
        value = conn.execute(select(counter.c.value).where(counter.c.name == name)).scalar()
        return int(value or 0)
    conn.execute(dialect_insert(conn, counter).values(name=name, value=0).on_conflict_do_nothing())
    stmt = select(counter.c.value).where(counter.c.name == name)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return int(conn.execute(stmt).scalar_one())


def advance(conn: Connection, name: str, by: int) -> None:
    """Move the counter forward by ``by`` (after :func:`current` in the same transaction)."""
    if by < 0:
        raise ValueError("counters only move forward")
    if by:
        conn.execute(update(counter).where(counter.c.name == name).values(value=counter.c.value + by))
