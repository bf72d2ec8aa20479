"""Electronic tax bills (电子税单, CEB816): one per released list, later summarised or voided.

``tax_no`` is unique, so issuing the bill for a list again (re-processing, replay) is a no-op.  Amounts are
integer fen; the status moves 1 generated → 2 summarised, or → 3 void (cancellation, return).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from cbec.store._common import check_len, chunks, insert_new, utcnow
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
    return insert_new(conn, tax_bill, params, ["tax_no"])


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


# --- after the bill: voids and returned shares -------------------------------------------------------------
VOID_KIND = "void"
RETURN_KIND = "return"


@dataclass(frozen=True, slots=True)
class TaxAdjustment:
    """A change to an issued bill: ``void`` reverses it whole, ``return`` takes off a returned share.

    Amounts are ≤ 0.  ``refund`` says the bill had already been summarised into a payment notice (status 2),
    so the amount is refunded rather than simply no longer due.  ``ref`` names the cause (``"void"``, or the
    return application's guid) and makes recording it twice a no-op.
    """

    tax_no: str
    ref: str
    kind: str
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int
    refund: bool = False
    created_at: datetime | None = None

    @property
    def total_fen(self) -> int:
        return self.customs_tax_fen + self.vat_fen + self.ct_fen


@dataclass(frozen=True, slots=True)
class TaxAdjustmentRow:
    id: int
    tax_no: str
    ref: str
    kind: str
    customs_tax_fen: int
    vat_fen: int
    ct_fen: int
    refund: int
    created_at: datetime


def bills_by_list_keys(conn: Connection, list_keys: Iterable[str]) -> dict[str, TaxBillRow]:
    """The bill of each list (lists without one are left out)."""
    found: dict[str, TaxBillRow] = {}
    for part in chunks(sorted(set(list_keys))):
        for row in conn.execute(select(tax_bill).where(tax_bill.c.list_key.in_(part))):
            found[row.list_key] = TaxBillRow(**row._mapping)
    return found


def record_adjustments(conn: Connection, adjustments: Sequence[TaxAdjustment]) -> int:
    """Store adjustments not stored before (by ``tax_no`` and ``ref``); return how many were new."""
    from cbec.store.schema import TAX_ADJUSTMENT_KINDS, tax_adjustment

    if not adjustments:
        return 0
    now = utcnow()
    params = []
    for a in adjustments:
        check_len("tax_no", a.tax_no, 50)
        check_len("ref", a.ref, 64)
        if a.kind not in TAX_ADJUSTMENT_KINDS:
            raise ValueError(f"kind must be one of {TAX_ADJUSTMENT_KINDS}, not {a.kind!r}")
        if max(a.customs_tax_fen, a.vat_fen, a.ct_fen) > 0:
            raise ValueError(f"adjustment {a.ref} of bill {a.tax_no}: amounts must be ≤ 0")
        params.append(
            {
                "tax_no": a.tax_no,
                "ref": a.ref,
                "kind": a.kind,
                "customs_tax_fen": a.customs_tax_fen,
                "vat_fen": a.vat_fen,
                "ct_fen": a.ct_fen,
                "refund": 1 if a.refund else 0,
                "created_at": a.created_at or now,
            }
        )
    return insert_new(conn, tax_adjustment, params, ["tax_no", "ref"])


def adjustments_by_tax_nos(conn: Connection, tax_nos: Iterable[str]) -> dict[str, list[TaxAdjustmentRow]]:
    """The adjustments of these bills, oldest first per bill."""
    from cbec.store.schema import tax_adjustment

    found: dict[str, list[TaxAdjustmentRow]] = {}
    for part in chunks(sorted(set(tax_nos))):
        stmt = select(tax_adjustment).where(tax_adjustment.c.tax_no.in_(part)).order_by(tax_adjustment.c.id)
        for row in conn.execute(stmt):
            found.setdefault(row.tax_no, []).append(TaxAdjustmentRow(**row._mapping))
    return found


def net_due(conn: Connection, tax_nos: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """(customs duty, VAT, consumption tax) in fen still due per bill: the bill plus its adjustments.

    A void bill owes nothing (its ``void`` adjustment takes everything off); bills not found are left out.
    """
    bills = by_tax_nos(conn, tax_nos)
    adjustments = adjustments_by_tax_nos(conn, bills)
    out: dict[str, tuple[int, int, int]] = {}
    for no, bill in bills.items():
        duty, vat, ct = bill.customs_tax_fen, bill.vat_fen, bill.ct_fen
        for a in adjustments.get(no, []):
            duty, vat, ct = duty + a.customs_tax_fen, vat + a.vat_fen, ct + a.ct_fen
        out[no] = (0, 0, 0) if bill.status == VOID else (duty, vat, ct)
    return out
