"""Time-limited leases: one process at a time runs a singleton job (the clearing loop) on a shared database.

Matching keeps the documents still waiting for their partners in the memory of the process that clears, so
two processes clearing the same stream would each hold half of a parcel's documents.  A lease makes one of
them the clearer while the others only take messages in and answer queries; if the holder dies, its lease
runs out and another process takes over (and rebuilds the waiting documents from the store).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from cbec.store._common import dialect_insert, utcnow
from cbec.store.schema import lease


def acquire(conn: Connection, name: str, holder: str, *, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take or renew the lease ``name`` for ``holder``; True when ``holder`` holds it afterwards."""
    at = now or utcnow()
    until = at + ttl
    stmt = dialect_insert(conn, lease).values(name=name, holder=holder, expires_at=until)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=[lease.c.name]))
    conn.execute(
        update(lease)
        .where(lease.c.name == name, (lease.c.holder == holder) | (lease.c.expires_at < at))
        .values(holder=holder, expires_at=until)
    )
    return bool(conn.execute(select(lease.c.holder).where(lease.c.name == name)).scalar_one() == holder)


def release(conn: Connection, name: str, holder: str) -> None:
    """Give the lease up (only if ``holder`` still holds it)."""
    conn.execute(delete(lease).where(lease.c.name == name, lease.c.holder == holder))


def holder_of(conn: Connection, name: str, *, now: datetime | None = None) -> str | None:
    """Who holds ``name`` now (None when nobody, or the lease ran out)."""
    row = conn.execute(select(lease.c.holder, lease.c.expires_at).where(lease.c.name == name)).first()
    if row is None or row.expires_at < (now or utcnow()):
        return None
    return str(row.holder)
