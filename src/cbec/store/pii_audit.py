"""The audit of unmasked reads (个人信息访问审计): one row each time someone is shown personal data in clear.

The HTTP layer and the console call :func:`record` for every response that carried unmasked values (the
fields come from ``cbec.privacy.present(...).unmasked``), in the same transaction as anything else the
request writes, *before* the response is sent: a read that is not recorded must not happen.  The audit
names the document and the fields, never the values.  :func:`accesses` answers "who looked at this parcel's
buyer, and why?" and "what did this officer look at?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select

from cbec.store._common import check_len, utcnow
from cbec.store.schema import pii_access

CHANNELS = ("api", "console", "cli")


@dataclass(frozen=True, slots=True)
class PiiAccess:
    actor: str
    """Who: the user, officer number or enterprise code the request was authenticated as."""
    role: str
    document_ref: str
    """What: the document's guid or business key (e.g. ``list|<ebpCode>|<orderNo>``)."""
    fields: Sequence[str]
    """The personal fields shown in clear, e.g. ``("buyerIdNumber", "buyerTelephone")``."""
    purpose: str
    """Why, as the reader gave it (e.g. ``manual review 300``, ``inspection 500``)."""
    document_kind: str | None = None
    channel: str = "api"
    accessed_at: datetime | None = None
    """When; default: when :func:`record` runs."""


@dataclass(frozen=True, slots=True)
class PiiAccessRow:
    id: int
    accessed_at: datetime
    actor: str
    role: str
    document_kind: str | None
    document_ref: str
    fields: tuple[str, ...]
    purpose: str
    channel: str


def record(conn: Connection, accesses: Sequence[PiiAccess]) -> int:
    """Store these reads (one statement); return how many.  Refuses a read without a purpose or fields."""
    if not accesses:
        return 0
    now = utcnow()
    rows = []
    for a in accesses:
        check_len("actor", a.actor, 64)
        check_len("role", a.role, 32)
        check_len("document_ref", a.document_ref, 200)
        if a.document_kind is not None:
            check_len("document_kind", a.document_kind, 16)
        if not a.purpose.strip():
            raise ValueError("an unmasked read needs a purpose / 查看未脱敏个人信息须说明用途")
        if not a.fields:
            raise ValueError("an audited read names the fields shown in clear")
        if a.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, not {a.channel!r}")
        rows.append(
            {
                "accessed_at": a.accessed_at or now,
                "actor": a.actor,
                "role": a.role,
                "document_kind": a.document_kind,
                "document_ref": a.document_ref,
                "fields": ",".join(a.fields),
                "purpose": a.purpose.strip(),
                "channel": a.channel,
            }
        )
    conn.execute(insert(pii_access), rows)
    return len(rows)


def accesses(
    conn: Connection,
    *,
    document_ref: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[PiiAccessRow]:
    """Recorded reads, newest first, filtered by document, actor and time (``since`` ≤ t < ``until``);
    page with ``before_id`` (the smallest id of the previous page)."""
    stmt = select(pii_access).order_by(pii_access.c.id.desc()).limit(limit)
    if document_ref is not None:
        stmt = stmt.where(pii_access.c.document_ref == document_ref)
    if actor is not None:
        stmt = stmt.where(pii_access.c.actor == actor)
    if since is not None:
        stmt = stmt.where(pii_access.c.accessed_at >= since)
    if until is not None:
        stmt = stmt.where(pii_access.c.accessed_at < until)
    if before_id is not None:
        stmt = stmt.where(pii_access.c.id < before_id)
    out = []
    for row in conn.execute(stmt):
        values = dict(row._mapping)
        values["fields"] = tuple(f for f in values["fields"].split(",") if f)
        out.append(PiiAccessRow(**values))
    return out
