"""The store's side of personal data: the inbox encrypts whatever it is given, reads every codec, re-encrypts
under a new key; revisions 0008 and 0016 on a populated database; the audit of unmasked reads."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from cbec.privacy.crypto import seal, sealed_key_id
from cbec.privacy.keys import ENV_KEY, ENV_KEY_FILE, DataKeyError, Keyring, new_key
from cbec.store import compression, connect, data_key, downgrade, inbox, outbox, pii_audit, upgrade
from cbec.store.schema import inbox as inbox_table
from cbec.store.schema import pii_access

ORDER = (
    '<ceb:CEB311Message guid="{guid}" xmlns:ceb="http://www.chinaport.gov.cn/ceb"><ceb:OrderHead>'
    "<ceb:buyerIdNumber>11010519491231002X</ceb:buyerIdNumber>"
    "<ceb:buyerTelephone>13812345678</ceb:buyerTelephone></ceb:OrderHead></ceb:CEB311Message>"
)


def _item(guid: str, codec: str = inbox.IDENTITY, keys: Keyring | None = None) -> inbox.InboxItem:
    raw = ORDER.format(guid=guid).encode()
    if codec == inbox.ZLIB:
        raw = zlib.compress(raw)
    elif codec == inbox.SEALED:
        raw, _ = inbox.pack(raw, keys)
    return inbox.InboxItem(guid=guid, message_type="CEB311Message", raw=raw, codec=codec)


def _stored(engine: Engine) -> dict[str, tuple[str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(select(inbox_table.c.guid, inbox_table.c.raw_codec, inbox_table.c.raw))
        return {g: (c, bytes(r)) for g, c, r in rows}


def test_every_message_is_stored_encrypted_and_read_back(engine: Engine) -> None:
    keys = data_key.keyring_for(engine)
    with engine.begin() as conn:
        inbox.accept(conn, [_item("A"), _item("B", inbox.ZLIB), _item("C", inbox.SEALED, keys)])
    stored = _stored(engine)
    assert {c for c, _ in stored.values()} == {"zstd-gcm"}
    assert not any(b"11010519491231002X" in r or b"13812345678" in r for _, r in stored.values())
    with engine.connect() as conn:
        back = inbox.by_guids(conn, ["A", "B", "C"])
    assert {g: r.raw for g, r in back.items()} == {g: ORDER.format(guid=g).encode() for g in "ABC"}


def test_mislabelled_ciphertext_is_refused(engine: Engine) -> None:
    item = inbox.InboxItem("D", "CEB311Message", zlib.compress(b"<x/>"), codec=inbox.SEALED, sha256="0" * 64)
    with engine.begin() as conn, pytest.raises(ValueError, match="not a zstd-gcm ciphertext"):
        inbox.accept(conn, [item])


def test_old_rows_readable_and_reencrypted_after_rotation(engine: Engine) -> None:
    old = data_key.keyring_for(engine)
    with engine.begin() as conn:
        inbox.accept(conn, [_item("E")])
        # a row from before revision 0008, stored as received
        conn.execute(
            insert(inbox_table).values(
                guid="F", message_type="CEB311Message", received_at=datetime.now(UTC), sha256="f" * 64,
                raw=ORDER.format(guid="F").encode(), status="accepted", raw_codec="identity",
            )
        )  # fmt: skip
    rotated = Keyring.of([new_key(), old.current])
    data_key.use_keyring(engine, rotated)
    try:
        with engine.begin() as conn:
            inbox.accept(conn, [_item("G")])
        assert {g: sealed_key_id(r) for g, (_, r) in _stored(engine).items() if g != "F"} == {
            "E": old.current_id,
            "G": rotated.current_id,
        }
        done = data_key.reencrypt(engine, page_size=2)
        assert (done.examined, done.rewritten) == (3, 2)
        stored = _stored(engine)
        assert {(c, sealed_key_id(r)) for c, r in stored.values()} == {("zstd-gcm", rotated.current_id)}
        data_key.use_keyring(engine, Keyring.of([rotated.current]))  # the old key is no longer needed
        with engine.connect() as conn:
            assert inbox.by_guids(conn, ["F"])["F"].raw == ORDER.format(guid="F").encode()
    finally:
        data_key.use_keyring(engine, old)


def test_a_wrong_key_is_a_clear_error(engine: Engine) -> None:
    with engine.begin() as conn:
        inbox.accept(conn, [_item("H")])
    keys = data_key.keyring_for(engine)
    data_key.use_keyring(engine, Keyring.of([new_key()]))
    try:
        with engine.connect() as conn, pytest.raises(DataKeyError, match="not configured"):
            inbox.by_guids(conn, ["H"])
    finally:
        data_key.use_keyring(engine, keys)


def test_a_server_database_needs_a_configured_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)
    from sqlalchemy import create_engine

    fake = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(DataKeyError, match=ENV_KEY):
        data_key.keyring_for(fake)


def test_revision_0008_on_a_populated_database(tmp_path: Path) -> None:
    """Upgrading keeps stored rows as they were (and documents pointing at them); downgrading decrypts."""
    engine = connect(f"sqlite:///{tmp_path / 'old.db'}", create=False)
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO inbox (guid, message_type, received_at, sha256, raw, status, raw_codec) "
                "VALUES ('old', 'CEB311Message', '2026-01-01 00:00:00', 'x', :raw, 'processed', 'zlib')"
            ),
            {"raw": zlib.compress(ORDER.format(guid="old").encode())},
        )
        conn.execute(
            text(
                "INSERT INTO document (kind, guid, business_key, inbox_id, received_at, status, app_type) "
                "VALUES ('order', 'old', 'k', 1, '2026-01-01 00:00:00', 2, '1')"
            )
        )
    upgrade(engine, "head")
    with engine.begin() as conn:
        inbox.accept(conn, [_item("new")])
        assert [tuple(r) for r in conn.execute(text("PRAGMA foreign_key_check"))] == []
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert {g: c for g, (c, _) in _stored(engine).items()} == {"old": "zlib", "new": "zstd-gcm"}
    downgrade(engine, "0007")
    assert {g: c for g, (c, _) in _stored(engine).items()} == {"old": "zlib", "new": "zlib"}
    with engine.connect() as conn:
        assert inbox.by_guids(conn, ["new"])["new"].raw == ORDER.format(guid="new").encode()
    upgrade(engine, "head")
    engine.dispose()


def test_revision_0016_keeps_zlib_rows_and_downgrade_rewrites_zstandard(tmp_path: Path) -> None:
    """Rows compressed with zlib before 0016 are read as they are (and a key rotation keeps their form);
    the downgrade turns every Zstandard message and receipt back into zlib, which the older code reads."""
    engine = connect(f"sqlite:///{tmp_path / 'old.db'}", create=False)
    upgrade(engine, "0015")
    keys = data_key.keyring_for(engine)
    old_xml = b'<?xml version="1.0"?><ceb:CEB622Message guid="R-old">' + "<e>放行</e>".encode() * 50
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO inbox (guid, message_type, received_at, sha256, raw, status, raw_codec) "
                "VALUES ('old', 'CEB311Message', '2026-01-01 00:00:00', 'x', :raw, 'processed', 'zlib-gcm')"
            ),
            {"raw": seal(zlib.compress(ORDER.format(guid="old").encode(), 1), keys, inbox.SEAL_CONTEXT)},
        )
        conn.execute(
            text(
                "INSERT INTO receipt (message_type, recipient, business_key, doc_guid, status, created_at,"
                " xml) VALUES ('CEB622Message', 'E1', 'k-old', 'R-old', 800, '2026-01-01 00:00:00', :xml)"
            ),
            {"xml": zlib.compress(old_xml, 1)},
        )
    upgrade(engine, "head")
    new_xml = old_xml.replace(b"R-old", b"R-new")
    with engine.begin() as conn:
        inbox.accept(conn, [_item("new")])
        outbox.enqueue(conn, [outbox.Receipt("CEB622Message", "E1", "k-new", "R-new", 800, new_xml)])
    stored = _stored(engine)
    assert {g: c for g, (c, _) in stored.items()} == {"old": "zlib-gcm", "new": "zstd-gcm"}

    def receipts() -> dict[str, bytes]:
        with engine.connect() as conn:
            return {str(g): bytes(x) for g, x in conn.execute(text("SELECT doc_guid, xml FROM receipt"))}

    assert zlib.decompress(receipts()["R-old"]) == old_xml
    assert compression.is_frame(receipts()["R-new"])
    with engine.connect() as conn:
        back = inbox.by_guids(conn, ["old", "new"])
        assert sorted(back) == ["new", "old"]
        assert {g: r.raw for g, r in back.items()} == {g: ORDER.format(guid=g).encode() for g in back}
        assert sorted(r.xml for r in outbox.undelivered(conn)) == sorted([old_xml, new_xml])
    rotated = Keyring.of([new_key(), keys.current])
    data_key.use_keyring(engine, rotated)
    try:
        assert data_key.reencrypt(engine).rewritten == 2
        assert {g: c for g, (c, _) in _stored(engine).items()} == {"old": "zlib-gcm", "new": "zstd-gcm"}
        downgrade(engine, "0015")
        assert {g: c for g, (c, _) in _stored(engine).items()} == {"old": "zlib-gcm", "new": "zlib-gcm"}
        assert {g: zlib.decompress(x) for g, x in receipts().items()} == {"R-old": old_xml, "R-new": new_xml}
        with engine.connect() as conn:
            back = inbox.by_guids(conn, ["old", "new"])
        assert sorted(back) == ["new", "old"]
        assert {g: r.raw for g, r in back.items()} == {g: ORDER.format(guid=g).encode() for g in back}
        with engine.begin() as conn, pytest.raises(IntegrityError):  # the narrowed check is back
            conn.execute(text("UPDATE inbox SET raw_codec = 'zstd-gcm' WHERE guid = 'old'"))
        upgrade(engine, "head")
    finally:
        data_key.use_keyring(engine, keys)
        engine.dispose()


def test_audit_of_unmasked_reads(engine: Engine) -> None:
    t0 = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
    reads = [
        pii_audit.PiiAccess(
            actor="officer-5300-017", role="officer", document_ref=f"list|{n}", document_kind="list",
            fields=("buyerIdNumber", "buyerTelephone"), purpose="manual review 300", channel="console",
            accessed_at=t0 + timedelta(minutes=n),
        )
        for n in range(3)
    ]  # fmt: skip
    with engine.begin() as conn:
        assert pii_audit.record(conn, reads) == 3
        with pytest.raises(ValueError, match="purpose"):
            pii_audit.record(conn, [pii_audit.PiiAccess("a", "officer", "x", ("buyerName",), " ")])
    with engine.connect() as conn:
        newest = pii_audit.accesses(conn, actor="officer-5300-017", limit=2)
        assert [r.document_ref for r in newest] == ["list|2", "list|1"]
        older = pii_audit.accesses(conn, before_id=newest[-1].id)
        assert [r.document_ref for r in older] == ["list|0"]
        (one,) = pii_audit.accesses(conn, document_ref="list|1")
        assert one.fields == ("buyerIdNumber", "buyerTelephone") and one.accessed_at == reads[1].accessed_at
        assert pii_audit.accesses(conn, since=t0 + timedelta(minutes=1), until=t0 + timedelta(minutes=2))
        # the audit names fields, never values
        assert "11010519491231002X" not in str(conn.execute(select(pii_access)).all())
