"""Trade documents (order, payment, waybill, list, cancellation, return …) and their CEB status.

Two keys make processing idempotent and catch repeated declarations:

* ``(kind, guid)``: the same document delivered twice is stored once (a *repeat*);
* ``(kind, business_key)``: a different document with a business key already in use (e.g. ``ebpCode|orderNo``)
  is a *duplicate* declaration, which customs rejects.

The business key is a unique key of the table.  The guid is found through its index number
(``guid_hash``, :mod:`cbec.store.guid_hash`; every query by guid compares the text too), not a unique key:
guids are random, and a unique B-tree of their text cost every clearing commit most of its pages (revision
0018).  A repeat carries the same business key, so the unique key still stores it once; the row path
(:func:`insert_documents`) looks the guids up before inserting and reports a guid reused with another key
as a *conflict*, as before.  Writers hold the write lock (SQLite's ``BEGIN IMMEDIATE``; clearing on
PostgreSQL takes its advisory lock), so the look-up and the insert see the same table.

:func:`insert_documents` classifies a whole batch with one look-up of its guids, one ``INSERT … ON
CONFLICT DO NOTHING RETURNING`` and one look-up of the business keys of the rows that were not inserted,
so a batch with duplicates in it is neither aborted nor processed row by row.  Payloads are JSON text
prepared by the caller (e.g. serialised by Polars in one go).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, select, update

from cbec.store._common import Outcome, bulk_insert, check_len, chunks, utcnow
from cbec.store.bulk import insert_frame, update_status
from cbec.store.db import fetch_rows
from cbec.store.guid_hash import guid_hash, guid_hashes
from cbec.store.schema import document

#: CEB returnStatus 2: declared, waiting for the documents it must be matched with.
WAITING = 2
#: The kind of import inventory lists (CEB621).
LIST = "list"


@dataclass(frozen=True, slots=True)
class NewDocument:
    kind: str
    guid: str
    business_key: str
    inbox_id: int
    """The inbox message the document came in: every document traces back to raw bytes."""
    payload: str | None
    """The document as JSON text, if the caller keeps a decoded copy (the inbox holds the record)."""
    status: int = WAITING
    app_type: str = "1"
    received_at: datetime | None = None
    """Default: when :func:`insert_documents` runs."""


@dataclass(frozen=True, slots=True)
class InsertOutcome:
    index: int
    """Position of the row in the sequence given to :func:`insert_documents`."""
    outcome: Outcome
    """NEW, REPEAT (same guid and key), DUPLICATE (key held by another guid) or CONFLICT (guid reused
    with another key)."""
    id: int
    """The stored row: the new one, or the existing one repeated or clashed with."""
    stored_guid: str
    stored_business_key: str


@dataclass(frozen=True, slots=True)
class DocumentRow:
    id: int
    kind: str
    guid: str
    business_key: str
    inbox_id: int
    received_at: datetime
    status: int
    app_type: str
    payload: str | None
    logistics_no: str | None = None
    """Lists only: the head's ``logisticsNo`` (and ``logisticsCode``, ``orderNo``); NULL for other kinds."""
    logistics_code: str | None = None
    order_no: str | None = None


