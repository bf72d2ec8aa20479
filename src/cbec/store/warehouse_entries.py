"""CEB711 warehouse-entry details (入库明细单) as stored by :mod:`cbec.engine.warehouse`: writing them, and
reading them back for the API and the console.

Reads go through the indexes the tables already have, so a page costs the same on a year of entries as on a
day's:

* a site operator's entries: ``(operator_code, id)``, walked newest first;
* an entry by its guid (the CEB711 head's record id, which its CEB712 answers): the unique ``guid``;
* entries naming a waybill: ``warehouse_entry_line.logistics_no``;
* a date range: turned into an id range by a binary search on the primary key
  (:func:`cbec.store.console_queries.first_id_at_or_after`; entries are stored in arrival order), then the
  exact time test on the few rows at its edges;
* a district or a status: a filter on that walk, which stops at the page's LIMIT.

The CEB712 receipts of an entry are found by the clearing batch that stored it (``receipt.batch_id``), its
sender and the message type; one CEB712 message may answer several entries, so the caller picks its own
``DeliveryReturn`` out of the XML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, false, func, or_, select, true

from cbec.store._common import chunks
from cbec.store.console_queries import district_prefix, first_id_at_or_after
from cbec.store.schema import receipt, warehouse_entry, warehouse_entry_line

__all__ = [
    "EntryFilter",
    "EntryLine",
    "EntryRow",
    "EntryScope",
    "ReceiptXml",
    "entry_by_guid",
    "entry_lines",
    "entry_receipts",
    "known_entry_guids",
    "list_entries",
    "record_entry",
]

RECEIPT_TYPE = "CEB712Message"


@dataclass(frozen=True, slots=True)
class EntryScope:
    """Which entries a reader may see: all, those sent under these operator codes, those declared at a
    customs office of this district (a code ending in 00 covers its two-digit family)."""

    everything: bool = False
    operator_codes: frozenset[str] = frozenset()
    district: str | None = None

    def covers(self, operator_code: str | None, customs_code: str | None) -> bool:
        """The same rule as :func:`list_entries`' WHERE clause, for one entry already read."""
        if self.everything:
            return True
        if operator_code is not None and operator_code in self.operator_codes:
            return True
        if self.district is None or customs_code is None:
            return False
        return customs_code.startswith(district_prefix(self.district))


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What a reader asks for within their scope; ``None`` leaves a criterion out."""

    status: int | None = None
    since: datetime | None = None  # received_at ≥ since
    until: datetime | None = None  # received_at < until
    logistics_no: str | None = None  # a line names this waybill
    operator_code: str | None = None
    cop_no: str | None = None


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    guid: str
    sender: str | None
    customs_code: str | None
    operator_code: str | None
    cop_no: str | None
    bill_no: str | None
    logistics_code: str | None
    status: int
    code: str | None
    reason_zh: str
    reason_en: str
    received_at: datetime
    batch_id: int | None
    line_count: int
    lines_not_found: int


@dataclass(frozen=True, slots=True)
class EntryLine:
    gnum: int
    logistics_no: str
    found: bool


@dataclass(frozen=True, slots=True)
class ReceiptXml:
    id: int
    created_at: datetime
    xml: bytes


# --- writing (the clearing engine) ----------------------------------------------------------------------
def known_entry_guids(conn: Connection, guids: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for part in chunks(sorted(set(guids))):
        out |= set(
            conn.execute(select(warehouse_entry.c.guid).where(warehouse_entry.c.guid.in_(part))).scalars()
        )
    return out


def record_entry(conn: Connection, head: dict[str, object], lines: Sequence[dict[str, object]]) -> int:
    eid = conn.execute(warehouse_entry.insert().values(**head).returning(warehouse_entry.c.id)).scalar_one()
    if lines:
        conn.execute(warehouse_entry_line.insert(), [{**line, "entry_id": eid} for line in lines])
    return int(eid)


# --- reading --------------------------------------------------------------------------------------------
def _scope_where(scope: EntryScope) -> ColumnElement[bool]:
    e = warehouse_entry.c
    if scope.everything:
        return true()
    tests: list[ColumnElement[bool]] = []
    if scope.operator_codes:
        tests.append(e.operator_code.in_(sorted(scope.operator_codes)))
    if scope.district:
        prefix = district_prefix(scope.district)
        tests.append(func.substr(e.customs_code, 1, len(prefix)) == prefix)
    return or_(*tests) if tests else false()


def _filter_where(conn: Connection, filters: EntryFilter) -> list[ColumnElement[bool]]:
    e = warehouse_entry.c
    out: list[ColumnElement[bool]] = []
    if filters.status is not None:
        out.append(e.status == filters.status)
    if filters.operator_code is not None:
        out.append(e.operator_code == filters.operator_code)
    if filters.cop_no is not None:
        out.append(e.cop_no == filters.cop_no)
    if filters.since is not None:
        out += [e.id >= first_id_at_or_after(conn, warehouse_entry, e.received_at, filters.since)]
        out.append(e.received_at >= filters.since)
    if filters.until is not None:
        out += [e.id < first_id_at_or_after(conn, warehouse_entry, e.received_at, filters.until)]
        out.append(e.received_at < filters.until)
    if filters.logistics_no is not None:
        naming = select(warehouse_entry_line.c.entry_id).where(
            warehouse_entry_line.c.logistics_no == filters.logistics_no
        )
        out.append(e.id.in_(naming))
    return out


def _line_counts(conn: Connection, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """entry id -> (lines, lines whose waybill cbec did not know), by the line table's primary key."""
    line = warehouse_entry_line.c
    out: dict[int, tuple[int, int]] = {}
    for part in chunks(sorted(set(ids))):
        stmt = (
            select(line.entry_id, func.count(), func.sum(case((line.found == 0, 1), else_=0)))
            .where(line.entry_id.in_(part))
            .group_by(line.entry_id)
        )
        out.update({int(i): (int(n), int(missing or 0)) for i, n, missing in conn.execute(stmt)})
    return out


