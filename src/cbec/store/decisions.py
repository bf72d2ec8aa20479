"""Decisions on inventory lists: what was decided, by which rule, and why, in Chinese and English.

Decisions are a log, not a state: a list may be accepted, held and released over time, and each step is a
row.  They need no idempotency key of their own because they are written in the same transaction as
:func:`cbec.store.inbox.mark_processed`: a batch either commits once with all its decisions or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from cbec.store._common import bulk_insert, check_len, chunks, utcnow
from cbec.store.schema import decision


@dataclass(frozen=True, slots=True)
class Decision:
    list_key: str
    status: int
    rule: str
    reason_zh: str
    reason_en: str
    invt_no: str | None = None
    code: str | None = None
    """Official business code where one exists, e.g. ``-621005``."""
    batch_id: int | None = None
    decided_at: datetime | None = None
    """Default: when :func:`record` runs."""


@dataclass(frozen=True, slots=True)
class DecisionRow:
    id: int
    list_key: str
    invt_no: str | None
    status: int
    code: str | None
    rule: str
    reason_zh: str
    reason_en: str
    decided_at: datetime
    batch_id: int | None


def record(conn: Connection, rows: Sequence[Decision]) -> int:
    """Append decisions (one executemany); return how many were written."""
    if not rows:
        return 0
    now = utcnow()
    params = []
    for row in rows:
        check_len("list_key", row.list_key, 200)
        check_len("rule", row.rule, 64)
        params.append(
            {
                "list_key": row.list_key,
                "invt_no": row.invt_no,
                "status": row.status,
                "code": row.code,
                "rule": row.rule,
                "reason_zh": row.reason_zh,
                "reason_en": row.reason_en,
                "decided_at": row.decided_at or now,
                "batch_id": row.batch_id,
            }
        )
    bulk_insert(conn, decision, params)
    return len(params)


def by_list_keys(conn: Connection, keys: Iterable[str]) -> dict[str, list[DecisionRow]]:
    """The decisions on these lists, oldest first per list (lists without decisions are left out)."""
    found: dict[str, list[DecisionRow]] = defaultdict(list)
    for part in chunks(sorted(set(keys))):
        stmt = select(decision).where(decision.c.list_key.in_(part)).order_by(decision.c.id)
        for row in conn.execute(stmt):
            found[row.list_key].append(DecisionRow(**row._mapping))
    return dict(found)
