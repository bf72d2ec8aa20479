"""Roles of a filing, API keys (format, 401 reasons) and what a decision looks like as JSON."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _rights_testlib import NOW

from cbec.rights import NO_CREDENTIAL, FilingError, Role, StoredKey, check_api_key, key_prefix, new_api_key
from cbec.rights.credentials import hash_api_key
from cbec.rights.roles import check_roles, parse_role


def test_parse_role_by_value_name_or_chinese() -> None:
    assert parse_role("ebp") is Role.PLATFORM
    assert parse_role("e-commerce enterprise") is Role.ECOMMERCE
    assert parse_role("declaring-agent") is Role.AGENT
    assert parse_role("监管场所经营人") is Role.OPERATOR
    assert parse_role("OFFICER") is Role.OFFICER
    with pytest.raises(FilingError, match="unknown role"):
        parse_role("customs broker")


@pytest.mark.parametrize(
    ("roles", "district", "ok"),
    [
        ({Role.PLATFORM, Role.ECOMMERCE}, None, True),
        ({Role.OFFICER}, "2200", True),
        ({Role.OFFICER, Role.ADMIN}, "2244", True),
        ({Role.ADMIN}, None, True),
        (set(), None, False),
        ({Role.OFFICER}, None, False),
        ({Role.OFFICER}, "22", False),
        ({Role.OFFICER, Role.AGENT}, "2200", False),
        ({Role.ADMIN, Role.PAYMENT}, None, False),
        ({Role.LOGISTICS}, "2200", False),
    ],
)
def test_role_combinations(roles: set[Role], district: str | None, ok: bool) -> None:
    if ok:
        assert check_roles(roles, district) == roles
    else:
        with pytest.raises(FilingError) as exc:
            check_roles(roles, district)
        assert exc.value.zh and exc.value.en


def test_new_keys_are_unique_and_well_formed() -> None:
    keys = [new_api_key() for _ in range(50)]
    assert len({k.key for k in keys}) == 50
    for k in keys:
        assert key_prefix(k.key) == k.prefix and len(k.prefix) == 10
        assert k.key_hash == hash_api_key(k.key) and k.key not in k.key_hash
        assert check_api_key(k.key, StoredKey(k.prefix, k.key_hash), NOW).allowed


def test_key_refusals_are_401_with_reasons() -> None:
    k = new_api_key()

    def code(presented: str, stored: StoredKey | None) -> tuple[int, str]:
        d = check_api_key(presented, stored, NOW)
        assert d.allowed or (d.reason_zh and d.reason_en and k.key[-20:] not in d.reason)
        return d.status, d.code

    stored = StoredKey(k.prefix, k.key_hash)
    assert code("Bearer nonsense", stored) == (401, "key-malformed")
    assert code(k.key, None) == (401, "key-unknown")
    wrong_secret = k.key[:-4] + ("AAAA" if not k.key.endswith("AAAA") else "BBBB")
    assert code(wrong_secret, stored) == (401, "key-unknown")
    assert code(k.key, StoredKey(k.prefix, k.key_hash, revoked_at=NOW)) == (401, "key-revoked")
    assert code(k.key, StoredKey(k.prefix, k.key_hash, expires_at=NOW)) == (401, "key-expired")
    soon = NOW + timedelta(seconds=1)
    later = StoredKey(k.prefix, k.key_hash, expires_at=soon, revoked_at=soon)
    assert code(k.key, later) == (200, "ok")
    assert (NO_CREDENTIAL.status, NO_CREDENTIAL.code) == (401, "no-credential")


def test_decision_json() -> None:
    assert NO_CREDENTIAL.to_json() == {
        "allowed": False,
        "status": 401,
        "code": "no-credential",
        "field": None,
        "document": None,
        "reason_zh": NO_CREDENTIAL.reason_zh,
        "reason_en": NO_CREDENTIAL.reason_en,
    }
    assert " / " in NO_CREDENTIAL.reason
