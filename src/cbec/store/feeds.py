"""Where each consumer of a receipt feed has got to, so that it resumes after a crash and sees each once.

A consumer reads its feed after a position and confirms the last receipt it has handled; the confirmed
position is stored here.  Reading without a position starts after the confirmed one, so a client that
crashed before confirming gets the same receipts again and one that confirmed never sees them twice.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from cbec.store._common import check_len, dialect_insert, utcnow
from cbec.store.schema import feed_cursor


def position(conn: Connection, consumer: str) -> int:
    """The last receipt id ``consumer`` has confirmed (0 before its first confirmation)."""
    value = conn.execute(select(feed_cursor.c.position).where(feed_cursor.c.consumer == consumer)).scalar()
    return int(value or 0)


def confirm(conn: Connection, consumer: str, upto: int) -> int:
    """Record that ``consumer`` has handled every receipt up to ``upto``; positions never move back.

    Returns the stored position (the larger of the old one and ``upto``).
    """
    check_len("consumer", consumer, 80)
    now = utcnow()
    stmt = dialect_insert(conn, feed_cursor).values(consumer=consumer, position=upto, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[feed_cursor.c.consumer],
            set_={"position": upto, "updated_at": now},
            where=feed_cursor.c.position < upto,
        )
    )
    return position(conn, consumer)
