"""Inbox messages may be stored compressed (``inbox.raw_codec``: ``identity`` or ``zlib``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

CEB XML compresses about sevenfold.  Stored as received, the inbox was most of the bytes written per parcel
and most of the database; compressed (by the decoding workers, off the writer's path) it is a seventh.  The
bytes given back by the store are always the message exactly as received, and ``sha256`` stays the digest
of those bytes.  Rows written before this revision are ``identity``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CHECK = "raw_codec IN ('identity', 'zlib')"


def _column() -> sa.Column[str]:
    return sa.Column("raw_codec", sa.String(8), nullable=False, server_default=sa.text("'identity'"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # SQLite adds a CHECK only by recreating the table
        with op.batch_alter_table("inbox") as batch:
            batch.add_column(_column())
            batch.create_check_constraint(op.f("ck_inbox_raw_codec"), CHECK)
    else:
        op.add_column("inbox", _column())
        op.create_check_constraint(op.f("ck_inbox_raw_codec"), "inbox", CHECK)


def downgrade() -> None:
    import zlib

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, raw FROM inbox WHERE raw_codec = 'zlib'")).all()
    for id_, raw in rows:
        conn.execute(
            sa.text("UPDATE inbox SET raw = :raw WHERE id = :id"), {"raw": zlib.decompress(raw), "id": id_}
        )
    if conn.dialect.name == "sqlite":
        with op.batch_alter_table("inbox") as batch:
            batch.drop_constraint(op.f("ck_inbox_raw_codec"), type_="check")
            batch.drop_column("raw_codec")
    else:
        op.drop_constraint(op.f("ck_inbox_raw_codec"), "inbox", type_="check")
        op.drop_column("inbox", "raw_codec")