def _rows(conn: Connection, stmt: Select[Any]) -> list[EntryRow]:
    heads = [r._mapping for r in conn.execute(stmt)]
    counts = _line_counts(conn, [int(h["id"]) for h in heads])
    return [
        EntryRow(
            id=int(h["id"]),
            guid=h["guid"],
            sender=h["sender"],
            customs_code=h["customs_code"],
            operator_code=h["operator_code"],
            cop_no=h["cop_no"],
            bill_no=h["bill_no"],
            logistics_code=h["logistics_code"],
            status=int(h["status"]),
            code=h["code"],
            reason_zh=h["reason_zh"],
            reason_en=h["reason_en"],
            received_at=h["received_at"],
            batch_id=h["batch_id"],
            line_count=counts.get(int(h["id"]), (0, 0))[0],
            lines_not_found=counts.get(int(h["id"]), (0, 0))[1],
        )
        for h in heads
    ]


def list_entries(
    conn: Connection,
    scope: EntryScope,
    filters: EntryFilter | None = None,
    *,
    before: int | None = None,
    limit: int = 50,
) -> list[EntryRow]:
    """The entries in ``scope`` matching ``filters``, newest first (by id), ids below ``before`` when given
    (the cursor of the next page: the last id of this one)."""
    e = warehouse_entry.c
    where = [_scope_where(scope), *_filter_where(conn, filters or EntryFilter())]
    if before is not None:
        where.append(e.id < before)
    stmt = select(warehouse_entry).where(and_(*where)).order_by(e.id.desc()).limit(limit)
    return _rows(conn, stmt)


def entry_by_guid(conn: Connection, guid: str) -> EntryRow | None:
    found = _rows(conn, select(warehouse_entry).where(warehouse_entry.c.guid == guid))
    return found[0] if found else None


def entry_lines(conn: Connection, entry_id: int) -> list[EntryLine]:
    line = warehouse_entry_line.c
    stmt = (
        select(line.gnum, line.logistics_no, line.found).where(line.entry_id == entry_id).order_by(line.gnum)
    )
    return [EntryLine(int(g), n, bool(f)) for g, n, f in conn.execute(stmt)]


def entry_receipts(conn: Connection, entry: EntryRow) -> list[ReceiptXml]:
    """The CEB712 messages written to the entry's sender by the batch that stored it, oldest first (each
    may also answer other entries of that batch)."""
    if entry.batch_id is None or entry.sender is None:
        return []
    r = receipt.c
    stmt = (
        select(r.id, r.created_at, r.xml)
        .where(r.batch_id == entry.batch_id, r.recipient == entry.sender, r.message_type == RECEIPT_TYPE)
        .order_by(r.id)
    )
    return [ReceiptXml(int(i), at, bytes(xml)) for i, at, xml in conn.execute(stmt)]
