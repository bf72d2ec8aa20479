"""A short-lived cache of resolved API keys and the sender's certificates.

Resolving a key reads the filing, its codes and the grants it received (several queries); the signature
check reads the sender's certificates.  Every message of a busy sender would repeat them, so both are kept
for a few seconds.  The price: a revoked key, grant or certificate still works for at most that long in a
process that saw it recently (``ServiceSettings.credential_cache_seconds``; 0 turns the cache off).

Each entry lives a random share of that time, between half and all of it.  Senders that start together (every
connection of a load, or of a restart) would otherwise all expire in the same instant and be looked up again
at once, every period: in ``bench/api`` that was a burst of about 60 ms of queries per process every 10 s,
and a visible cluster of slow acknowledgements.  The bound on staleness is unchanged.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass

from cbec.rights import Principal
from cbec.store.enterprises import CertificateRecord


@dataclass(frozen=True, slots=True)
class Resolved:
    principal: Principal
    certificates: tuple[CertificateRecord, ...]


class CredentialCache:
    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Resolved]] = {}

    @staticmethod
    def _name(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()  # the key itself is never kept in memory here

    def get(self, key: str) -> Resolved | None:
        if self.seconds <= 0:
            return None
        name = self._name(key)
        with self._lock:
            found = self._items.get(name)
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self._items[name]
                return None
            return found[1]

    def put(self, key: str, value: Resolved) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._items) >= self.max_entries:
                self._items.clear()
            lifetime = self.seconds * (0.5 + 0.5 * random.random())
            self._items[self._name(key)] = (time.monotonic() + lifetime, value)
