"""Personal data: inbox messages encrypted at rest (``raw_codec`` ``zlib-gcm``), audit of unmasked reads.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24

* ``inbox.raw_codec`` may be ``zlib-gcm``: the message compressed, then AES-256-GCM with the data key, which
  lives outside the database (``cbec.privacy.keys``).  Rows already stored stay as they are and readable;
  new ones are written encrypted.  To encrypt old rows too, run ``cbec.store.data_key.reencrypt``.
* ``pii_access``: every read of personal data in clear — who, role, when, which document and fields, why.

Downgrading decrypts the encrypted messages back to ``zlib`` (the data key must be configured) before the
codec is narrowed again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_CHECK = "raw_codec IN ('identity', 'zlib')"
NEW_CHECK = "raw_codec IN ('identity', 'zlib', 'zlib-gcm')"


def _set_codec_check(old: str, new: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_inbox_raw_codec"), "inbox", type_="check")
        op.create_check_constraint(op.f("ck_inbox_raw_codec"), "inbox", new)
        return
    # SQLite changes a CHECK only by recreating the table, and recreating ``inbox`` fails once documents
    # refer to it (DROP TABLE deletes its rows first, and foreign keys are on; they cannot be turned off
    # inside the migration's transaction).  So the table's definition is edited in place, as SQLite
    # documents for loosening or removing a CHECK ("Making Other Kinds Of Table Schema Changes"); the stored
    # rows are untouched and satisfy both checks.
    where = "WHERE type = 'table' AND name = 'inbox'"
    sql = conn.exec_driver_sql(f"SELECT sql FROM sqlite_master {where}").scalar()
    if not isinstance(sql, str) or sql.count(old) != 1:
        raise RuntimeError(f"inbox: expected the constraint {old!r} in {sql!r}")
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(f"UPDATE sqlite_master SET sql = ? {where}", (sql.replace(old, new),))
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version or 0) + 1}")  # other connections re-read it
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _set_codec_check(OLD_CHECK, NEW_CHECK)
    op.create_table(
        "pii_access",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("accessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("document_kind", sa.String(16), nullable=True),
        sa.Column("document_ref", sa.String(200), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pii_access"),
    )
    op.create_index("ix_pii_access_document_ref", "pii_access", ["document_ref"])
    op.create_index("ix_pii_access_actor_accessed_at", "pii_access", ["actor", "accessed_at"])
    op.create_index("ix_pii_access_accessed_at", "pii_access", ["accessed_at"])


def downgrade() -> None:
    op.drop_index("ix_pii_access_accessed_at", table_name="pii_access")
    op.drop_index("ix_pii_access_actor_accessed_at", table_name="pii_access")
    op.drop_index("ix_pii_access_document_ref", table_name="pii_access")
    op.drop_table("pii_access")
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, raw FROM inbox WHERE raw_codec = 'zlib-gcm'")).all()
    if rows:
        from cbec.privacy.crypto import open_sealed  # the key is configuration, read as the store reads it
        from cbec.store.data_key import keyring_for

        keys = keyring_for(conn)
        for id_, raw in rows:
            conn.execute(
                sa.text("UPDATE inbox SET raw = :raw, raw_codec = 'zlib' WHERE id = :id"),
                {"raw": open_sealed(raw, keys, b"inbox.raw"), "id": id_},
            )
    _set_codec_check(NEW_CHECK, OLD_CHECK)
