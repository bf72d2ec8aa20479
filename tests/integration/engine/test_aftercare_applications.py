"""Cancellations (CEB623 → CEB624) and returns (CEB625 → CEB626) of released lists, through ``cbec clear``.

The applications are signed CEB XML built from the cleared lists and cleared like any other traffic; the
receipts, the list status, the quota ledger and the tax bills are then read back from the store.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from _aftercare_testlib import (
    World,
    accepted_fen,
    answers,
    assert_receipts_valid,
    bill,
    cancel_message,
    clear_messages,
    net_due,
    quota_used,
    return_message,
    snapshot,
)
from sqlalchemy import select

from cbec.messages.decode import decode
from cbec.store import aftercare as store
from cbec.store import tax
from cbec.store.schema import application, quota_movement

AT = datetime(2026, 11, 20, 10, 0)  # eight days after release


def _final(world: World, message_type: str, guid: str) -> dict[str, str]:
    found = answers(world, message_type, guid)
    assert found, f"no {message_type} for {guid}"
    return found[-1]


def _multi_line(world: World) -> tuple[str, list[dict[str, object]]]:
    """A released list with several lines, one of them of more than one item."""
    for key in world.lists_at(800):
        lines = world.original(key)[1]
        if len(lines) >= 2 and any(Decimal(str(line["qty"])) >= 2 for line in lines):
            return key, lines
    raise AssertionError("the corpus has no multi-line list")


# --- cancellation ----------------------------------------------------------------------------------------
def test_cancellation_gives_the_quota_back_and_voids_the_bill(world: World) -> None:
    key = world.lists_at(800)[0]
    used, amount, issued = quota_used(world, key), accepted_fen(world, key), bill(world, key)
    guid, xml = cancel_message(world, key, AT)
    run = clear_messages(world, AT, xml)

    assert run.summary.applications == {"cancel_accepted": 1}  # the summary of `cbec clear` counts it
    assert [a["returnStatus"] for a in answers(world, "CEB624Message", guid)] == ["120", "399"]
    assert _final(world, "CEB624Message", guid)["invtNo"] == world.invt_no(key)
    assert world.status(key) == 899  # a cancelled list is closed at once
    list_guid = world.original(key)[0]["guid"]
    assert _final(world, "CEB622Message", list_guid)["returnStatus"] == "899"
    assert quota_used(world, key) == used - amount
    assert bill(world, key).status == tax.VOID and net_due(world, key) == (0, 0, 0)
    heads = [decode(x).documents[0].head for _t, x in world.receipts("CEB818Message")]
    assert [(str(h["taxNo"]), str(h["status"])) for h in heads] == [(issued.tax_no, "3")]
    with world.engine.connect() as conn:
        row = conn.execute(select(application).where(application.c.guid == guid)).one()
    assert (row.status, row.list_key, row.quota_fen) == (399, key, -amount)
    assert row.tax_fen == -(issued.customs_tax_fen + issued.vat_fen + issued.ct_fen)
    assert assert_receipts_valid(world)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown list", "-623003"),
        ("other buyer", "-623001"),
        ("other order", "-623001"),
        ("held for review", "-623005"),
        ("after the window", "-623005"),
        ("cancelled already", "-623009"),
    ],
)
def test_cancellations_refused(world: World, case: str, code: str) -> None:
    key = world.lists_at(300 if case == "held for review" else 800)[0]
    at = datetime(2026, 12, 13, 1, 0) if case == "after the window" else AT
    overrides: dict[str, object] = {
        "unknown list": {"invtNo": "22332026I999999999"},
        "other buyer": {"buyerIdNumber": "110105197502264132", "buyerName": "王五"},
        "other order": {"orderNo": "NOT-THE-ORDER"},
    }.get(case, {})
    if case == "cancelled already":
        clear_messages(world, AT, cancel_message(world, key, AT)[1])
    used = quota_used(world, key)
    before = snapshot(world)
    guid, xml = cancel_message(world, key, at, **overrides)
    clear_messages(world, at, xml)
    final = _final(world, "CEB624Message", guid)
    assert final["returnStatus"] == "100" and final["returnInfo"].startswith(code + " "), final
    assert " / " in final["returnInfo"]  # 中文 / English
    assert quota_used(world, key) == used
    after = snapshot(world)
    for table in ("quota", "quota_movement", "tax_bill", "tax_adjustment", "return_line", "decision"):
        assert after[table] == before[table], table
    assert assert_receipts_valid(world)


# --- returns ---------------------------------------------------------------------------------------------
def test_partial_returns_give_back_their_share_then_the_rest(world: World) -> None:
    key, lines = _multi_line(world)
    big = next(line for line in lines if Decimal(str(line["qty"])) >= 2)
    gnum, qty = int(str(big["gnum"])), Decimal(str(big["qty"]))
    used, amount, issued = quota_used(world, key), accepted_fen(world, key), bill(world, key)
    due = net_due(world, key)

    guid, xml = return_message(world, key, AT, [(gnum, Decimal(1))])
    clear_messages(world, AT, xml)
    assert [a["returnStatus"] for a in answers(world, "CEB626Message", guid)] == ["120", "399"]
    assert world.status(key) == 800  # part of the list: it stays released, the return is on record
    with world.engine.connect() as conn:
        taken = store.returned(conn, [key])[key][gnum]
    # one item of the line: its share of the line's dutiable value (the list's value is spread over lines)
    assert taken.qty == 1 and 0 < taken.dutiable_fen < amount
    assert quota_used(world, key) == used - taken.dutiable_fen
    assert net_due(world, key) == (
        due[0] - taken.customs_tax_fen,
        due[1] - taken.vat_fen,
        due[2] - taken.ct_fen,
    )
    assert sum(net_due(world, key)) < sum(due) and bill(world, key).status == tax.GENERATED

    # the rest of the list: everything left goes back, to the fen, and the list closes
    rest = [(int(str(line["gnum"])), Decimal(str(line["qty"]))) for line in lines]
    rest = [(g, q - 1 if g == gnum else q) for g, q in rest]
    guid2, xml2 = return_message(world, key, AT, [(g, q) for g, q in rest if q > 0])
    clear_messages(world, AT, xml2)
    assert _final(world, "CEB626Message", guid2)["returnStatus"] == "399"
    assert world.status(key) == 899
    assert quota_used(world, key) == used - amount
    assert bill(world, key).status == tax.VOID and net_due(world, key) == (0, 0, 0)
    with world.engine.connect() as conn:
        movements = conn.execute(
            select(quota_movement.c.kind, quota_movement.c.amount_fen).where(
                quota_movement.c.list_key.like(f"{key}%")
            )
        ).all()
        gave = {r.guid: (r.quota_fen, r.tax_fen) for r in conn.execute(select(application))}
    assert sorted(m.kind for m in movements) == ["accept", "return", "return"]
    assert sum(m.amount_fen for m in movements) == 0
    assert -(gave[guid][1] + gave[guid2][1]) == issued.customs_tax_fen + issued.vat_fen + issued.ct_fen
    assert qty >= 2
    assert assert_receipts_valid(world)


def test_return_window_is_30_days_from_release(world: World) -> None:
    early, late = world.lists_at(800)[:2]
    # released 2026-11-12 00:00 UTC = 08:00 Beijing: the last day is 2026-12-12 (Beijing)
    last = datetime(2026, 12, 12, 15, 59)  # 23:59 Beijing
    too_late = datetime(2026, 12, 12, 16, 0)  # 00:00 Beijing on the 13th
    g1, x1 = return_message(world, early, last)
    clear_messages(world, last, x1)
    assert _final(world, "CEB626Message", g1)["returnStatus"] == "399"
    used = quota_used(world, late)
    g2, x2 = return_message(world, late, too_late)
    clear_messages(world, too_late, x2)
    final = _final(world, "CEB626Message", g2)
    assert final["returnStatus"] == "100" and final["returnInfo"].startswith("-625902 ")
    assert "30" in final["returnInfo"] and "2026-12-12" in final["returnInfo"]
    assert world.status(late) == 800 and quota_used(world, late) == used


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("more than declared", "-625903"),
        ("more than left", "-625903"),
        ("unknown line", "-625209"),
        ("other HS code", "-625209"),
        ("other unit", "-625001"),
        ("unknown list", "-625016"),
        ("other buyer", "-625001"),
        ("held for inspection", "-625901"),
        ("cancelled list", "-625901"),
        ("same copNo again", "-625033"),
    ],
)
def test_returns_refused(world: World, case: str, code: str) -> None:
    key, lines = (world.lists_at(500)[0], []) if case == "held for inspection" else _multi_line(world)
    first = lines[0] if lines else world.original(key)[1][0]
    gnum, qty = int(str(first["gnum"])), Decimal(str(first["qty"]))
    wanted = [(gnum, Decimal(1))]
    overrides: dict[str, object] = {}
    line_overrides: dict[str, object] | None = None
    if case == "more than declared":
        wanted = [(gnum, qty + 1)]
    elif case == "more than left":
        clear_messages(world, AT, return_message(world, key, AT, [(gnum, qty)], copNo="R1")[1])
        wanted = [(gnum, Decimal(1))]
    elif case == "unknown line":
        wanted = [(99, Decimal(1))]
    elif case == "other HS code":
        line_overrides = {"gcode": "9999999999"}
    elif case == "other unit":
        line_overrides = {"unit": "035" if first["unit"] != "035" else "007"}
    elif case == "unknown list":
        overrides = {"invtNo": "22332026I999999999"}
    elif case == "other buyer":
        overrides = {"buyerName": "王五"}
    elif case == "cancelled list":
        clear_messages(world, AT, cancel_message(world, key, AT)[1])
    elif case == "same copNo again":
        clear_messages(world, AT, return_message(world, key, AT, [(gnum, Decimal(1))], copNo="R1")[1])
        overrides = {"copNo": "R1"}
    used = quota_used(world, key)
    status = world.status(key)
    guid, xml = return_message(world, key, AT, wanted, line_overrides=line_overrides, **overrides)
    clear_messages(world, AT, xml)
    final = _final(world, "CEB626Message", guid)
    assert final["returnStatus"] == "100" and final["returnInfo"].startswith(code + " "), final
    assert quota_used(world, key) == used and world.status(key) == status
    with world.engine.connect() as conn:
        row = conn.execute(select(application).where(application.c.guid == guid)).one()
    assert (row.status, row.code, row.quota_fen, row.tax_fen) == (100, code, 0, 0)
    assert row.reason_zh and row.reason_en
    assert assert_receipts_valid(world)


def test_the_same_application_twice_changes_nothing(world: World) -> None:
    key, lines = _multi_line(world)
    gnum = int(str(lines[0]["gnum"]))
    guid, ret = return_message(world, key, AT, [(gnum, Decimal(1))])
    cguid, cancel = cancel_message(world, world.lists_at(800)[-1], AT)
    clear_messages(world, AT, ret, cancel)
    before = snapshot(world)
    used = quota_used(world, key)

    again = clear_messages(world, AT, ret, cancel)  # the same messages: repeats, not processed
    assert again.summary.repeated_messages == 2
    assert snapshot(world) == before

    # the same application documents in new messages (new message guid, same document guid)
    _g, ret2 = return_message(world, key, AT, [(gnum, Decimal(1))], guid=guid)
    _c, cancel2 = cancel_message(world, world.lists_at(899)[0], AT, guid=cguid)
    clear_messages(world, AT, ret2, cancel2)
    after = snapshot(world)
    assert {t: after[t] for t in after if t != "document"} == {
        t: before[t] for t in before if t != "document"
    }
    assert quota_used(world, key) == used
    assert len(answers(world, "CEB626Message", guid)) == 2  # 120 and 399, once
