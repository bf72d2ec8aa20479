"""The quota ledger loses its ``(buyer_key, year)`` index.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25

``quota_movement`` is read by its unique ``(list_key, kind)`` key (a cancelled or returned list gives back
what its acceptance counted) and by id (the movements a clearing transaction has just added); the running
totals per buyer-year live in ``quota``.  No query of cbec reads the movements by buyer, yet the index on
``(buyer_key, year)`` took every new movement into a B-tree ordered by a random 64-hex-digit hash: 79 MB at
a million parcels, most of whose pages each clearing commit dirtied, wrote to the WAL and checkpointed.
Recreate it (the downgrade does) if a view of one buyer's movements is ever built.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_quota_movement_buyer_key_year"


def upgrade() -> None:
    op.drop_index(INDEX, table_name="quota_movement")


def downgrade() -> None:
    op.create_index(INDEX, "quota_movement", ["buyer_key", "year"])
