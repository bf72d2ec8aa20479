"""Aftercare: officers' review and inspection results, cancellation and return applications, returned lines,
tax bill adjustments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

A frozen snapshot like 0001: it does not import cbec.store.schema, and its names follow
``schema.NAMING_CONVENTION``.  Only new tables: nothing of 0001 is altered.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "officer_result",
        _id(),
        sa.Column("list_key", sa.String(200), nullable=False),
        sa.Column("invt_no", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("from_status", sa.Integer(), nullable=False),
        sa.Column("to_status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=True),
        sa.Column("officer", sa.String(64), nullable=False),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        _ts("decided_at"),
        sa.PrimaryKeyConstraint("id", name="pk_officer_result"),
        sa.CheckConstraint("kind IN ('review', 'inspection')", name=op.f("ck_officer_result_kind")),
    )
    op.create_index("ix_officer_result_list_key", "officer_result", ["list_key"])
    op.create_table(
        "application",
        _id(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("guid", sa.String(64), nullable=False),
        sa.Column("invt_no", sa.String(32), nullable=False),
        sa.Column("list_key", sa.String(200), nullable=True),
        sa.Column("cop_no", sa.String(32), nullable=True),
        sa.Column("sender", sa.String(32), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=True),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        sa.Column("quota_fen", sa.BigInteger(), nullable=False),
        sa.Column("tax_fen", sa.BigInteger(), nullable=False),
        _ts("decided_at"),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_application"),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name="fk_application_batch_id_batch"),
        sa.UniqueConstraint("kind", "guid", name="uq_application_kind_guid"),
        sa.CheckConstraint("kind IN ('cancel', 'return')", name=op.f("ck_application_kind")),
    )
    op.create_index("ix_application_list_key", "application", ["list_key"])
    op.create_table(
        "return_line",
        _id(),
        sa.Column("list_key", sa.String(200), nullable=False),
        sa.Column("return_guid", sa.String(64), nullable=False),
        sa.Column("gnum", sa.Integer(), nullable=False),
        sa.Column("qty", sa.String(32), nullable=False),
        sa.Column("dutiable_fen", sa.BigInteger(), nullable=False),
        sa.Column("customs_tax_fen", sa.BigInteger(), nullable=False),
        sa.Column("vat_fen", sa.BigInteger(), nullable=False),
        sa.Column("ct_fen", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_return_line"),
        sa.UniqueConstraint("return_guid", "gnum", name="uq_return_line_return_guid_gnum"),
    )
    op.create_index("ix_return_line_list_key", "return_line", ["list_key"])
    op.create_table(
        "tax_adjustment",
        _id(),
        sa.Column("tax_no", sa.String(50), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customs_tax_fen", sa.BigInteger(), nullable=False),
        sa.Column("vat_fen", sa.BigInteger(), nullable=False),
        sa.Column("ct_fen", sa.BigInteger(), nullable=False),
        sa.Column("refund", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_tax_adjustment"),
        sa.UniqueConstraint("tax_no", "ref", name="uq_tax_adjustment_tax_no_ref"),
        sa.CheckConstraint("kind IN ('void', 'return')", name=op.f("ck_tax_adjustment_kind")),
    )


def downgrade() -> None:
    for table in ("tax_adjustment", "return_line", "application", "officer_result"):
        op.drop_table(table)
