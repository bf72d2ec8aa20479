"""Initial import-clearance schema: inbox, documents, decisions, receipts, quota ledger, tax bills, batches.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

A frozen snapshot: it deliberately does not import cbec.store.schema, whose later versions must not change
what this revision creates.  Names are spelt out (``op.f`` where the naming convention would otherwise
rewrite them) and follow ``schema.NAMING_CONVENTION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY auto-increments.
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batch",
        _id(),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batch"),
    )
    op.create_table(
        "inbox",
        _id(),
        sa.Column("guid", sa.String(64), nullable=False),
        sa.Column("message_type", sa.String(32), nullable=False),
        sa.Column("sender", sa.String(32), nullable=True),
        sa.Column("dxp_id", sa.String(64), nullable=True),
        _ts("received_at"),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("processed_at", nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name="fk_inbox_batch_id_batch"),
        sa.UniqueConstraint("guid", name="uq_inbox_guid"),
        sa.CheckConstraint("status IN ('accepted', 'processed', 'refused')", name=op.f("ck_inbox_status")),
    )
    op.create_index("ix_inbox_status_id", "inbox", ["status", "id"])
    op.create_table(
        "document",
        _id(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("guid", sa.String(64), nullable=False),
        sa.Column("business_key", sa.String(200), nullable=False),
        sa.Column("inbox_id", sa.BigInteger(), nullable=False),
        _ts("received_at"),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("app_type", sa.String(1), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_document"),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"], name="fk_document_inbox_id_inbox"),
        sa.UniqueConstraint("kind", "guid", name="uq_document_kind_guid"),
        sa.UniqueConstraint("kind", "business_key", name="uq_document_kind_business_key"),
    )
    op.create_index("ix_document_kind_status", "document", ["kind", "status"])
    op.create_index("ix_document_inbox_id", "document", ["inbox_id"])
    op.create_table(
        "decision",
        _id(),
        sa.Column("list_key", sa.String(200), nullable=False),
        sa.Column("invt_no", sa.String(32), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        _ts("decided_at"),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_decision"),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name="fk_decision_batch_id_batch"),
    )
    op.create_index("ix_decision_list_key", "decision", ["list_key"])
    op.create_table(
        "receipt",
        _id(),
        sa.Column("message_type", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("business_key", sa.String(200), nullable=False),
        sa.Column("doc_guid", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        _ts("delivered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_receipt"),
        sa.UniqueConstraint(
            "message_type", "doc_guid", "status", name="uq_receipt_message_type_doc_guid_status"
        ),
    )
    op.create_index("ix_receipt_business_key", "receipt", ["business_key"])
    op.create_index(
        "ix_receipt_undelivered",
        "receipt",
        ["id"],
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.create_table(
        "quota",
        sa.Column("buyer_key", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("used_fen", sa.BigInteger(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("buyer_key", "year", name="pk_quota"),
    )
    op.create_table(
        "quota_movement",
        _id(),
        sa.Column("buyer_key", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("list_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_quota_movement"),
        sa.UniqueConstraint("list_key", "kind", name="uq_quota_movement_list_key_kind"),
        sa.CheckConstraint("kind IN ('accept', 'cancel', 'return')", name=op.f("ck_quota_movement_kind")),
    )
    op.create_index("ix_quota_movement_buyer_key_year", "quota_movement", ["buyer_key", "year"])
    op.create_table(
        "tax_bill",
        _id(),
        sa.Column("tax_no", sa.String(50), nullable=False),
        sa.Column("invt_no", sa.String(32), nullable=False),
        sa.Column("list_key", sa.String(200), nullable=False),
        sa.Column("customs_tax_fen", sa.BigInteger(), nullable=False),
        sa.Column("vat_fen", sa.BigInteger(), nullable=False),
        sa.Column("ct_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_tax_bill"),
        sa.UniqueConstraint("tax_no", name="uq_tax_bill_tax_no"),
        sa.CheckConstraint("status IN (1, 2, 3)", name=op.f("ck_tax_bill_status")),
    )
    op.create_index("ix_tax_bill_list_key", "tax_bill", ["list_key"])


def downgrade() -> None:
    for table in ("tax_bill", "quota_movement", "quota", "receipt", "decision", "document", "inbox", "batch"):
        op.drop_table(table)
