"""Batches: one row per engine run, so every decision and processed message says which run made it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update

from cbec.store._common import utcnow
from cbec.store.schema import batch


def start(conn: Connection, *, note: str = "", at: datetime | None = None) -> int:
    """Open a batch and return its id (write it in the processing transaction, so it vanishes on rollback)."""
    result = conn.execute(
        batch.insert().values(started_at=at or utcnow(), finished_at=None, messages=0, note=note)
    )
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - single-row INSERT always has one
        raise RuntimeError("batch insert returned no primary key")
    return int(key[0])


def finish(conn: Connection, batch_id: int, messages: int, *, at: datetime | None = None) -> None:
    conn.execute(
        update(batch).where(batch.c.id == batch_id).values(finished_at=at or utcnow(), messages=messages)
    )
