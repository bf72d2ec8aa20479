"""AES-256-GCM encryption of blobs and text fields, each ciphertext naming the key that wrote it.

GCM both hides and authenticates: a ciphertext changed by one bit, moved to another column or decrypted
with another key fails loudly instead of giving back wrong data.  Layout of a sealed blob::

    version (1 byte, 0x01) | key id (4 bytes) | nonce (12 random bytes) | ciphertext | tag (16 bytes)

The header is authenticated too (it is part of the associated data), and so is a *context* string the
caller chooses (e.g. ``b"inbox.raw"``): a ciphertext copied into another place does not decrypt there.

Random 96-bit nonces are safe for about 2^32 encryptions under one key (NIST SP 800-38D); at tens of
millions of messages a day that is still years, and rotating the key yearly keeps far below it.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cbec.privacy.keys import KEY_ID_BYTES, DataKeyError, Keyring

VERSION = 1
NONCE_BYTES = 12
HEADER_BYTES = 1 + KEY_ID_BYTES
OVERHEAD = HEADER_BYTES + NONCE_BYTES + 16
TEXT_PREFIX = "enc1:"


class DataIntegrityError(DataKeyError):
    """A ciphertext that does not authenticate: tampered with, truncated, or moved from another place."""


def seal(data: bytes, keys: Keyring, context: bytes = b"") -> bytes:
    """``data`` encrypted with the current key (layout in the module docstring)."""
    header = bytes([VERSION]) + keys.current_id
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + AESGCM(keys.current).encrypt(nonce, data, header + context)


def open_sealed(blob: bytes, keys: Keyring, context: bytes = b"") -> bytes:
    """The plaintext of :func:`seal`; refuses an unknown key, a wrong context or any change to the bytes."""
    blob = bytes(blob)
    if len(blob) < OVERHEAD or blob[0] != VERSION:
        raise DataIntegrityError(
            "not a cbec ciphertext (wrong version or too short) / 不是有效的密文（版本不符或长度不足）"
        )
    header, nonce, body = (
        blob[:HEADER_BYTES],
        blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES],
        blob[HEADER_BYTES + NONCE_BYTES :],
    )
    key = keys.get(header[1:])
    try:
        return AESGCM(key).decrypt(nonce, body, header + context)
    except InvalidTag:
        raise DataIntegrityError(
            f"ciphertext (key {header[1:].hex()}) failed authentication: altered, truncated or stored "
            f"under another name ({context.decode(errors='replace') or 'no context'}) / "
            "密文校验失败：数据被篡改、截断或挪用"
        ) from None


def sealed_key_id(blob: bytes) -> bytes:
    """The id of the key a sealed blob was written with (to find rows still under an old key)."""
    return bytes(blob[1:HEADER_BYTES])


def encrypt_text(value: str, keys: Keyring, context: str = "") -> str:
    """A text field encrypted, as ASCII (``enc1:`` + base64url) that fits a text column."""
    sealed = seal(value.encode("utf-8"), keys, context.encode("utf-8"))
    return TEXT_PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")


def decrypt_text(value: str, keys: Keyring, context: str = "") -> str:
    """The text of :func:`encrypt_text`."""
    if not is_encrypted_text(value):
        raise DataIntegrityError("not an encrypted field / 不是加密字段")
    body = value[len(TEXT_PREFIX) :]
    sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return open_sealed(sealed, keys, context.encode("utf-8")).decode("utf-8")


def is_encrypted_text(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TEXT_PREFIX)
