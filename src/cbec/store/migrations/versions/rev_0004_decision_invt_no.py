"""An index on the list number customs assigned (``decision.invt_no``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Cancellations, returns and officers name a list by its ``invtNo``; without an index every such lookup read
the whole decision log.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_decision_invt_no", "decision", ["invt_no"])


def downgrade() -> None:
    op.drop_index("ix_decision_invt_no", table_name="decision")
