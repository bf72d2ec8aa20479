"""Electronic tax bills (电子税单, CEB816): one per released list, later summarised or voided.

``tax_no`` is unique, so issuing the bill for a list again (re-processing, replay) is a no-op.  Amounts are
integer fen; the status moves 1 generated → 2 summarised, or → 3 void (cancellation, return).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from cbec.store._common import bulk_insert, check_len, chunks, utcnow
from cbec.store.schema import TAX_BILL_STATUSES, tax_bill

GENERATED = 1
SUMMARISED = 2
VOID = 3


@dataclass(frozen=True, slots=True)
class TaxBill:
    tax_no: str
    invt_no: str
    list_key: str
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int
    status: int = GENERATED
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TaxBillRow:
    id: int
    tax_no: str
    invt_no: str
    list_key: str
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int
    status: int
    created_at: datetime


def _check_status(status: int) -> None:
    if status not in TAX_BILL_STATUSES:
        raise ValueError(f"tax bill status must be one of {TAX_BILL_STATUSES}, not {status!r}")


def record_bills(conn: Connection, bills: Sequence[TaxBill]) -> int:
    """Store bills not stored before (by ``tax_no``); return how many were new."""
    if not bills:
        return 0
    now = utcnow()
    params = []
    for b in bills:
        check_len("tax_no", b.tax_no, 50)
        check_len("invt_no", b.invt_no, 32)
        check_len("list_key", b.list_key, 200)
        _check_status(b.status)
        params.append(
            {
                "tax_no": b.tax_no,
                "invt_no": b.invt_no,
                "list_key": b.list_key,
                "customs_tax_fen": b.customs_tax_fen,
                "vat_fen": b.vat_fen,
                "ct_fen": b.ct_fen,
                "status": b.status,
                "created_at": b.created_at or now,
            }
        )
    return len(
        bulk_insert(
            conn,
            tax_bill,
            params,
            on_conflict=lambda stmt: stmt.on_conflict_do_nothing(index_elements=[tax_bill.c.tax_no]),
            returning=[tax_bill.c.id],
        )
    )


def set_bill_status(conn: Connection, tax_nos: Iterable[str], status: int) -> int:
    """Move bills to ``status``; return how many changed."""
    _check_status(status)
    changed = 0
    for part in chunks(sorted(set(tax_nos))):
        stmt = update(tax_bill).where(tax_bill.c.tax_no.in_(part)).values(status=status)
        changed += conn.execute(stmt).rowcount
    return changed


def by_tax_nos(conn: Connection, tax_nos: Iterable[str]) -> dict[str, TaxBillRow]:
    found: dict[str, TaxBillRow] = {}
    for part in chunks(sorted(set(tax_nos))):
        for row in conn.execute(select(tax_bill).where(tax_bill.c.tax_no.in_(part))):
            found[row.tax_no] = TaxBillRow(**row._mapping)
    return found
