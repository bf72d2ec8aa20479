"""API keys: their format, how they are stored, and when one is no good (401).

A key looks like ``cbec_<prefix>_<secret>``.  The prefix (10 hex characters) is public: it is stored in
clear, shown in key listings and logs, and used to find the key's row.  The secret (43 URL-safe
characters, 256 random bits) is shown once, when the key is issued; only the SHA-256 of the whole key is
stored.  A fast hash is enough because the secret is random and long, not a password a person chose:
there is nothing to guess, and a slow hash would cost every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from cbec.rights.decision import ALLOWED, Decision, unauthenticated

__all__ = [
    "NO_CREDENTIAL",
    "IssuedKey",
    "StoredKey",
    "check_api_key",
    "hash_api_key",
    "key_prefix",
    "new_api_key",
]

KEY_SCHEME = "cbec"
PREFIX_LENGTH = 10
_KEY_RE = re.compile(rf"^{KEY_SCHEME}_([0-9a-f]{{{PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly made key: ``key`` goes to the user once and is never stored."""

    prefix: str
    key: str
    key_hash: str


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What the store keeps of a key."""

    prefix: str
    key_hash: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


NO_CREDENTIAL = unauthenticated(
    "no-credential",
    "缺少凭证：请在请求中提供 API 密钥",
    "no credential: send an API key with the request",
)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> IssuedKey:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    return IssuedKey(prefix=prefix, key=key, key_hash=hash_api_key(key))


def key_prefix(presented: str) -> str | None:
    """The public prefix of a well-formed key, None when the text is not shaped like one of ours."""
    m = _KEY_RE.match(presented.strip())
    return m.group(1) if m else None


def check_api_key(presented: str, stored: StoredKey | None, at: datetime) -> Decision:
    """Allowed, or 401 saying why: malformed, unknown (or wrong secret), revoked, expired.

    A wrong secret for a known prefix is reported as unknown, so that the answer does not confirm that
    a prefix exists.  The hashes are compared in constant time.
    """
    if key_prefix(presented) is None:
        return unauthenticated(
            "key-malformed",
            "API 密钥格式错误（应为 cbec_<前缀>_<密钥>）",
            "malformed API key (expected cbec_<prefix>_<secret>)",
        )
    if stored is None or not hmac.compare_digest(stored.key_hash, hash_api_key(presented.strip())):
        return unauthenticated("key-unknown", "API 密钥无效", "unknown API key")
    if stored.revoked_at is not None and stored.revoked_at <= at:
        return unauthenticated(
            "key-revoked",
            f"API 密钥 {stored.prefix} 已于 {stored.revoked_at.isoformat()} 吊销",
            f"API key {stored.prefix} was revoked at {stored.revoked_at.isoformat()}",
        )
    if stored.expires_at is not None and stored.expires_at <= at:
        return unauthenticated(
            "key-expired",
            f"API 密钥 {stored.prefix} 已于 {stored.expires_at.isoformat()} 过期",
            f"API key {stored.prefix} expired at {stored.expires_at.isoformat()}",
        )
    return ALLOWED
