"""What a receipt says, for a page: one row per document it answers (its number, status, code, reason).

Receipts are stored as the XML that was sent, so they are decoded here; a receipt never changes once
written, so the summaries of the last few thousand are kept in memory by id (pages that list the newest
receipts decode each one once per process, not once per view).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from cbec.messages.decode import decode

CODE = re.compile(r"^\s*(-?\d{3,7})(?!\d)")
#: The fields that name what a receipt entry answers, most specific first.
HANDLES = ("invtNo", "taxNo", "orderNo", "logisticsNo", "copNo", "preNo")


@dataclass(frozen=True, slots=True)
class Entry:
    handle_field: str
    handle: str
    status: str
    info: str
    code: str | None
    fields: tuple[tuple[str, str], ...]

    @property
    def refused(self) -> bool:
        return self.status == "100" or self.status.startswith("-")


def _text(value: object) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def summarise(xml: bytes) -> tuple[Entry, ...]:
    message = decode(xml, check_codes=False)
    out: list[Entry] = []
    for doc in message.documents:
        head = {k: _text(v) for k, v in doc.head.items() if v is not None}
        field_name = next((f for f in HANDLES if head.get(f)), "guid")
        status = head.get("returnStatus") or head.get("status") or ""
        info = head.get("returnInfo") or head.get("note") or ""
        found = CODE.match(info)
        out.append(
            Entry(
                handle_field=field_name,
                handle=head.get(field_name, ""),
                status=status,
                info=info,
                code=found.group(1) if found and found.group(1).startswith("-") else None,
                fields=tuple(sorted(head.items())),
            )
        )
    return tuple(out)


class SummaryCache:
    """Receipt → entries, the newest ``size`` kept.

    Keyed by the receipt's id *and* a digest of its XML: ids repeat across databases (one process may serve
    several, as the tests do, or a database may be rebuilt), and a stale hit would show another receipt.
    """

    def __init__(self, size: int = 5000) -> None:
        self._size = size
        self._items: OrderedDict[tuple[int, bytes], tuple[Entry, ...]] = OrderedDict()
        self._lock = Lock()

    def get(self, receipt_id: int, xml: bytes) -> tuple[Entry, ...]:
        key = (receipt_id, hashlib.blake2b(xml, digest_size=16).digest())
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        entries = summarise(xml)
        with self._lock:
            self._items[key] = entries
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return entries


CACHE = SummaryCache()
