"""The buyer key: the name under which a buyer's annual quota is kept, never the ID number itself.

A plain hash of a Chinese resident ID number can be reversed by hashing every plausible number (there are
only about 10^11), so the key is an HMAC-SHA-256 with an operator secret kept outside the database: whoever
holds the database alone cannot tell whose quota is whose.  The secret must stay the same for the life of
a deployment (another secret names every buyer anew and the quotas start again from zero), so it is read,
in order, from ``$CBEC_BUYER_KEY_SECRET``, from the file named by ``$CBEC_BUYER_KEY_FILE``, or from a file
created once beside the SQLite database (``<database>.buyer-key``, readable by its owner only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

ENV_SECRET = "CBEC_BUYER_KEY_SECRET"
ENV_FILE = "CBEC_BUYER_KEY_FILE"


def load_secret(database_file: Path | None) -> bytes:
    """The operator secret (see the module docstring); created beside a SQLite file on first use."""
    value = os.environ.get(ENV_SECRET)
    if value:
        return value.encode()
    named = os.environ.get(ENV_FILE)
    path: Path | None = Path(named) if named else None
    if path is None and database_file is not None:
        path = database_file.with_name(database_file.name + ".buyer-key")
    if path is None:
        raise RuntimeError(
            f"no buyer-key secret: set {ENV_SECRET} or {ENV_FILE} (needed for a database that is not a "
            f"SQLite file) / 未配置订购人密钥：请设置 {ENV_SECRET} 或 {ENV_FILE}"
        )
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    secret = path.read_text().strip()
    if len(secret) < 16:
        raise RuntimeError(f"{path}: the buyer-key secret must be at least 16 characters")
    return secret.encode()


def buyer_keys(id_numbers: pl.Series, secret: bytes) -> pl.Series:
    """HMAC-SHA-256 (hex) of each upper-cased ID number; null stays null.

    The HMAC runs once per distinct number (Python at the edge: a batch has far fewer buyers than lines),
    and the keys are joined back as a column.
    """
    distinct = id_numbers.drop_nulls().unique()
    keys = [hmac.new(secret, v.upper().encode(), hashlib.sha256).hexdigest() for v in distinct.to_list()]
    table = pl.DataFrame({"id": distinct, "key": pl.Series(keys, dtype=pl.String)})
    joined = pl.DataFrame({"id": id_numbers}).join(table, on="id", how="left", maintain_order="left")
    return joined["key"].alias(id_numbers.name)


def buyer_key(id_number: str, secret: bytes) -> str:
    """The key of one buyer (the checkout pre-check asks about one at a time)."""
    return hmac.new(secret, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()


def secret_for(engine: Engine) -> bytes:
    """The buyer-key secret for this store: beside a SQLite file, or per process for an in-memory one."""
    from cbec.store.db import sqlite_file

    if engine.url.get_backend_name() == "sqlite":
        file = sqlite_file(engine.url)
        if file is None:  # an in-memory database lives and dies with this process, and so can its secret
            return os.urandom(32).hex().encode()
        return load_secret(file)
    return load_secret(None)
