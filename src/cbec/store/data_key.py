"""The data key of a store: which keyring encrypts this database's personal data, and re-encryption.

The keyring is configuration, not data (``cbec.privacy.keys``): ``$CBEC_DATA_KEY``, ``$CBEC_DATA_KEY_FILE``,
or ``<database>.data-key`` beside a SQLite file.  It is loaded once per database URL and process and kept
here, so repositories can decrypt with only a connection in hand; a process picks up a rotated key file when
it starts (or after :func:`forget`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from cbec.privacy.crypto import sealed_key_id
from cbec.privacy.keys import Keyring, load_keyring, new_key
from cbec.store.db import sqlite_file
from cbec.store.schema import inbox

_lock = threading.Lock()
_keyrings: dict[str, Keyring] = {}


def _name(bind: Engine | Connection) -> str:
    return bind.engine.url.render_as_string(hide_password=True)


def keyring_for(bind: Engine | Connection) -> Keyring:
    """The keyring of this database (loaded on first use; an in-memory SQLite database gets one for the life
    of the process, like the database itself)."""
    name = _name(bind)
    with _lock:
        keys = _keyrings.get(name)
        if keys is None:
            url = bind.engine.url
            file = sqlite_file(url) if url.get_backend_name() == "sqlite" else None
            if url.get_backend_name() == "sqlite" and file is None:
                keys = Keyring.of([new_key()])
            else:
                keys = load_keyring(file)
            _keyrings[name] = keys
        return keys


def use_keyring(bind: Engine | Connection, keys: Keyring) -> None:
    """Use these keys for this database in this process (tests; a service holding its keys elsewhere)."""
    with _lock:
        _keyrings[_name(bind)] = keys


def forget(bind: Engine | Connection | None = None) -> None:
    """Load the keyring again on next use (after a rotation); ``None``: every database."""
    with _lock:
        if bind is None:
            _keyrings.clear()
        else:
            _keyrings.pop(_name(bind), None)


@dataclass(frozen=True, slots=True)
class Reencrypted:
    examined: int
    rewritten: int


def reencrypt(engine: Engine, *, page_size: int = 500) -> Reencrypted:
    """Encrypt with the current key every inbox message that is not: stored before encryption existed
    (``identity``, ``zlib``) or under an old key.  Page by page, one transaction per page, so it can run
    beside clearance and be stopped and resumed.  Afterwards old keys can be dropped from the key list."""
    from cbec.store.inbox import SEALED, SEALED_CODECS, reseal, seal_stored  # inbox imports this module

    keys = keyring_for(engine)
    last, examined, rewritten = 0, 0, 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(inbox.c.id, inbox.c.raw, inbox.c.raw_codec)
                .where(inbox.c.id > last)
                .order_by(inbox.c.id)
                .limit(page_size)
            ).all()
            if not rows:
                return Reencrypted(examined, rewritten)
            for id_, raw, codec in rows:
                if codec not in SEALED_CODECS:
                    values = {"raw": seal_stored(raw, codec, keys), "raw_codec": SEALED}
                elif sealed_key_id(raw) != keys.current_id:
                    values = {"raw": reseal(raw, keys)}
                else:
                    continue
                conn.execute(update(inbox).where(inbox.c.id == id_).values(values))
                rewritten += 1
            examined += len(rows)
            last = rows[-1][0]
