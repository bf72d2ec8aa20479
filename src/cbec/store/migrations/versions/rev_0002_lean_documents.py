"""Documents keep their keys and status only; the payload becomes optional; a partial index for waiting ones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Every document already traces back to the raw message it came in (``inbox_id``), which is the record and
what replay and the waiting sets are rebuilt from.  Storing each document again as JSON doubled the bytes
written per parcel for nothing a reader needed, so the clearance engine stops writing it; the column stays
for callers that want to keep a decoded copy.

The index on ``(kind, status)`` served one question, "which documents are still waiting?", yet every insert
and status change paid for it.  A partial index over waiting documents only answers that question and
stays small, since almost every document is decided in the batch it arrives in.  The index on ``inbox_id``
answered no query (documents are found by kind and guid or business key; the inbox row by its own key) and
is dropped for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("document") as batch:
        batch.alter_column("payload", existing_type=sa.Text(), nullable=True)
    op.drop_index("ix_document_kind_status", table_name="document")
    op.drop_index("ix_document_inbox_id", table_name="document")
    op.create_index(
        "ix_document_waiting",
        "document",
        ["kind", "id"],
        sqlite_where=sa.text("status = 2"),
        postgresql_where=sa.text("status = 2"),
    )


def downgrade() -> None:
    op.drop_index("ix_document_waiting", table_name="document")
    op.create_index("ix_document_kind_status", "document", ["kind", "status"])
    op.create_index("ix_document_inbox_id", "document", ["inbox_id"])
    op.execute("UPDATE document SET payload = '{}' WHERE payload IS NULL")
    with op.batch_alter_table("document") as batch:
        batch.alter_column("payload", existing_type=sa.Text(), nullable=False)
