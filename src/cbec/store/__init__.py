"""The store: the database behind import clearance (SQLAlchemy Core, SQLite by default, PostgreSQL by URL).

The store is the imperative shell's memory and nothing more: it keeps raw messages, derived state,
ledgers and the outbox, and makes every write idempotent, so that retries and replays have exactly one
effect.  It knows nothing of the rules; the domain core never imports it.

Each step is its own transaction (``with engine.begin() as conn:``), in this order:

1. :func:`inbox.accept` — commit the raw message before acknowledging the sender;
2. processing — documents, decisions, quota, tax bills, receipts and :func:`inbox.mark_processed`, all in
   one transaction, so a batch has all its effects or none;
3. delivery — :func:`outbox.undelivered`, send, :func:`outbox.mark_delivered`.

See ``docs/store.md``.
"""

from __future__ import annotations

from cbec.store import batches, decisions, documents, inbox, outbox, quota, schema, tax
from cbec.store._common import Outcome
from cbec.store.db import connect, current_revision, database_url, downgrade, head_revision, reader, upgrade
from cbec.store.maintenance import rebuild, reset

__all__ = [
    "Outcome",
    "batches",
    "connect",
    "current_revision",
    "database_url",
    "decisions",
    "documents",
    "downgrade",
    "head_revision",
    "inbox",
    "outbox",
    "quota",
    "reader",
    "rebuild",
    "reset",
    "schema",
    "tax",
    "upgrade",
]