def insert_documents(conn: Connection, rows: Sequence[NewDocument]) -> list[InsertOutcome]:
    """Insert what is new; classify every row, in input order, without aborting on clashes.

    Only rows returned by the INSERT count as new, so two processes inserting the same business keys at
    once both get a correct answer; guids are looked up first, which holds because every writer of
    documents holds the write lock (module docstring).  Within one call the first of several rows sharing
    a guid or business key wins, as it would had they arrived one after the other.
    """
    if not rows:
        return []
    now = utcnow()
    for row in rows:
        check_len("kind", row.kind, 16)
        check_len("guid", row.guid, 64)
        check_len("business_key", row.business_key, 200)
    # The guid is not a unique key of the table (module docstring): a guid already stored, or offered by
    # an earlier row of this call, is not offered again.  A row the INSERT skips (its business key is
    # taken) leaves its guid free for the next row that carries it, hence the rounds (nearly always one).
    # ``by_guid`` holds every stored document with one of these guids: those found now, then each one the
    # INSERT returns (the write lock keeps anyone else from adding one meanwhile).
    by_guid: dict[tuple[str, str], tuple[int, str, str]] = {
        (kind, guid): (id_, guid, key) for id_, kind, guid, key in _find_by_guid(conn, rows)
    }
    new_rows: set[int] = set()
    pending = list(range(len(rows)))
    while True:
        offered: dict[tuple[str, str], int] = {}
        for index in pending:
            ident = (rows[index].kind, rows[index].guid)
            if ident not in by_guid and ident not in offered:
                offered[ident] = index
        if not offered:
            break
        params = [_params(rows[index], now) for index in offered.values()]
        returned = bulk_insert(  # no conflict target: the business key is the table's unique key
            conn,
            document,
            params,
            on_conflict=lambda stmt: stmt.on_conflict_do_nothing(),
            returning=[document.c.id, document.c.kind, document.c.guid],
        )
        for id_, kind, guid in returned:
            index = offered[(kind, guid)]
            by_guid[(kind, guid)] = (id_, guid, rows[index].business_key)
            new_rows.add(index)
        chosen = set(offered.values())
        pending = [index for index in pending if index not in chosen]
    others = [row for index, row in enumerate(rows) if index not in new_rows]

    # Look up what the others ran into by business key (rows inserted by this call included).
    by_key: dict[tuple[str, str], tuple[int, str, str]] = {}
    cols = (document.c.id, document.c.kind, document.c.guid, document.c.business_key)
    for kind in sorted({row.kind for row in others}):
        keys = {r.business_key for r in others if r.kind == kind}
        for part in chunks(sorted(keys)):
            for id_, k, guid, key in conn.execute(
                select(*cols).where(document.c.kind == kind, document.c.business_key.in_(part))
            ):
                by_key[(k, key)] = (id_, guid, key)

    outcomes = []
    for index, row in enumerate(rows):
        ident = (row.kind, row.guid)
        if index in new_rows:
            outcomes.append(InsertOutcome(index, Outcome.NEW, by_guid[ident][0], row.guid, row.business_key))
            continue
        if ident in by_guid:
            id_, guid, key = by_guid[ident]
            outcome = Outcome.REPEAT if key == row.business_key else Outcome.CONFLICT
        elif (row.kind, row.business_key) in by_key:
            id_, guid, key = by_key[(row.kind, row.business_key)]
            outcome = Outcome.DUPLICATE
        else:  # pragma: no cover - only the two unique keys can make the INSERT skip a row
            raise RuntimeError(f"document {ident} was neither inserted nor found")
        outcomes.append(InsertOutcome(index, outcome, id_, guid, key))
    return outcomes


def _params(row: NewDocument, now: datetime) -> dict[str, object]:
    return {
        "kind": row.kind,
        "guid": row.guid,
        "guid_hash": guid_hash(row.guid),
        "business_key": row.business_key,
        "inbox_id": row.inbox_id,
        "received_at": row.received_at or now,
        "status": row.status,
        "app_type": row.app_type,
        "payload": row.payload,
    }


def _find_by_guid(conn: Connection, rows: Sequence[NewDocument]) -> list[tuple[int, str, str, str]]:
    """(id, kind, guid, business_key) of the stored documents with the kind and guid of one of ``rows``."""
    wanted = {(row.kind, row.guid) for row in rows}
    found = []
    cols = (document.c.id, document.c.kind, document.c.guid, document.c.business_key)
    for part in chunks(sorted({guid_hash(guid) for _, guid in wanted})):
        for id_, kind, guid, key in conn.execute(select(*cols).where(document.c.guid_hash.in_(part))):
            if (kind, guid) in wanted:
                found.append((int(id_), kind, guid, key))
    return found


#: The columns of a :class:`DocumentRow` (not the guid's index number, which is the store's business).
_ROW = tuple(c for c in document.c if c.name != "guid_hash")


def by_business_keys(conn: Connection, kind: str, keys: Iterable[str]) -> dict[str, DocumentRow]:
    """The stored documents of one kind for these business keys (absent keys are left out)."""
    found: dict[str, DocumentRow] = {}
    for part in chunks(sorted(set(keys))):
        stmt = select(*_ROW).where(document.c.kind == kind, document.c.business_key.in_(part))
        for row in conn.execute(stmt):
            found[row.business_key] = DocumentRow(**row._mapping)
    return found


def by_guid(conn: Connection, guid: str) -> list[DocumentRow]:
    """The stored documents with this guid (one per kind, unless a guid was reused on the frame path)."""
    stmt = (
        select(*_ROW)
        .where(document.c.guid_hash == guid_hash(guid), document.c.guid == guid)
        .order_by(document.c.id)
    )
    return [DocumentRow(**row._mapping) for row in conn.execute(stmt)]


def waiting(conn: Connection, kinds: Iterable[str], *, limit: int | None = None) -> list[DocumentRow]:
    """Documents still waiting (status 2), oldest first: what a new batch must be matched against."""
    stmt = (
        select(*_ROW)
        .where(document.c.kind.in_(sorted(set(kinds))), document.c.status == WAITING)
        .order_by(document.c.id)
        .limit(limit)
    )
    return [DocumentRow(**row._mapping) for row in conn.execute(stmt)]


def set_status(conn: Connection, kind: str, ids_or_keys: Sequence[int] | Sequence[str], status: int) -> int:
    """Set the CEB status of documents given by id (ints) or business key (strs); return how many changed."""
    if not ids_or_keys:
        return 0
    ids = [v for v in ids_or_keys if isinstance(v, int)]
    keys = [v for v in ids_or_keys if isinstance(v, str)]
    if ids and keys:
        raise TypeError("ids_or_keys must be all ids (int) or all business keys (str)")
    column = document.c.id if ids else document.c.business_key
    values: list[int] | list[str] = sorted(set(ids)) if ids else sorted(set(keys))
    changed = 0
    for part in chunks(values):
        stmt = update(document).where(document.c.kind == kind, column.in_(part)).values(status=status)
        changed += conn.execute(stmt).rowcount
    return changed


