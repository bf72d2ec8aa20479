"""One processing step is one transaction: all its effects or none; rebuild keeps only what cannot be
recomputed; decisions and tax bills round-trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from _store_testlib import buyer, message, order, snapshot
from sqlalchemy import Engine

from cbec.store import batches, decisions, documents, inbox, outbox, quota, rebuild, tax
from cbec.store.decisions import Decision
from cbec.store.outbox import Receipt
from cbec.store.quota import QuotaMovement
from cbec.store.schema import receipt
from cbec.store.tax import TaxBill


class Boom(Exception):
    pass


def _process_one(engine: Engine, guid: str, *, fail: bool = False) -> None:
    """What the engine does for one message: every write of a processing step, then maybe a crash."""
    with engine.begin() as conn:
        (accepted,) = inbox.accept(conn, [message(guid)])
    with engine.begin() as conn:
        batch_id = batches.start(conn)
        documents.insert_documents(conn, [order(accepted.id, f"D-{guid}", guid, kind="list")])
        decisions.record(conn, [Decision(f"L|{guid}", 800, "release", "放行", "released", batch_id=batch_id)])
        quota.apply(conn, [QuotaMovement(buyer(1), 2026, f"L|{guid}", "accept", 12_345)])
        tax.record_bills(conn, [TaxBill(f"T{guid}", f"I{guid}", f"L|{guid}", 0, 1_000, 0)])
        outbox.enqueue(conn, [Receipt("CEB622Message", "1105910159", f"L|{guid}", f"D-{guid}", 800, b"<r/>")])
        inbox.mark_processed(conn, [accepted.id], batch_id)
        batches.finish(conn, batch_id, 1)
        if fail:
            raise Boom


def test_a_failed_step_leaves_nothing_behind(engine: Engine) -> None:
    _process_one(engine, "OK")
    before = snapshot(engine)
    with engine.begin() as conn:
        (accepted,) = inbox.accept(conn, [message("CRASH")])
    with pytest.raises(Boom), engine.begin() as conn:
        documents.insert_documents(conn, [order(accepted.id, "D-CRASH", "CRASH")])
        quota.apply(conn, [QuotaMovement(buyer(1), 2026, "L|CRASH", "accept", 1)])
        outbox.enqueue(conn, [Receipt("CEB622Message", "X", "L|CRASH", "D-CRASH", 800, b"<r/>")])
        inbox.mark_processed(conn, [accepted.id], None)
        raise Boom
    after = snapshot(engine)
    # Only the committed inbox row is new; the message is still pending, to be processed again.
    assert len(after["inbox"]) == len(before["inbox"]) + 1
    assert {k: v for k, v in after.items() if k != "inbox"} == {
        k: v for k, v in before.items() if k != "inbox"
    }
    with engine.connect() as conn:
        assert [r.guid for r in inbox.pending(conn)] == ["CRASH"]


def test_savepoint_rollback_inside_a_step(engine: Engine) -> None:
    """A nested transaction (SAVEPOINT) undoes only its own part, also on SQLite."""
    with engine.begin() as conn:
        inbox.accept(conn, [message("KEEP")])
        with pytest.raises(Boom), conn.begin_nested():
            inbox.accept(conn, [message("UNDO")])
            raise Boom
    with engine.connect() as conn:
        assert list(inbox.by_guids(conn, ["KEEP", "UNDO"])) == ["KEEP"]


def test_decisions_and_tax_bills(engine: Engine) -> None:
    when = datetime(2026, 5, 1, 12, tzinfo=UTC)
    with engine.begin() as conn:
        decisions.record(
            conn,
            [
                Decision("L|1", 100, "quota.annual", "超过年度限额", "over the annual limit", code="-621005"),
                Decision("L|1", 800, "release", "放行", "released", invt_no="I1", decided_at=when),
                Decision("L|2", 120, "accept", "入库成功", "accepted"),
            ],
        )
        bill = TaxBill("T1", "I1", "L|1", customs_tax_fen=0, vat_fen=9_100, ct_fen=4_550)
        assert tax.record_bills(conn, [bill, bill]) == 1
        assert tax.record_bills(conn, [bill]) == 0
        assert tax.set_bill_status(conn, ["T1"], tax.SUMMARISED) == 1
        with pytest.raises(ValueError):
            tax.set_bill_status(conn, ["T1"], 9)
    with engine.connect() as conn:
        found = decisions.by_list_keys(conn, ["L|1", "L|3"])
        bills = tax.by_tax_nos(conn, ["T1"])
    assert list(found) == ["L|1"]
    assert [(d.status, d.code) for d in found["L|1"]] == [(100, "-621005"), (800, None)]
    assert found["L|1"][0].reason_zh == "超过年度限额" and found["L|1"][1].decided_at == when
    assert bills["T1"].status == tax.SUMMARISED and bills["T1"].vat_fen == 9_100


def test_rebuild_keeps_the_inbox_and_delivered_receipts(engine: Engine) -> None:
    for guid in ("A", "B", "C"):
        _process_one(engine, guid)
    with engine.begin() as conn:
        delivered = outbox.undelivered(conn, limit=1)
        outbox.mark_delivered(conn, [r.id for r in delivered])
    before = snapshot(engine)

    counts = rebuild(engine)

    after = snapshot(engine)
    # every derived table is emptied (the ledgers', exports' and returns' too, none used here) …
    assert {"counter", "tax_adjustment", "return_line", "application", "export_list"} <= counts.keys()
    # … and these held rows (the counter is 0: this test processes without the clearing engine)
    assert {k: n for k, n in counts.items() if n} == {
        "quota_movement": 3,
        "quota": 1,
        "tax_bill": 3,
        "decision": 3,
        "document": 3,
        "receipt": 2,
        "inbox": 3,
        "batch": 3,
    }
    for table in ("document", "decision", "quota", "quota_movement", "tax_bill", "batch"):
        assert after[table] == [], table
    delivered_at = list(receipt.c.keys()).index("delivered_at")
    assert after["receipt"] == [r for r in before["receipt"] if r[delivered_at] is not None]  # delivered kept
    # The raw messages are intact, and all pending again.
    assert [r[:3] + r[5:8] for r in after["inbox"]] == [r[:3] + r[5:8] for r in before["inbox"]]
    with engine.connect() as conn:
        assert [r.guid for r in inbox.pending(conn)] == ["A", "B", "C"]

    # Replaying gives the same state; the delivered receipt is not queued a second time.
    with engine.begin() as conn:
        for row in inbox.pending(conn):
            guid = row.guid
            documents.insert_documents(conn, [order(row.id, f"D-{guid}", guid, kind="list")])
            quota.apply(conn, [QuotaMovement(buyer(1), 2026, f"L|{guid}", "accept", 12_345)])
            outbox.enqueue(
                conn, [Receipt("CEB622Message", "1105910159", f"L|{guid}", f"D-{guid}", 800, b"<r/>")]
            )
            inbox.mark_processed(conn, [row.id], None)
    with engine.connect() as conn:
        assert quota.used(conn, [buyer(1)], 2026)[buyer(1)] == 3 * 12_345
        assert len(outbox.undelivered(conn)) == 2
    assert rebuild(engine, keep_delivered_receipts=False)["receipt"] == 3
