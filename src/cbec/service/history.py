"""The full history of one parcel: every message, decision, tax bill and receipt, with reasons.

A parcel is found by any of its handles (orderNo with its platform code, logisticsNo with its logistics
company code, invtNo, or the guid of any of its documents) and grows from there: the order key names the
order, payment and list; the list names the waybill.  Documents are read back from the inbox (the record),
receipts from the batches that cleared them, keeping only the entries that concern this parcel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from cbec.messages.decode import _json_record, decode
from cbec.store import aftercare as aftercare_repo
from cbec.store import decisions as decisions_repo
from cbec.store import documents as documents_repo
from cbec.store import inbox as inbox_repo
from cbec.store import outbox as outbox_repo
from cbec.store import tax as tax_repo

# exports (cbec.engine.export): order 303, collection 403, waybill 505, list 603
KINDS = ("order", "payment", "waybill", "list", "x_order", "x_receipts", "x_waybill", "x_list")
Record = dict[str, Any]


@dataclass(slots=True)
class Handles:
    order_no: str | None = None
    ebp_code: str | None = None
    logistics_no: str | None = None
    logistics_code: str | None = None
    invt_no: str | None = None
    guid: str | None = None

    def given(self) -> bool:
        return bool(self.order_no or self.logistics_no or self.invt_no or self.guid)


@dataclass(slots=True)
class History:
    order_key: str | None = None
    waybill_key: str | None = None
    documents: list[Record] = field(default_factory=list)
    decisions: list[Record] = field(default_factory=list)
    tax_bills: list[Record] = field(default_factory=list)
    receipts: list[Record] = field(default_factory=list)
    officer_results: list[Record] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.documents)

    def to_json(self) -> dict[str, Any]:
        return {
            "orderKey": self.order_key,
            "waybillKey": self.waybill_key,
            "documents": self.documents,
            "decisions": self.decisions,
            "taxBills": self.tax_bills,
            "receipts": self.receipts,
            "officerResults": self.officer_results,
        }


def parcel_history(
    conn: Connection,
    handles: Handles,
    *,
    default_codes: tuple[str, ...] = (),
    mask: Callable[[Record], Record] | None = None,
) -> History:
    """Everything known about the parcel ``handles`` point at (an empty history when nothing matches).

    ``default_codes``: codes tried as ebpCode / logisticsCode when a number is given without its code (the
    caller's own codes).  ``mask``: applied to every document head and line before it is returned.
    """
    hide = mask or (lambda r: r)
    order_keys: set[str] = set()
    waybill_keys: set[str] = set()
    if handles.invt_no:
        order_keys |= set(aftercare_repo.list_keys_by_invt_nos(conn, [handles.invt_no]).values())
    if handles.order_no:
        codes = [handles.ebp_code] if handles.ebp_code else list(default_codes)
        order_keys |= {f"{c}|{handles.order_no}" for c in codes}
    if handles.logistics_no:
        codes = [handles.logistics_code] if handles.logistics_code else list(default_codes)
        waybill_keys |= {f"{c}|{handles.logistics_no}" for c in codes}
    if handles.guid:
        for row in documents_repo.by_guid(conn, handles.guid):
            (waybill_keys if row.kind == "waybill" else order_keys).add(row.business_key)

    rows: dict[tuple[str, str], documents_repo.DocumentRow] = {}
    rows.update(_export_rows(conn, handles, default_codes))
    for kind in ("order", "payment", "list"):
        for key, row in documents_repo.by_business_keys(conn, kind, order_keys).items():
            rows[(kind, key)] = row
    # each stored message is read (decrypted, decompressed) once: the documents and the history's message
    # facts both come from these rows
    inbox_rows = {r.id: r for r in inbox_repo.by_ids(conn, sorted({r.inbox_id for r in rows.values()}))}
    # the list names the waybill; the waybill alone names only an orderNo without its platform
    heads: dict[tuple[str, str], tuple[Record, list[Record]]] = {}
    for (kind, key), row in rows.items():
        heads[(kind, key)] = _document(_raw(inbox_rows, row.inbox_id), row.guid)
        if kind == "x_list" and not heads[(kind, key)][0].get("invtNo"):
            # the declarant sends the list without a number; show the one cbec assigned
            heads[(kind, key)][0]["invtNo"] = _export_invt_no(conn, key)
        if kind == "list":
            head = heads[(kind, key)][0]
            if head.get("logisticsCode") and head.get("logisticsNo"):
                waybill_keys.add(f"{head['logisticsCode']}|{head['logisticsNo']}")
    for key, row in documents_repo.by_business_keys(conn, "waybill", waybill_keys).items():
        rows[("waybill", key)] = row
        if row.inbox_id not in inbox_rows:
            inbox_rows.update({r.id: r for r in inbox_repo.by_ids(conn, [row.inbox_id])})
        raw = _raw(inbox_rows, row.inbox_id)
        heads[("waybill", key)] = _document(raw, row.guid)
        if not order_keys:  # found by the waybill: look for a list naming it
            head = heads[("waybill", key)][0]
            for code in default_codes or ():
                order_keys.add(f"{code}|{head.get('orderNo')}")

    history = History(
        order_key=next(iter(sorted(k for (kind, k) in rows if kind != "waybill")), None),
        waybill_key=next(iter(sorted(k for (kind, k) in rows if kind == "waybill")), None),
    )
    if not rows:
        return history
    guids = {r.guid for r in rows.values()}
    for (kind, key), row in sorted(rows.items(), key=lambda kv: KINDS.index(kv[0][0])):
        head, lines = heads[(kind, key)]
        message = inbox_rows.get(row.inbox_id)
        history.documents.append(
            {
                "kind": kind,
                "businessKey": key,
                "guid": row.guid,
                "status": row.status,
                "appType": row.app_type,
                "receivedAt": row.received_at.isoformat(),
                "message": {
                    "inboxId": row.inbox_id,
                    "guid": message.guid if message else None,
                    "messageType": message.message_type if message else None,
                    "sender": message.sender if message else None,
                },
                "head": hide(head),
                "lines": [hide(x) for x in lines],
            }
        )
    list_keys = [k for (kind, k) in rows if kind in ("list", "x_list")]
    invt_nos: set[str] = set()
    decided_in: set[int] = set()
    for key, decisions in decisions_repo.by_list_keys(conn, list_keys).items():
        for d in decisions:
            if d.invt_no:
                invt_nos.add(d.invt_no)
            if d.batch_id is not None:
                decided_in.add(d.batch_id)  # an export list moves in later batches (arrival, departure)
            history.decisions.append(
                {
                    "listKey": key,
                    "invtNo": d.invt_no,
                    "status": d.status,
                    "code": d.code,
                    "rule": d.rule,
                    "reasonZh": d.reason_zh,
                    "reasonEn": d.reason_en,
                    "decidedAt": d.decided_at.isoformat(),
                }
            )
    for key, bill in tax_repo.bills_by_list_keys(conn, list_keys).items():
        history.tax_bills.append(
            {
                "listKey": key,
                "taxNo": bill.tax_no,
                "invtNo": bill.invt_no,
                "customsTax": bill.customs_tax_fen / 100,
                "valueAddedTax": bill.vat_fen / 100,
                "consumptionTax": bill.ct_fen / 100,
                "status": bill.status,
            }
        )
    for key, results in aftercare_repo.officer_results(conn, list_keys).items():
        for r in results:
            history.officer_results.append({"listKey": key, **{k: _plain(v) for k, v in _fields(r).items()}})
    batch_ids = {m.batch_id for m in inbox_rows.values() if m.batch_id is not None} | decided_in
    found = {r.id: r for r in outbox_repo.by_batches(conn, sorted(batch_ids))}
    found.update({r.id: r for r in outbox_repo.by_business_keys(conn, list_keys)})  # officers' results
    for receipt in (found[k] for k in sorted(found)):
        entries = _matching_entries(receipt.xml, guids, invt_nos)
        if entries:
            history.receipts.append(
                {
                    "id": receipt.id,
                    "messageType": receipt.message_type,
                    "recipient": receipt.recipient,
                    "createdAt": receipt.created_at.isoformat(),
                    "entries": entries,
                }
            )
    return history


def _export_rows(
    conn: Connection, handles: Handles, default_codes: tuple[str, ...]
) -> dict[tuple[str, str], documents_repo.DocumentRow]:
    """The export documents of the parcel: its list found by invtNo, orderNo or logisticsNo, then its order,
    collection and waybill by the list's keys."""
    from sqlalchemy import or_, select

    from cbec.store.schema import export_list

    wanted = []
    if handles.invt_no:
        wanted.append(export_list.c.invt_no == handles.invt_no)
    if handles.order_no:
        codes = [handles.ebp_code] if handles.ebp_code else list(default_codes)
        wanted.append(export_list.c.order_key.in_([f"{c}|{handles.order_no}" for c in codes]))
    if handles.logistics_no:
        codes = [handles.logistics_code] if handles.logistics_code else list(default_codes)
        wanted.append(export_list.c.waybill_key.in_([f"{c}|{handles.logistics_no}" for c in codes]))
    if handles.guid:
        wanted.append(export_list.c.guid == handles.guid)
    if not wanted:
        return {}
    found = conn.execute(
        select(export_list.c.list_key, export_list.c.order_key, export_list.c.waybill_key).where(or_(*wanted))
    ).all()
    out: dict[tuple[str, str], documents_repo.DocumentRow] = {}
    for kind, keys in (
        ("x_list", {r.list_key for r in found}),
        ("x_order", {r.order_key for r in found}),
        ("x_receipts", {r.order_key for r in found}),
        ("x_waybill", {r.waybill_key for r in found}),
    ):
        for key, row in documents_repo.by_business_keys(conn, kind, keys).items():
            out[(kind, key)] = row
    return out


def _export_invt_no(conn: Connection, list_key: str) -> str | None:
    from sqlalchemy import select

    from cbec.store.schema import export_list

    found = conn.execute(select(export_list.c.invt_no).where(export_list.c.list_key == list_key)).scalar()
    return str(found) if found is not None else None


def _raw(rows: dict[int, inbox_repo.InboxRow], inbox_id: int) -> bytes | None:
    found = rows.get(inbox_id)
    return found.raw if found is not None else None


def _document(raw: bytes | None, guid: str) -> tuple[Record, list[Record]]:
    """The head and lines of the document ``guid`` inside a stored message."""
    if raw is None:
        return {}, []
    message = decode(raw, check_codes=False)
    for doc in message.documents:
        if doc.head.get("guid") == guid:
            return _json_record(doc.head), [_json_record(x) for x in doc.lines]
    return {}, []


def _matching_entries(xml: bytes, guids: set[str], invt_nos: set[str]) -> list[Record]:
    message = decode(xml, check_codes=False)
    out = []
    for doc in message.documents:
        head = doc.head
        if head.get("guid") in guids or (head.get("invtNo") and head.get("invtNo") in invt_nos):
            out.append(_json_record(head))
    return out


def _fields(obj: object) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in getattr(obj, "__dataclass_fields__", {})}


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
