"""The buyer key is a keyed hash: stable for one secret, unrelated across secrets, never the number."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import polars as pl
import pytest

from cbec.engine.buyer_key import ENV_FILE, ENV_SECRET, buyer_keys, load_secret

IDS = pl.Series("buyerIdNumber", ["11010519491231002x", None, "11010519491231002X", "440524188001010014"])


def test_keys_are_hmac_of_the_upper_cased_number() -> None:
    keys = buyer_keys(IDS, b"s" * 32)
    expected = hmac.new(b"s" * 32, b"11010519491231002X", hashlib.sha256).hexdigest()
    assert keys.to_list()[0] == keys.to_list()[2] == expected
    assert keys.to_list()[1] is None
    assert keys.name == "buyerIdNumber" and len(keys) == len(IDS)


def test_another_secret_gives_unrelated_keys_and_plain_sha256_is_not_used() -> None:
    a, b = buyer_keys(IDS, b"a" * 32), buyer_keys(IDS, b"b" * 32)
    assert a[0] != b[0]
    assert a[0] != hashlib.sha256(b"11010519491231002X").hexdigest()


def test_secret_file_created_once_beside_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_SECRET, raising=False)
    monkeypatch.delenv(ENV_FILE, raising=False)
    db = tmp_path / "cbec.db"
    first = load_secret(db)
    path = tmp_path / "cbec.db.buyer-key"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(db) == first  # stable: the quotas keep their names
    monkeypatch.setenv(ENV_SECRET, "from-the-environment-0123456789")
    assert load_secret(db) == b"from-the-environment-0123456789"


def test_no_secret_for_a_server_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SECRET, raising=False)
    monkeypatch.delenv(ENV_FILE, raising=False)
    with pytest.raises(RuntimeError, match=ENV_SECRET):
        load_secret(None)