_EXISTING_SQLITE = (
    "SELECT business_key FROM document WHERE kind = ? AND business_key IN (SELECT value FROM json_each(?))"
)


def existing_keys(conn: Connection, kind: str, keys: Iterable[str]) -> set[str]:
    """Which of these business keys are already held by a stored document of ``kind``."""
    wanted = sorted(set(keys))
    if conn.dialect.name == "sqlite":
        # the keys go in as one JSON array (json_each), not as a bound parameter each: SQLAlchemy's expansion
        # of an IN list of thousands of values cost several times the index look-ups themselves
        return {row[0] for row in fetch_rows(conn, _EXISTING_SQLITE, (kind, json.dumps(wanted)))}
    found: set[str] = set()
    # large IN lists: SQLite allows 32,766 bound parameters, PostgreSQL 65,535
    for part in chunks(wanted, 30_000):
        stmt = select(document.c.business_key).where(
            document.c.kind == kind, document.c.business_key.in_(part)
        )
        found.update(conn.scalars(stmt))
    return found


def insert_frame_documents(conn: Connection, frame: pl.DataFrame) -> int:
    """Store many documents given as a frame (``kind, guid, business_key, inbox_id, received_at, status,
    app_type``, optionally ``payload`` and, for lists, ``logistics_no, logistics_code, order_no``), for the
    clearance hot path.

    The caller has already set repeats and duplicates aside (the engine drops a guid repeated within its
    batch and checks business keys before it decides), so rows that still clash with the business key are
    skipped rather than classified, and guids are not looked up (a guid reused with another business key
    is stored as the document it is); use :func:`insert_documents` where each row's outcome is needed.
    """
    if frame.height == 0:
        return 0
    for name in ("kind", "guid", "business_key"):
        bad = frame.filter(pl.col(name).is_null() | (pl.col(name).str.len_chars() == 0))
        if bad.height:
            raise ValueError(f"{name} must not be empty")
    # the columns' own lengths (the lists' numbers are optional columns of the frame)
    for name in ("kind", "guid", "business_key", "logistics_no", "logistics_code", "order_no"):
        if name not in frame.columns:
            continue
        limit = document.c[name].type.length  # type: ignore[attr-defined]
        long = frame.filter(pl.col(name).str.len_chars() > limit)
        if long.height:
            raise ValueError(f"{name} longer than {limit} characters: {long[name][0][:80]!r}…")
    # in the order of the random index: each new number then lands beside the one inserted before it, so
    # its pages are visited once in turn rather than at random (the business keys grow with time anyway)
    numbered = frame.with_columns(guid_hashes(frame["guid"]).alias("guid_hash")).sort("guid_hash")
    # ids in any order: they follow the numbers already, not the arrival (the lists alone carry the parcel's
    # numbers, so the other kinds go in without those NULL columns)
    return insert_frame(conn, document, numbered, ignore_conflicts=True, any_order=True)


def set_statuses(conn: Connection, frame: pl.DataFrame) -> int:
    """Set the CEB status of documents named by ``kind`` and ``guid`` (columns ``kind, guid, status``)."""
    keyed = frame.select("kind", "guid", "status").with_columns(guid_hashes(frame["guid"]).alias("guid_hash"))
    return update_status(conn, document, ["guid_hash", "kind", "guid"], keyed)


@dataclass(frozen=True, slots=True)
class NumberedList:
    """A stored import list with the numbers a parcel is known by (see :func:`lists_by_numbers`)."""

    business_key: str
    logistics_no: str | None
    logistics_code: str | None
    order_no: str | None
    status: int


def lists_by_numbers(
    conn: Connection, *, logistics_nos: Iterable[str] = (), order_nos: Iterable[str] = ()
) -> list[NumberedList]:
    """The stored lists whose head names one of these waybill numbers (``logisticsNo``) or order numbers
    (``orderNo``), whatever the carrier or platform: the caller decides what several matches mean.

    Each number is an equality on a partial index (``ix_document_list_logistics_no``,
    ``ix_document_list_order_no``), never a pattern over ``business_key``."""
    found: dict[str, NumberedList] = {}
    cols = (
        document.c.business_key,
        document.c.logistics_no,
        document.c.logistics_code,
        document.c.order_no,
        document.c.status,
    )
    for column, values in ((document.c.logistics_no, logistics_nos), (document.c.order_no, order_nos)):
        for part in chunks(sorted({v for v in values if v})):
            stmt = select(*cols).where(column.in_(part), document.c.kind == LIST)
            for row in conn.execute(stmt):
                found[row.business_key] = NumberedList(*row)
    return sorted(found.values(), key=lambda r: r.business_key)
