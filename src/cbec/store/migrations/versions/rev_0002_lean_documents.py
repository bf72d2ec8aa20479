"""Documents keep their keys and status only; the payload becomes optional.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Every document already traces back to the raw message it came in (``inbox_id``), which is the record and
what replay and the waiting sets are rebuilt from.  Storing each document again as JSON doubled the bytes
written per parcel for nothing a reader needed, so the clearance engine stops writing it; the column stays
for callers that want to keep a decoded copy.
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


def downgrade() -> None:
    op.execute("UPDATE document SET payload = '{}' WHERE payload IS NULL")
    with op.batch_alter_table("document") as batch:
        batch.alter_column("payload", existing_type=sa.Text(), nullable=False)
