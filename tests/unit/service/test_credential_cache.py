"""The credential cache: entries expire within the configured time, and not all in the same instant."""

from __future__ import annotations

import time

import pytest

from cbec.rights import Principal
from cbec.service.credential_cache import CredentialCache, Resolved


def _resolved(name: str) -> Resolved:
    return Resolved(Principal(name=name, roles=frozenset(), codes=frozenset()), ())


def test_lifetimes_are_spread_between_half_and_all_of_the_period(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = CredentialCache(10.0)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    for i in range(200):
        cache.put(f"key-{i}", _resolved(f"p{i}"))
    expiries = sorted(expiry - 1000.0 for expiry, _value in cache._items.values())
    assert expiries[0] >= 5.0 and expiries[-1] <= 10.0
    assert expiries[-1] - expiries[0] > 3.0  # spread, not one instant
    now[0] = 1004.9
    assert all(cache.get(f"key-{i}") is not None for i in range(200))
    now[0] = 1010.01
    assert all(cache.get(f"key-{i}") is None for i in range(200))


def test_zero_seconds_keeps_nothing() -> None:
    cache = CredentialCache(0)
    cache.put("k", _resolved("p"))
    assert cache.get("k") is None
