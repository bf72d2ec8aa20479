"""Writing a batch's receipt XML wherever there is a free core.

Clearance answers every document it decides with a receipt (CEB312/412/512/622) and every taxed list with an
e-tax bill (CEB816).  Building the frames those receipts are written from needs the clearing process's state
(the documents still waiting, the decisions just taken); writing the XML from the frames needs nothing else,
and it is most of the cost.  So the clearer builds a :class:`ReceiptWork` and a spawned worker renders it
while the clearing process stores the batch; the XML comes back before the batch commits, so receipts still
commit with their decisions.  Without workers the same :func:`render` runs in the clearing process: one
function, so both paths write the same bytes (apart from each message's random root guid).

The frames travel as Arrow IPC (as decoded batches do), which costs a copy instead of Python objects per
value.  The XML comes back already compressed the way the outbox stores it (:mod:`cbec.store.packed_xml`):
a tenth of the bytes to send back, and nothing left to compress in the clearing process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cbec.messages.columns import frame_from_ipc, frame_to_ipc
from cbec.messages.encode_columns import encode_documents, encode_receipts
from cbec.store import packed_xml
from cbec.store.outbox import Receipt

TAX_BILL = "CEB816Message"


@dataclass
class ReceiptWork:
    """What one batch's receipts are written from, and nothing more (it is shipped to another process)."""

    flat: list[tuple[str, pl.DataFrame]] = field(default_factory=list)
    """(message type, rows): one row per receipt document, ``sender`` naming who receives it; the rows of
    one recipient are packed ≤ 100 to a message, recipients in the order they first appear."""
    bill_heads: pl.DataFrame | None = None
    """CEB816 heads with ``_msg`` and ``_doc`` (see :func:`cbec.messages.encode_columns.encode_documents`)."""
    bill_lines: pl.DataFrame | None = None
    bill_recipients: dict[int, str] = field(default_factory=dict)
    """``_msg`` → the declaring agent that tax-bill message goes to."""

    @property
    def empty(self) -> bool:
        return not self.flat and self.bill_heads is None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "flat": [(mtype, frame_to_ipc(frame)) for mtype, frame in self.flat],
            "bill_heads": None if self.bill_heads is None else frame_to_ipc(self.bill_heads),
            "bill_lines": None if self.bill_lines is None else frame_to_ipc(self.bill_lines),
            "bill_recipients": self.bill_recipients,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.flat = [(mtype, frame_from_ipc(data)) for mtype, data in state["flat"]]
        self.bill_heads = None if state["bill_heads"] is None else frame_from_ipc(state["bill_heads"])
        self.bill_lines = None if state["bill_lines"] is None else frame_from_ipc(state["bill_lines"])
        self.bill_recipients = state["bill_recipients"]


def render(work: ReceiptWork) -> list[Receipt]:
    """The outbox entries of ``work``: flat receipts in the order given, then the tax bills.  Pure (no store,
    no clock), so it may run in any process."""
    out: list[Receipt] = []
    for mtype, frame in work.flat:
        for (recipient,), group in frame.group_by(["sender"], maintain_order=True):
            to = str(recipient or "unknown")
            for xml in encode_receipts(mtype, group):
                out.append(_receipt(mtype, to, str(recipient or ""), xml))
    if work.bill_heads is not None:
        for msg, xml in encode_documents(TAX_BILL, work.bill_heads, work.bill_lines):
            to = work.bill_recipients.get(msg) or "unknown"
            out.append(_receipt(TAX_BILL, to, to, xml))
    return out


def _receipt(message_type: str, recipient: str, business_key: str, xml: bytes) -> Receipt:
    # packed here, where the XML is written (a spare core while streaming), in the form the outbox stores
    return Receipt(
        message_type=message_type,
        recipient=recipient,
        business_key=business_key,
        doc_guid=root_guid(xml),
        status=0,
        xml=packed_xml.pack(xml),
    )


def root_guid(xml: bytes) -> str:
    """The ``guid`` attribute of a message this project wrote (the first one in its text)."""
    start = xml.find(b'guid="') + 6
    return xml[start : start + 36].decode()
