"""Row factories shared by the store tests (plain functions, imported by module name)."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import Connection, Engine, Table, select

from cbec.store import inbox
from cbec.store.documents import NewDocument
from cbec.store.schema import metadata


def message(guid: str, body: str = "", message_type: str = "CEB311Message") -> inbox.InboxItem:
    raw = f'<ceb:{message_type} guid="{guid}">{body}</ceb:{message_type}>'.encode()
    return inbox.InboxItem(guid=guid, message_type=message_type, raw=raw, sender="1105910159")


def stored_message(conn: Connection, guid: str = "MSG-0") -> int:
    """Accept one message and return its inbox id (documents need one)."""
    return inbox.accept(conn, [message(guid)])[0].id


def order(inbox_id: int, guid: str, order_no: str, kind: str = "order", status: int = 2) -> NewDocument:
    payload = json.dumps({"ebpCode": "1105910159", "orderNo": order_no, "goodsValue": "99.00"})
    return NewDocument(
        kind=kind,
        guid=guid,
        business_key=f"1105910159|{order_no}",
        inbox_id=inbox_id,
        payload=payload,
        status=status,
    )


def buyer(n: int) -> str:
    """A buyer key: the hash of a (fake) ID number, as the quota table requires."""
    return hashlib.sha256(f"11010519491231{n:04d}".encode()).hexdigest()


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, ordered, to prove that an operation changed nothing else."""
    with engine.connect() as conn:
        out = {}
        for table in metadata.sorted_tables:
            assert isinstance(table, Table)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]
        return out
