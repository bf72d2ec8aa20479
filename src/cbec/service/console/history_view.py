"""A parcel's history as a given reader may see it: documents they may read, personal data masked or (for
an officer who asked, with a purpose) in clear, and the audit rows such a read must leave.

The same rule as the API's ``GET /v1/parcels``, plus one thing a page needs: an officer sees the order,
payment and waybill of a list of their district (they have no customs code of their own, so they are read
through the list they are matched with — ``linked_districts`` in :func:`cbec.rights.authorize_read`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from cbec.privacy import present, unmasking_role
from cbec.rights import Decision, Principal, Role, authorize_read
from cbec.service.history import Handles, parcel_history
from cbec.store import pii_audit

MESSAGE_OF_KIND = {
    "order": "CEB311Message",
    "payment": "CEB411Message",
    "waybill": "CEB511Message",
    "list": "CEB621Message",
    # exports (docs/exports.md)
    "x_order": "CEB303Message",
    "x_receipts": "CEB403Message",
    "x_waybill": "CEB505Message",
    "x_list": "CEB603Message",
}


@dataclass(slots=True)
class HistoryView:
    documents: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    tax_bills: list[dict[str, Any]] = field(default_factory=list)
    officer_results: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    audits: list[pii_audit.PiiAccess] = field(default_factory=list)
    unmasked: bool = False
    refusal: Decision | None = None
    """Why nothing could be shown when the parcel exists but is not the reader's (for officers: district)."""

    def list_document(self) -> dict[str, Any] | None:
        return next((d for d in self.documents if d["kind"] in ("list", "x_list")), None)


def reader_role(p: Principal) -> str:
    names = [str(r) for r in p.roles]
    return unmasking_role(names) or (sorted(names)[0] if names else "unknown")


def history_for(
    conn: Connection,
    reader: Principal,
    handles: Handles,
    *,
    at: datetime,
    actor: str,
    unmask: bool = False,
    purpose: str | None = None,
) -> HistoryView:
    """Raises :class:`cbec.privacy.UnmaskRefused` when an unmasked view is asked for and not allowed."""
    staff = bool(reader.roles & {Role.OFFICER, Role.ADMIN})
    found = parcel_history(conn, handles, default_codes=() if staff else tuple(sorted(reader.codes)))
    view = HistoryView()
    districts = [
        str(d["head"][f])
        for d in found.documents
        if d["kind"] in ("list", "x_list")
        for f in ("customsCode", "portCode")
        if d["head"].get(f)
    ]
    role = reader_role(reader)
    for d in found.documents:
        linked = districts if d["kind"] not in ("list", "x_list") else ()
        verdict = authorize_read(
            reader, MESSAGE_OF_KIND[d["kind"]], d["head"], at=at, linked_districts=linked
        )
        if not verdict.allowed:
            view.refusal = view.refusal or verdict
            continue
        head = present(d["head"], role=role, unmask=unmask, purpose=purpose)
        lines = [present(x, role=role, unmask=unmask, purpose=purpose) for x in d["lines"]]
        shown = list(head.unmasked) + [f"lines[].{f}" for x in lines for f in x.unmasked]
        if shown:
            view.audits.append(
                pii_audit.PiiAccess(
                    actor=actor,
                    role=role,
                    document_ref=d["guid"],
                    fields=tuple(dict.fromkeys(shown)),
                    purpose=(purpose or "").strip(),
                    document_kind=d["kind"],
                    channel="console",
                )
            )
        view.documents.append({**d, "head": head.record, "lines": [x.record for x in lines]})
    view.unmasked = bool(view.audits)
    history = found.to_json()
    if any(d["kind"] in ("list", "x_list") for d in view.documents):
        view.decisions = history["decisions"]
        view.tax_bills = history["taxBills"]
        view.officer_results = history["officerResults"]
    view.receipts = [r for r in history["receipts"] if staff or r["recipient"] in reader.codes]
    if view.documents:
        view.refusal = None
    return view
