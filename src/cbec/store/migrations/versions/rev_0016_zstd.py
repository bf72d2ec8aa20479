"""Inbox messages and receipts compressed with Zstandard (inbox ``raw_codec`` ``zstd-gcm``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25

Clearance compresses every message it takes in and every receipt it writes; Zstandard at level 1 does it
in a third of zlib's CPU time and leaves a fifth fewer bytes (figures in :mod:`cbec.store.compression`).
Upgrading only widens the inbox's ``raw_codec`` check to admit ``zstd-gcm``: rows already stored keep
their form (``zlib-gcm``, ``zlib``, ``identity``) and stay readable, and receipts tell their own form by
their first bytes (:mod:`cbec.store.packed_xml`).

Downgrade: the code before this revision reads neither form, so every ``zstd-gcm`` message is opened with
the data key and sealed again around zlib, and every Zstandard receipt is compressed again with zlib, page
by page; then the check is narrowed back.  As revisions 0008 and 0015 do, it calls cbec's own code for data
only (the data key, the codecs).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cbec.store.migrations.versions.rev_0008_privacy import _set_codec_check

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_CHECK = "raw_codec IN ('identity', 'zlib', 'zlib-gcm')"
NEW_CHECK = "raw_codec IN ('identity', 'zlib', 'zlib-gcm', 'zstd-gcm')"
_PAGE = 1000
_CONTEXT = b"inbox.raw"  # cbec.store.inbox.SEAL_CONTEXT, as revision 0008 writes it


def upgrade() -> None:
    _set_codec_check(OLD_CHECK, NEW_CHECK)


def downgrade() -> None:
    from cbec.privacy.crypto import open_sealed, seal
    from cbec.store import compression
    from cbec.store.data_key import keyring_for

    conn = op.get_bind()
    keys = None
    last = 0
    while rows := conn.execute(
        sa.text("SELECT id, raw FROM inbox WHERE raw_codec = 'zstd-gcm' AND id > :last ORDER BY id LIMIT :n"),
        {"last": last, "n": _PAGE},
    ).all():
        keys = keys or keyring_for(conn)
        for id_, raw in rows:
            plain = compression.decompress(open_sealed(bytes(raw), keys, _CONTEXT))
            conn.execute(
                sa.text("UPDATE inbox SET raw = :raw, raw_codec = 'zlib-gcm' WHERE id = :id"),
                {"raw": seal(zlib.compress(plain, 1), keys, _CONTEXT), "id": id_},
            )
        last = rows[-1][0]
    last = 0
    while rows := conn.execute(
        sa.text("SELECT id, xml FROM receipt WHERE id > :last ORDER BY id LIMIT :n"),
        {"last": last, "n": _PAGE},
    ).all():
        for id_, xml in rows:
            if compression.is_frame(bytes(xml)):
                conn.execute(
                    sa.text("UPDATE receipt SET xml = :xml WHERE id = :id"),
                    {"xml": zlib.compress(compression.decompress(bytes(xml)), 1), "id": id_},
                )
        last = rows[-1][0]
    _set_codec_check(NEW_CHECK, OLD_CHECK)
