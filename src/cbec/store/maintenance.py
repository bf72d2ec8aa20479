"""Emptying the store: ``reset`` for tests, ``rebuild`` to recompute all derived state from the inbox."""

from __future__ import annotations

from sqlalchemy import Engine, delete, update

from cbec.store import ledgers
from cbec.store.inbox import ACCEPTED
from cbec.store.schema import (
    DERIVED_TABLES,
    EXPORT_DERIVED_TABLES,
    EXPORT_RETURN_DERIVED_TABLES,
    batch,
    inbox,
    metadata,
    receipt,
)


def reset(engine: Engine) -> None:
    """Delete every row of every table (the schema and its migration version stay).  For tests."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))


def rebuild(engine: Engine, *, keep_delivered_receipts: bool = True) -> dict[str, int]:
    """Forget everything derived from the inbox, in one transaction, so the engine can replay it.

    Documents, decisions, quota and tax bills are deleted and every inbox message goes back to
    ``accepted``; the engine then reprocesses it all through :func:`cbec.store.inbox.pending`.  Receipts
    already delivered are kept by default: they record what enterprises were told, which a replay cannot
    undo, and keeping them means the replay does not send the same receipts again (the outbox's unique
    key turns the re-issued ones into no-ops).  Undelivered receipts are deleted and re-issued by the
    replay.  Returns the number of rows deleted or reset per table.
    """
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        counts.update(ledgers.forget_derived(conn))  # write-offs, returns, holds, CEB711 entries
        # export returns and exports first: export_return and export_list name inbox rows
        for table in (*EXPORT_RETURN_DERIVED_TABLES, *EXPORT_DERIVED_TABLES, *DERIVED_TABLES):
            counts[table.name] = conn.execute(delete(table)).rowcount
        drop_receipts = delete(receipt)
        if keep_delivered_receipts:
            drop_receipts = drop_receipts.where(receipt.c.delivered_at.is_(None))
        counts[receipt.name] = conn.execute(drop_receipts).rowcount
        counts[inbox.name] = conn.execute(
            update(inbox)
            .where((inbox.c.status != ACCEPTED) | inbox.c.batch_id.is_not(None))
            .values(status=ACCEPTED, processed_at=None, batch_id=None)
        ).rowcount
        counts[batch.name] = conn.execute(delete(batch)).rowcount
    return counts
