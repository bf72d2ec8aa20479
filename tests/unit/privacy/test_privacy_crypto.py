"""Encryption at rest: round trips, a wrong key refused clearly, tampering detected, keys rotate."""

from __future__ import annotations

import base64
import pickle
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cbec.privacy.crypto import (
    OVERHEAD,
    DataIntegrityError,
    decrypt_text,
    encrypt_text,
    is_encrypted_text,
    open_sealed,
    seal,
    sealed_key_id,
)
from cbec.privacy.keys import (
    ENV_KEY,
    ENV_KEY_FILE,
    DataKeyError,
    Keyring,
    encode_key,
    key_id,
    load_keyring,
    new_key,
    parse_keys,
    rotate_key_file,
)

A, B = Keyring.of([b"a" * 32]), Keyring.of([b"b" * 32])


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)


@given(st.binary(max_size=5000), st.binary(max_size=40))
def test_round_trip(data: bytes, context: bytes) -> None:
    sealed = seal(data, A, context)
    assert len(sealed) == len(data) + OVERHEAD
    assert open_sealed(sealed, A, context) == data
    assert sealed_key_id(sealed) == A.current_id


def test_same_plaintext_gives_different_ciphertexts() -> None:
    assert seal(b"11010519491231002X", A) != seal(b"11010519491231002X", A)


def test_plaintext_does_not_show() -> None:
    assert b"11010519491231002X" not in seal(b"<buyerIdNumber>11010519491231002X</buyerIdNumber>", A)


def test_wrong_key_is_refused_with_a_clear_error() -> None:
    sealed = seal(b"secret", A)
    with pytest.raises(DataKeyError, match=f"key {A.current_id.hex()}.*not configured") as err:
        open_sealed(sealed, B)
    assert "密钥" in str(err.value)  # and in Chinese
    assert "a" * 8 not in str(err.value)  # the keys themselves are never quoted


@pytest.mark.parametrize("position", [0, 1, 5, 17, -1, -17])
def test_any_changed_byte_is_detected(position: int) -> None:
    sealed = bytearray(seal(b"<buyerIdNumber>11010519491231002X</buyerIdNumber>", A, b"inbox.raw"))
    sealed[position] ^= 0x01
    with pytest.raises(DataKeyError):  # DataIntegrityError, or an unknown key id if the id byte changed
        open_sealed(bytes(sealed), A, b"inbox.raw")


def test_truncation_and_another_context_are_detected() -> None:
    sealed = seal(b"payload", A, b"inbox.raw")
    with pytest.raises(DataIntegrityError, match="failed authentication"):
        open_sealed(sealed[:-1], A, b"inbox.raw")
    with pytest.raises(DataIntegrityError, match="another name"):
        open_sealed(sealed, A, b"document.payload")
    with pytest.raises(DataIntegrityError, match="not a cbec ciphertext"):
        open_sealed(b"x\x9c" + sealed, A, b"inbox.raw")


def test_rotation_reads_old_writes_new() -> None:
    old = seal(b"written with a", A)
    rotated = Keyring.of([b"b" * 32, b"a" * 32])  # b is current now, a kept for reading
    assert open_sealed(old, rotated) == b"written with a"
    new = seal(b"written with b", rotated)
    assert sealed_key_id(new) == key_id(b"b" * 32) != sealed_key_id(old)
    with pytest.raises(DataKeyError, match="not configured"):
        open_sealed(new, A)  # a process still on the old key list cannot read the new data: it says so


def test_text_fields() -> None:
    token = encrypt_text("张三 13812345678", A, "order.buyerName")
    assert is_encrypted_text(token) and token.isascii() and "1381234" not in token
    assert decrypt_text(token, A, "order.buyerName") == "张三 13812345678"
    with pytest.raises(DataIntegrityError):
        decrypt_text(token, A, "order.consignee")
    with pytest.raises(DataIntegrityError):
        decrypt_text("plain", A)


def test_keyring_repr_and_pickle_hide_nothing_they_should_not() -> None:
    ring = Keyring.of([b"k" * 32, b"o" * 32])
    assert "kkkk" not in repr(ring) and encode_key(b"k" * 32) not in repr(ring)
    assert pickle.loads(pickle.dumps(ring)).keys == ring.keys  # how a worker process receives it


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    k1, k2 = new_key(), new_key()
    monkeypatch.setenv(ENV_KEY, f"{encode_key(k1)}, {encode_key(k2)}")
    ring = load_keyring(tmp_path / "cbec.db")
    assert ring.current == k1 and set(ring.keys.values()) == {k1, k2}
    assert not (tmp_path / "cbec.db.data-key").exists()  # configured keys win; no file is made


def test_key_file_created_once_beside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "cbec.db"
    first = load_keyring(db)
    path = tmp_path / "cbec.db.data-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(db).current == first.current  # stable


def test_key_file_named_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "keys"
    key = new_key()
    path.write_text(f"# comment\n\n{encode_key(key)}  # id {key_id(key).hex()}\n")
    monkeypatch.setenv(ENV_KEY_FILE, str(path))
    assert load_keyring(None).current == key


def test_no_key_for_a_server_database_is_a_clear_error() -> None:
    with pytest.raises(DataKeyError, match=ENV_KEY):
        load_keyring(None)


@pytest.mark.parametrize("text", ["not base64!", base64.b64encode(b"short").decode(), "", "# only a comment"])
def test_malformed_keys_are_refused_without_quoting_them(text: str) -> None:
    with pytest.raises(DataKeyError) as err:
        parse_keys(text, source="test")
    if text.strip() and not text.startswith("#"):
        assert text not in str(err.value)


def test_rotate_key_file(tmp_path: Path) -> None:
    db = tmp_path / "cbec.db"
    before = load_keyring(db)
    path = tmp_path / "cbec.db.data-key"
    old_data = seal(b"old", before)
    new_id = rotate_key_file(path)
    after = load_keyring(db)
    assert after.current_id == new_id != before.current_id
    assert open_sealed(old_data, after) == b"old"  # the old key stays readable
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(DataKeyError):
        rotate_key_file(path, drop=[new_id.hex()])  # never the current key
    rotate_key_file(path, drop=[before.current_id.hex()])
    with pytest.raises(DataKeyError, match="not configured"):
        open_sealed(old_data, load_keyring(db))


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cbec.privacy.__main__ import main

    assert main(["new-key"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 32
    db = tmp_path / "cbec.db"
    old = load_keyring(db).current_id.hex()
    path = tmp_path / "cbec.db.data-key"
    main(["rotate", str(path)])
    new = capsys.readouterr().out.split()[-1]
    main(["ids", str(path)])
    assert capsys.readouterr().out.split() == [new, "(current)", old]


def test_processes_starting_at_once_share_one_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    db = tmp_path / "cbec.db"
    with ThreadPoolExecutor(8) as pool:
        rings = list(pool.map(lambda _: load_keyring(db), range(16)))
    assert len({r.current for r in rings}) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cbec.db.data-key"]  # no temporary files left
