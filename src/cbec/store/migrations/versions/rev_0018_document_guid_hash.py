"""Documents are found by guid through a 60-bit number (``document.guid_hash``), not a unique text key.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25

Guids are random UUIDs.  The unique ``(kind, guid)`` key kept them in a B-tree of text, where each new
document lands at a random place: at a million parcels that index was 220 MB, and every clearing commit
dirtied most of its pages, wrote them to the WAL and copied them back at the checkpoint.  The guid now has
an index number (``cbec.store.guid_hash``: digits of the UUID, or BLAKE2b for other text) under a plain
index a quarter of the size; readers compare the guid text as well, so numbers that collide cost a row read,
never a wrong answer.

What the unique key did is done elsewhere: the same document delivered again carries the same business
key, which stays unique (``(kind, business_key)``); the row path (``insert_documents``) looks guids up before
it inserts, under the write lock, and still reports a guid reused with another key as a conflict.

Back-fill: the number of every stored document, page by page, computed by ``cbec.store.guid_hash`` (data,
not a table definition: the number must be the one the store computes).  The downgrade restores the unique
key, which fails if two documents of a kind now share a guid.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Documents back-filled per page.
PAGE = 20_000
INDEX = "ix_document_guid_hash"
UNIQUE = "uq_document_kind_guid"


def _backfill() -> None:
    from cbec.store.guid_hash import guid_hash

    conn = op.get_bind()
    page = sa.text("SELECT id, guid FROM document WHERE id > :last ORDER BY id LIMIT :n")
    fill = sa.text("UPDATE document SET guid_hash = :h WHERE id = :id")
    last = 0
    while True:
        rows = conn.execute(page, {"last": last, "n": PAGE}).all()
        if not rows:
            return
        last = int(rows[-1].id)
        conn.execute(fill, [{"id": int(r.id), "h": guid_hash(r.guid)} for r in rows])


def upgrade() -> None:
    op.add_column("document", sa.Column("guid_hash", sa.BigInteger(), nullable=True))
    _backfill()
    with op.batch_alter_table("document") as batch:
        batch.alter_column("guid_hash", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_constraint(UNIQUE, type_="unique")
    op.create_index(INDEX, "document", ["guid_hash"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="document")
    with op.batch_alter_table("document") as batch:
        batch.create_unique_constraint(UNIQUE, ["kind", "guid"])
        batch.drop_column("guid_hash")
