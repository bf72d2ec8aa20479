"""The data key: the AES-256 key that encrypts personal data at rest, and the older keys still needed to read.

Whoever copies the database (a backup, a stolen disk, a DBA's dump) must not read buyers' ID numbers, names
and phones, so the key lives outside the database and is read, in order, from:

1. ``$CBEC_DATA_KEY``: base64 of 32 random bytes, or several separated by commas or white space;
2. ``$CBEC_DATA_KEY_FILE``: a file holding one base64 key per line (``#`` comments and blank lines allowed);
3. for a SQLite file, ``<database>.data-key`` beside it, created on first use with one new key, mode 0600.
   An in-memory database gets a key for the life of the process.

The **first** key is the current one: every new ciphertext is written with it.  The others are kept only to
read what they once wrote, which is how a key is rotated (:func:`rotate_key_file`): put a new key first,
keep the old ones below it until nothing is encrypted with them any more.  Each ciphertext carries the id of
its key (:func:`key_id`, derived from the key itself), so no bookkeeping says which row used which key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_KEY = "CBEC_DATA_KEY"
ENV_KEY_FILE = "CBEC_DATA_KEY_FILE"
KEY_FILE_SUFFIX = ".data-key"
KEY_BYTES = 32  # AES-256
KEY_ID_BYTES = 4


class DataKeyError(RuntimeError):
    """The data key is missing, malformed, or not the one the data was encrypted with."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def key_id(key: bytes) -> bytes:
    """A short name for a key, stored with each ciphertext: a hash of the key, so it reveals nothing."""
    return hashlib.sha256(b"cbec data key id\x00" + key).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current key and every key still readable, by key id.

    The keys never appear in ``repr`` (a keyring may end up in a traceback or a log line); a keyring may be
    pickled to hand it to a spawned worker process, which is the one way it leaves this process.
    """

    current_id: bytes
    keys: Mapping[bytes, bytes]

    @classmethod
    def of(cls, keys: Iterable[bytes]) -> Keyring:
        """A keyring from raw keys, the first being the current one."""
        listed = list(keys)
        if not listed:
            raise DataKeyError("no data key given / 未提供数据密钥")
        for key in listed:
            if len(key) != KEY_BYTES:
                raise DataKeyError(
                    f"a data key must be {KEY_BYTES} bytes (AES-256), not {len(key)} / "
                    f"数据密钥长度必须为 {KEY_BYTES} 字节（AES-256），实际为 {len(key)}"
                )
        return cls(key_id(listed[0]), {key_id(k): k for k in listed})

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def get(self, kid: bytes) -> bytes:
        key = self.keys.get(kid)
        if key is None:
            raise DataKeyError(
                f"the data was encrypted with key {kid.hex()}, which is not configured (configured: "
                f"{', '.join(k.hex() for k in self.keys)}); set {ENV_KEY} or {ENV_KEY_FILE} to a key list "
                f"that still holds it / 数据由密钥 {kid.hex()} 加密，但当前配置中没有该密钥；"
                f"请在 {ENV_KEY} 或 {ENV_KEY_FILE} 中保留该旧密钥"
            )
        return key

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id.hex()}, ids=[{', '.join(k.hex() for k in self.keys)}])"


_SEPARATORS = re.compile(r"[\s,]+")


def parse_keys(text: str, *, source: str) -> Keyring:
    """Keys from text: base64 keys separated by commas, white space or lines; ``#`` starts a comment."""
    words: list[str] = []
    for line in text.splitlines():
        words += [w for w in _SEPARATORS.split(line.split("#", 1)[0]) if w]
    keys = []
    for word in words:
        try:
            keys.append(base64.b64decode(word, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise DataKeyError(
                f"{source}: not a base64 key / 不是 base64 编码的密钥"
            ) from exc  # the text itself is not quoted: it may be a key
    if not keys:
        raise DataKeyError(f"{source}: no key found / 未找到密钥")
    try:
        return Keyring.of(keys)
    except DataKeyError as exc:
        raise DataKeyError(f"{source}: {exc}") from None


def key_file_beside(database_file: Path) -> Path:
    return database_file.with_name(database_file.name + KEY_FILE_SUFFIX)


def load_keyring(database_file: Path | None) -> Keyring:
    """The configured keyring (see the module docstring); a key file is created beside a SQLite file."""
    value = os.environ.get(ENV_KEY)
    if value:
        return parse_keys(value, source=f"${ENV_KEY}")
    named = os.environ.get(ENV_KEY_FILE)
    path: Path | None = Path(named) if named else None
    if path is None and database_file is not None:
        path = key_file_beside(database_file)
        if not path.exists():
            _create_key_file(path, [new_key()])
    if path is None:
        raise DataKeyError(
            f"no data key: set {ENV_KEY} or {ENV_KEY_FILE} (needed for a database that is not a SQLite "
            f"file) / 未配置数据加密密钥：请设置 {ENV_KEY} 或 {ENV_KEY_FILE}"
        )
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataKeyError(f"{path}: cannot read the data key ({exc.strerror}) / 无法读取数据密钥") from None
    return parse_keys(text, source=str(path))


def _create_key_file(path: Path, keys: list[bytes]) -> None:
    """Write a key file readable by its owner only; never overwrite one (that would lose the data).

    Written whole under a private name, then linked into place: two processes starting on a new database
    at once both end up with the one key that won, and neither ever reads a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(_key_file_text(keys))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use that one
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _key_file_text(keys: list[bytes]) -> str:
    head = (
        "# cbec data keys (AES-256, base64): the first encrypts, the others only decrypt.\n"
        "# Keep this file as long as the database, back it up apart from it. / 数据密钥：首行用于加密。\n"
    )
    return head + "".join(f"{encode_key(k)}  # id {key_id(k).hex()}\n" for k in keys)


def rotate_key_file(path: Path, *, drop: Iterable[str] = ()) -> bytes:
    """Put a new key first in a key file (the old ones stay, for reading); return the new key's id.

    ``drop`` names key ids (hex) to remove: only once nothing is encrypted with them any more (see
    ``cbec.store.data_key.reencrypt``).  The file is replaced atomically and stays mode 0600.
    """
    old = parse_keys(path.read_text(), source=str(path))
    gone = {bytes.fromhex(k) for k in drop}
    if old.current_id in gone:
        raise DataKeyError("rotate first, then drop the old key / 请先轮换再删除旧密钥")
    ordered = [old.current] + [k for kid, k in old.keys.items() if kid != old.current_id]
    key = new_key()
    keys = [key] + [k for k in ordered if key_id(k) not in gone]
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    _create_key_file(tmp, keys)
    os.replace(tmp, path)
    return key_id(key)
