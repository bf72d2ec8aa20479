"""The outbox queues each receipt once and hands out only what is undelivered."""

from __future__ import annotations

from sqlalchemy import Engine, select

from cbec.store import outbox, packed_xml
from cbec.store.outbox import Receipt
from cbec.store.schema import receipt


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


def test_xml_is_stored_packed_and_read_back_as_written(engine: Engine) -> None:
    """At rest the XML is a Zstandard frame; every reader gets the XML.  A value packed before it reaches the
    outbox (by a receipt worker) is stored as it is, and a row stored unpacked (before packing existed)
    reads as it is."""
    xml = ('<?xml version="1.0"?><ceb:CEB622Message guid="R-1">' + "<e>放行 released</e>" * 200).encode()
    early = Receipt("CEB622Message", "1105910159", "k2", "G2", 800, packed_xml.pack(xml))
    with engine.begin() as conn:
        outbox.enqueue(conn, [Receipt("CEB622Message", "1105910159", "k1", "G1", 800, xml), early])
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT xml FROM receipt ORDER BY id").all()
        assert all(packed_xml.is_packed(bytes(r[0])) and len(bytes(r[0])) * 5 < len(xml) for r in raw)
        assert [r.xml for r in outbox.undelivered(conn)] == [xml, xml]
        assert [bytes(v) for (v,) in conn.execute(select(receipt.c.xml))] == [xml, xml]
    with engine.begin() as conn:  # a row written unpacked, as releases before packing did
        conn.exec_driver_sql(
            "UPDATE receipt SET xml = %s WHERE doc_guid = 'G1'"
            if conn.dialect.name == "postgresql"
            else "UPDATE receipt SET xml = ? WHERE doc_guid = 'G1'",
            (xml,),
        )
    with engine.connect() as conn:
        assert [r.xml for r in outbox.undelivered(conn)] == [xml, xml]
