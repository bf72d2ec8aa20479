"""The inbox stores each guid once, reports repeats and conflicts, and hands messages out in order."""

from __future__ import annotations

import hashlib
import zlib
from datetime import UTC, datetime

import pytest
from _store_testlib import message
from sqlalchemy import Engine, func, select

from cbec.store import Outcome, batches, inbox
from cbec.store.data_key import keyring_for
from cbec.store.schema import inbox as inbox_table


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inbox_table)).scalar_one())


def test_same_guid_twice_is_stored_once(engine: Engine) -> None:
    with engine.begin() as conn:
        first = inbox.accept(conn, [message("G-1")])
    with engine.begin() as conn:
        again = inbox.accept(conn, [message("G-1")])
    assert first[0].outcome is Outcome.NEW
    assert again[0].outcome is Outcome.REPEAT
    assert again[0].id == first[0].id
    assert _count(engine) == 1


def test_same_guid_different_bytes_is_a_conflict_and_not_stored(engine: Engine) -> None:
    with engine.begin() as conn:
        inbox.accept(conn, [message("G-1", body="original")])
    with engine.begin() as conn:
        (outcome,) = inbox.accept(conn, [message("G-1", body="tampered")])
    assert outcome.outcome is Outcome.CONFLICT
    with engine.connect() as conn:
        stored = inbox.by_guids(conn, ["G-1"])["G-1"]
    assert b"original" in stored.raw
    assert stored.sha256 == hashlib.sha256(stored.raw).hexdigest()
    assert _count(engine) == 1


def test_mixed_batch_with_repeats_inside_it(engine: Engine) -> None:
    with engine.begin() as conn:
        inbox.accept(conn, [message("OLD")])
    items = [
        message("A"),
        message("OLD"),  # stored before: repeat
        message("B"),
        message("A"),  # repeats an item of this very batch
        message("B", body="other"),  # same guid as an item of this batch, other bytes
        message("OLD", body="other"),  # stored before, other bytes
    ]
    with engine.begin() as conn:
        outcomes = inbox.accept(conn, items)
    assert [o.outcome for o in outcomes] == [
        Outcome.NEW,
        Outcome.REPEAT,
        Outcome.NEW,
        Outcome.REPEAT,
        Outcome.CONFLICT,
        Outcome.CONFLICT,
    ]
    assert [o.index for o in outcomes] == list(range(6))
    assert outcomes[0].id == outcomes[3].id and outcomes[2].id == outcomes[4].id
    assert _count(engine) == 3


