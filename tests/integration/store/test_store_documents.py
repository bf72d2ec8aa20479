"""Document inserts classify a whole batch (new, repeat, duplicate, conflict) without aborting it."""

from __future__ import annotations

import polars as pl
import pytest
from _store_testlib import order, snapshot, stored_message
from sqlalchemy import Engine, exc

from cbec.store import Outcome, documents
from cbec.store.guid_hash import guid_hash


def test_batch_with_new_repeated_and_clashing_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        msg = stored_message(conn)
        before = documents.insert_documents(conn, [order(msg, "G-OLD", "NO-OLD"), order(msg, "G-X", "NO-X")])
    assert [o.outcome for o in before] == [Outcome.NEW, Outcome.NEW]
    old_id = before[0].id
    untouched = snapshot(engine)

    batch = [
        order(msg, "G-1", "NO-1"),  # new
        order(msg, "G-OLD", "NO-OLD"),  # same document again: repeat
        order(msg, "G-2", "NO-OLD"),  # another guid declaring an order no. already declared: duplicate
        order(msg, "G-3", "NO-3"),  # new
        order(msg, "G-4", "NO-1"),  # duplicate of a row earlier in this same batch
        order(msg, "G-3", "NO-3"),  # repeat of a row earlier in this batch
        order(msg, "G-X", "NO-OTHER"),  # guid reused for another order: conflict
        order(msg, "G-OLD", "NO-OLD", kind="payment"),  # other kind: keys are per kind, so new
    ]
    with engine.begin() as conn:
        outcomes = documents.insert_documents(conn, batch)
    assert [o.outcome for o in outcomes] == [
        Outcome.NEW,
        Outcome.REPEAT,
        Outcome.DUPLICATE,
        Outcome.NEW,
        Outcome.DUPLICATE,
        Outcome.REPEAT,
        Outcome.CONFLICT,
        Outcome.NEW,
    ]
    assert outcomes[1].id == old_id and outcomes[2].id == old_id and outcomes[2].stored_guid == "G-OLD"
    assert outcomes[4].id == outcomes[0].id and outcomes[4].stored_guid == "G-1"
    assert outcomes[6].stored_business_key == "1105910159|NO-X"

    # Nothing else changed: the old rows are as they were, and exactly the three new rows were added.
    after = snapshot(engine)
    assert after["document"][: len(untouched["document"])] == untouched["document"]
    assert {k: v for k, v in after.items() if k != "document"} == {
        k: v for k, v in untouched.items() if k != "document"
    }
    added = after["document"][len(untouched["document"]) :]
    assert sorted((row[1], row[2]) for row in added) == [
        ("order", "G-1"),
        ("order", "G-3"),
        ("payment", "G-OLD"),
    ]


# Two guids whose index numbers are equal: the number skips the 16th and 17th hex digits of the UUID.
CLASH_A = "19435693-1E56-44EB-A5AD-84C57B000000"
CLASH_B = "19435693-1E56-44EC-B5AD-84C57B000000"


def test_guids_whose_numbers_collide_are_told_apart_by_their_text(engine: Engine) -> None:
    assert guid_hash(CLASH_A) == guid_hash(CLASH_B)
    with engine.begin() as conn:
        msg = stored_message(conn)
        first = documents.insert_documents(conn, [order(msg, CLASH_A, "NO-A")])
        second = documents.insert_documents(
            conn, [order(msg, CLASH_B, "NO-B"), order(msg, CLASH_A, "NO-A"), order(msg, CLASH_B, "NO-C")]
        )
        assert [o.outcome for o in first + second] == [
            Outcome.NEW,
            Outcome.NEW,  # the number is taken, the guid is not
            Outcome.REPEAT,
            Outcome.CONFLICT,
        ]
        assert second[2].stored_business_key == "1105910159|NO-B"
        assert [d.business_key for d in documents.by_guid(conn, CLASH_B)] == ["1105910159|NO-B"]
        # the frame path's status update names the document by guid: only that one changes
        documents.set_statuses(conn, pl.DataFrame({"kind": ["order"], "guid": [CLASH_B], "status": [800]}))
        assert [d.status for d in documents.by_guid(conn, CLASH_A)] == [2]
        assert [d.status for d in documents.by_guid(conn, CLASH_B)] == [800]


