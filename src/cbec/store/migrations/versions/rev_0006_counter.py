"""Named counters (``counter``), for numbers customs hands out in sequence, such as list numbers (invtNo).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Each clearing process used to count the decisions at start-up and number lists from there, so two processes
clearing at once handed out the same numbers.  A counter row moved forward inside the clearing transaction
cannot be handed out twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counter",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counter"),
    )
    # lists numbered before this revision: carry on after them
    op.execute(
        "INSERT INTO counter (name, value) SELECT 'invt_no', count(*) FROM decision WHERE invt_no IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("counter")
