"""Retail exports (9610/9710/9810): export documents, arrivals, departures, master bills.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24

* ``export_list``: each export list (CEB603) with its keys, invtNo and status timestamps (2 → 899);
* ``export_movement``: arrival (CEB507) and departure (CEB509) lines, unique per document line;
* ``export_bill_line``: master/sub-bill (CEB607) lines, the transport of each parcel;
* ``export_refund_line`` / ``export_true_up``: 9810 lines pre-refunded at departure (离境即退税) and each
  sale or return recorded against them (``event_id`` unique: the true-up call is idempotent).

The documents, decisions and receipts of exports live in ``document``, ``decision`` and ``receipt``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _g(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _i(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "export_list",
        _id(),
        _s("list_key", 200),
        _s("guid", 64),
        _s("invt_no", 32),
        _s("order_key", 200),
        _s("waybill_key", 200),
        _s("trade_mode", 4),
        _s("statistics_flag", 1),
        _s("customs_code", 4),
        _s("ebp_code", 32),
        _s("order_no", 64),
        _s("ebc_code", 32),
        _s("agent_code", 32),
        _s("cop_no", 32),
        _s("pre_no", 18),
        _s("sender", 64),
        _i("status"),
        _g("inbox_id"),
        _ts("declared_at"),
        _ts("concluded_at", True),
        _ts("released_at", True),
        _ts("cleared_at", True),
        _ts("leave_time", True),
        _ts("cancelled_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_export_list"),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"], name="fk_export_list_inbox_id_inbox"),
        sa.UniqueConstraint("list_key", name="uq_export_list_list_key"),
        sa.UniqueConstraint("guid", name="uq_export_list_guid"),
        sa.UniqueConstraint("invt_no", name="uq_export_list_invt_no"),
    )
    op.create_index("ix_export_list_order_key", "export_list", ["order_key"])
    op.create_index("ix_export_list_waybill_key", "export_list", ["waybill_key"])
    op.create_index("ix_export_list_status_declared_at", "export_list", ["status", "declared_at"])
    op.create_index("ix_export_list_cleared_at", "export_list", ["cleared_at"])
    op.create_table(
        "export_movement",
        _id(),
        _s("kind", 9),
        _s("doc_guid", 64),
        _i("gnum"),
        _s("waybill_key", 200),
        _s("list_key", 200, True),
        _s("customs_code", 4),
        _s("bill_no", 64, True),
        _ts("at"),
        _g("batch_id", True),
        sa.PrimaryKeyConstraint("id", name="pk_export_movement"),
        sa.UniqueConstraint("kind", "doc_guid", "gnum", name="uq_export_movement_kind_doc_guid_gnum"),
        sa.CheckConstraint("kind IN ('arrival', 'departure')", name="kind"),
    )
    op.create_index("ix_export_movement_kind_waybill_key", "export_movement", ["kind", "waybill_key"])
    op.create_table(
        "export_bill_line",
        _id(),
        _s("doc_guid", 64),
        _i("gnum"),
        _s("waybill_key", 200),
        _s("invt_no", 32, True),
        _s("bill_no", 64),
        _s("voyage_no", 64),
        _s("traf_name", 100),
        _s("traf_mode", 1),
        _s("total_package_no", 64, True),
        _s("agent_code", 32),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_export_bill_line"),
        sa.UniqueConstraint("doc_guid", "gnum", name="uq_export_bill_line_doc_guid_gnum"),
    )
    op.create_index("ix_export_bill_line_waybill_key", "export_bill_line", ["waybill_key"])
    op.create_table(
        "export_refund_line",
        _s("list_key", 200),
        _i("gnum"),
        _s("invt_no", 32),
        _s("gcode", 10),
        _g("qty_e5"),
        _g("value_fen"),
        _i("refund_rate_bp"),
        _g("provisional_fen", True),
        _ts("provisional_at", True),
        _s("status", 16),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("list_key", "gnum", name="pk_export_refund_line"),
        sa.CheckConstraint("status IN ('flagged', 'provisional')", name="status"),
    )
    op.create_index("ix_export_refund_line_invt_no", "export_refund_line", ["invt_no"])
    op.create_table(
        "export_true_up",
        _id(),
        _s("event_id", 64),
        _s("list_key", 200),
        _i("gnum"),
        _s("kind", 8),
        _g("qty_e5"),
        _g("repay_fen"),
        _s("recorded_by", 64),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_export_true_up"),
        sa.UniqueConstraint("event_id", name="uq_export_true_up_event_id"),
        sa.CheckConstraint("kind IN ('sold', 'returned')", name="kind"),
    )
    op.create_index("ix_export_true_up_list_key_gnum", "export_true_up", ["list_key", "gnum"])


def downgrade() -> None:
    op.drop_index("ix_export_true_up_list_key_gnum", table_name="export_true_up")
    op.drop_table("export_true_up")
    op.drop_index("ix_export_refund_line_invt_no", table_name="export_refund_line")
    op.drop_table("export_refund_line")
    op.drop_index("ix_export_bill_line_waybill_key", table_name="export_bill_line")
    op.drop_table("export_bill_line")
    op.drop_index("ix_export_movement_kind_waybill_key", table_name="export_movement")
    op.drop_table("export_movement")
    for name in ("cleared_at", "status_declared_at", "waybill_key", "order_key"):
        op.drop_index(f"ix_export_list_{name}", table_name="export_list")
    op.drop_table("export_list")