def test_a_guid_left_free_by_a_duplicate_goes_to_the_next_row_that_carries_it(engine: Engine) -> None:
    """As if the rows had come one after the other: the first is refused for its order number, so its
    guid was never stored, and the second, with a free number, is new."""
    with engine.begin() as conn:
        msg = stored_message(conn)
        documents.insert_documents(conn, [order(msg, "G-OLD", "NO-OLD")])
        outcomes = documents.insert_documents(
            conn, [order(msg, "G-1", "NO-OLD"), order(msg, "G-1", "NO-1"), order(msg, "G-1", "NO-2")]
        )
        # (the first is then classified against the guid's stored row: a conflict, as before revision 0018)
        assert [o.outcome for o in outcomes] == [Outcome.CONFLICT, Outcome.NEW, Outcome.CONFLICT]
        assert [d.business_key for d in documents.by_guid(conn, "G-1")] == ["1105910159|NO-1"]


def test_lookups_waiting_and_status(engine: Engine) -> None:
    with engine.begin() as conn:
        msg = stored_message(conn)
        outcomes = documents.insert_documents(
            conn,
            [
                order(msg, "O-1", "1"),
                order(msg, "O-2", "2"),
                order(msg, "P-1", "1", kind="payment"),
                order(msg, "W-1", "1", kind="waybill", status=120),
            ],
        )
    with engine.connect() as conn:
        found = documents.by_business_keys(conn, "order", ["1105910159|1", "1105910159|404"])
        assert list(found) == ["1105910159|1"] and found["1105910159|1"].guid == "O-1"
        assert [d.guid for d in documents.waiting(conn, ["order", "payment", "waybill"])] == [
            "O-1",
            "O-2",
            "P-1",
        ]
        assert [d.guid for d in documents.waiting(conn, ["order"], limit=1)] == ["O-1"]
    with engine.begin() as conn:
        assert documents.set_status(conn, "order", [outcomes[0].id], 120) == 1
        assert documents.set_status(conn, "payment", ["1105910159|1"], 120) == 1
        assert documents.set_status(conn, "order", [], 120) == 0
        with pytest.raises(TypeError):
            documents.set_status(conn, "order", [1, "x"], 120)  # type: ignore[arg-type]
    with engine.connect() as conn:
        assert [d.guid for d in documents.waiting(conn, ["order", "payment"])] == ["O-2"]


def test_existing_keys_per_kind_with_any_characters(engine: Engine) -> None:
    """The keys asked about reach the database intact (SQLite: one JSON array), per kind, any number."""
    odd = ['引号"与\\反斜杠', "tab\there", "emoji 📦", "a'b"]
    with engine.begin() as conn:
        msg = stored_message(conn)
        documents.insert_documents(
            conn,
            [order(msg, f"G-{i}", number) for i, number in enumerate(odd)]
            + [order(msg, "P-0", odd[0], kind="payment")],
        )
    asked = [f"1105910159|{n}" for n in odd] + [f"1105910159|absent-{i}" for i in range(40_000)]
    with engine.connect() as conn:
        assert documents.existing_keys(conn, "order", asked) == {f"1105910159|{n}" for n in odd}
        assert documents.existing_keys(conn, "payment", asked) == {f"1105910159|{odd[0]}"}
        assert documents.existing_keys(conn, "waybill", asked) == set()
        assert documents.existing_keys(conn, "order", []) == set()


def test_document_must_come_from_a_stored_message(engine: Engine) -> None:
    """The foreign key to the inbox is enforced (SQLite needs PRAGMA foreign_keys=ON for that)."""
    with pytest.raises(exc.IntegrityError), engine.begin() as conn:
        documents.insert_documents(conn, [order(987654, "G", "1")])


@pytest.mark.slow
def test_bulk_insert_speed(engine: Engine) -> None:
    """50,000 documents in one call; prints the rate (the assertion is only a generous sanity bound)."""
    import time

    with engine.begin() as conn:
        msg = stored_message(conn)
    rows = [order(msg, f"BULK-{i:06d}", f"{i:08d}") for i in range(50_000)]
    start = time.perf_counter()
    with engine.begin() as conn:
        outcomes = documents.insert_documents(conn, rows)
    elapsed = time.perf_counter() - start
    print(
        f"\n{engine.dialect.name}: inserted 50,000 documents in {elapsed:.2f} s ({50_000 / elapsed:,.0f}/s)"
    )
    assert all(o.outcome is Outcome.NEW for o in outcomes)
    start = time.perf_counter()
    with engine.begin() as conn:
        again = documents.insert_documents(conn, rows)
    elapsed_again = time.perf_counter() - start
    print(f"{engine.dialect.name}: re-classified 50,000 repeats in {elapsed_again:.2f} s")
    assert all(o.outcome is Outcome.REPEAT for o in again)
    assert elapsed < 30