def test_pending_oldest_first_then_mark_processed(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = [o.id for o in inbox.accept(conn, [message(f"M-{i}") for i in range(5)])]
    with engine.connect() as conn:
        assert [r.id for r in inbox.pending(conn, limit=3)] == ids[:3]
    with engine.begin() as conn:
        batch_id = batches.start(conn, note="test")
        assert inbox.mark_processed(conn, ids[:2], batch_id) == 2
        assert inbox.mark_processed(conn, ids[2:3], batch_id, status=inbox.REFUSED) == 1
        # already processed: a second worker gets 0 and knows to roll back
        assert inbox.mark_processed(conn, ids[:2], batch_id) == 0
        batches.finish(conn, batch_id, messages=3)
    with engine.connect() as conn:
        rest = inbox.pending(conn)
        rows = inbox.by_guids(conn, ["M-0", "M-2"])
    assert [r.id for r in rest] == ids[3:]
    assert rows["M-0"].status == "processed" and rows["M-0"].batch_id == batch_id
    assert rows["M-2"].status == "refused"
    assert rows["M-0"].processed_at is not None and rows["M-0"].processed_at.tzinfo is UTC
    with pytest.raises(ValueError, match="status"), engine.begin() as conn:
        inbox.mark_processed(conn, ids, batch_id, status="accepted")


def test_replay_all_pages_through_everything_in_order(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = [o.id for o in inbox.accept(conn, [message(f"R-{i}") for i in range(23)])]
        inbox.mark_processed(conn, ids[:10], None)
    with engine.connect() as conn:
        replayed = list(inbox.replay_all(conn, page_size=5))
    assert [r.id for r in replayed] == ids
    assert replayed[0].raw.startswith(b"<ceb:CEB311Message")


def test_received_at_round_trips_as_aware_utc(engine: Engine) -> None:
    when = datetime(2026, 4, 1, 8, 30, 15, 123456, tzinfo=UTC)
    item = inbox.InboxItem(guid="T", message_type="CEB621Message", raw=b"<x/>", received_at=when)
    with engine.begin() as conn:
        inbox.accept(conn, [item])
    with engine.connect() as conn:
        assert inbox.by_guids(conn, ["T"])["T"].received_at == when
    naive = inbox.InboxItem(
        guid="N", message_type="CEB621Message", raw=b"<x/>", received_at=datetime(2026, 1, 1)
    )
    with pytest.raises(Exception, match="naive datetime"), engine.begin() as conn:
        inbox.accept(conn, [naive])


def test_overlong_guid_is_refused_before_the_database(engine: Engine) -> None:
    with pytest.raises(ValueError, match="guid longer than 64"), engine.begin() as conn:
        inbox.accept(conn, [message("G" * 65)])
    assert _count(engine) == 0


def test_compressed_messages_come_back_as_received(engine: Engine) -> None:
    original = message("G-Z", body="压缩 " * 500).raw
    stored = zlib.compress(original, 1)  # as a message could be given before encryption existed
    digest = hashlib.sha256(original).hexdigest()
    assert len(stored) < len(original) / 5
    item = inbox.InboxItem(guid="G-Z", message_type="CEB311Message", raw=stored, codec=inbox.ZLIB)
    with engine.begin() as conn:
        (first,) = inbox.accept(conn, [item])
        (same,) = inbox.accept(conn, [message("G-Z", body="压缩 " * 500)])  # the same bytes, uncompressed
        (other,) = inbox.accept(conn, [message("G-Z", body="something else")])
    assert (first.outcome, same.outcome, other.outcome) == (Outcome.NEW, Outcome.REPEAT, Outcome.CONFLICT)
    with engine.connect() as conn:
        row = inbox.by_guids(conn, ["G-Z"])["G-Z"]
        raw_codec, raw = conn.execute(select(inbox_table.c.raw_codec, inbox_table.c.raw)).one()
        assert inbox.raw_by_ids(conn, [row.id]) == {row.id: original}
    assert (row.raw, row.raw_codec, row.sha256) == (original, "zstd-gcm", digest)
    # what is on disk is the compressed form, encrypted by accept (docs/privacy.md)
    assert raw_codec == "zstd-gcm" and bytes(raw) != stored and b"CEB311" not in bytes(raw)
    assert len(bytes(raw)) < len(original) / 5


def test_packed_messages_are_sealed_zstandard(engine: Engine) -> None:
    original = message("G-P", body="压缩 " * 500).raw
    stored, digest = inbox.pack(original, keyring_for(engine))
    assert len(stored) < len(original) / 5 and digest == hashlib.sha256(original).hexdigest()
    item = inbox.InboxItem("G-P", "CEB311Message", stored, codec=inbox.SEALED, sha256=digest)
    with engine.begin() as conn:
        inbox.accept(conn, [item])
    with engine.connect() as conn:
        row = inbox.by_guids(conn, ["G-P"])["G-P"]
        raw_codec, raw = conn.execute(select(inbox_table.c.raw_codec, inbox_table.c.raw)).one()
    assert (row.raw, row.raw_codec, raw_codec, bytes(raw)) == (original, "zstd-gcm", "zstd-gcm", stored)


def test_unknown_codec_is_refused(engine: Engine) -> None:
    item = inbox.InboxItem(guid="G-Q", message_type="CEB311Message", raw=b"x", codec="lz4")
    with engine.begin() as conn, pytest.raises(ValueError, match="codec"):
        inbox.accept(conn, [item])


def test_a_reserved_id_is_kept_and_ids_are_all_reserved_or_none(engine: Engine) -> None:
    from dataclasses import replace

    with engine.begin() as conn:
        (outcome,) = inbox.accept(conn, [replace(message("G-R"), id=500)])
    assert (outcome.outcome, outcome.id) == (Outcome.NEW, 500)
    with pytest.raises(ValueError, match="reserved id"), engine.begin() as conn:
        inbox.accept(conn, [replace(message("G-A"), id=501), message("G-B")])
    assert _count(engine) == 1
