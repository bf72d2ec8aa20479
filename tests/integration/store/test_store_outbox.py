"""The outbox queues each receipt once and hands out only what is undelivered."""

from __future__ import annotations

from sqlalchemy import Engine

from cbec.store import outbox
from cbec.store.outbox import Receipt


def _receipt(guid: str, status: int) -> Receipt:
    xml = f'<ceb:CEB622Message guid="R-{guid}-{status}"/>'.encode()
    return Receipt("CEB622Message", "1105910159", f"1105910159|{guid}", guid, status, xml)


def test_same_receipt_is_queued_once(engine: Engine) -> None:
    with engine.begin() as conn:
        assert outbox.enqueue(conn, [_receipt("A", 2), _receipt("A", 2), _receipt("A", 120)]) == 2
    with engine.begin() as conn:
        assert outbox.enqueue(conn, [_receipt("A", 120), _receipt("B", 2)]) == 1  # re-processing
    with engine.connect() as conn:
        queued = outbox.undelivered(conn)
    assert [(r.doc_guid, r.status) for r in queued] == [("A", 2), ("A", 120), ("B", 2)]
    assert queued[0].xml.startswith(b"<ceb:CEB622Message")


def test_delivery_marks_and_skips(engine: Engine) -> None:
    with engine.begin() as conn:
        outbox.enqueue(conn, [_receipt(str(i), 2) for i in range(5)])
    with engine.begin() as conn:
        first = outbox.undelivered(conn, limit=2, skip_locked=True)
        assert outbox.mark_delivered(conn, [r.id for r in first]) == 2
        assert outbox.mark_delivered(conn, [r.id for r in first]) == 0  # first delivery time is kept
    with engine.connect() as conn:
        rest = outbox.undelivered(conn)
    assert [r.doc_guid for r in rest] == ["2", "3", "4"]
    assert all(r.delivered_at is None for r in rest)
    with engine.begin() as conn:
        # a delivered receipt is still a receipt: producing it again does not queue it again
        assert outbox.enqueue(conn, [_receipt("0", 2)]) == 0
