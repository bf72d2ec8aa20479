"""The bonded e-ledger (账册): ledgers, items, movements, holds, stocktakes; CEB711 warehouse entries.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24

* ``ledger`` / ``ledger_item``: one ledger per zone enterprise (``emsNo``), its items with their running
  balances (legal quantities in 1/100000 of the unit, never negative);
* ``ledger_movement``: every change of an item, append-only and idempotent by ``(ledger, kind, ref, item)``;
* ``ledger_hold``: 1210 list lines held at 399 until their ledger can cover them;
* ``stocktake`` / ``stocktake_line``: counted quantities with the book balance as of the count;
* ``warehouse_entry`` / ``warehouse_entry_line``: CEB711 warehouse-entry details and their CEB712 outcome.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "'entry', 'writeoff', 'return', 'transfer-out', 'transfer-in', 'dispose-trade', 'dispose-reexport', "
    "'dispose-destroy', 'adjust'"
)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _ledger_fk(table: str) -> tuple[sa.Column[int], sa.ForeignKeyConstraint]:
    return (
        sa.Column("ledger_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["ledger_id"], ["ledger.id"], name=f"fk_{table}_ledger_id_ledger"),
    )


def upgrade() -> None:
    op.create_table(
        "ledger",
        _id(),
        sa.Column("ems_no", sa.String(30), nullable=False),
        sa.Column("area_code", sa.String(32), nullable=False),
        sa.Column("area_name", sa.String(100), nullable=False),
        sa.Column("customs_code", sa.String(4), nullable=False),
        _ts("filed_at"),
        sa.Column("filed_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
        sa.UniqueConstraint("ems_no", name="uq_ledger_ems_no"),
    )
    op.create_index("ix_ledger_area_code", "ledger", ["area_code"])
    op.create_table(
        "ledger_item",
        *_ledger_fk("ledger_item"),
        sa.Column("item_record_no", sa.String(30), nullable=False),
        sa.Column("gcode", sa.String(10), nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("unit1", sa.String(3), nullable=False),
        sa.Column("unit2", sa.String(3), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("balance2", sa.BigInteger(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("ledger_id", "item_record_no", name="pk_ledger_item"),
    )
    op.create_table(
        "ledger_movement",
        _id(),
        *_ledger_fk("ledger_movement"),
        sa.Column("item_record_no", sa.String(30), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("qty2", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("doc_no", sa.String(64), nullable=False),
        sa.Column("doc_line", sa.Integer(), nullable=True),
        _ts("moved_at"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_movement"),
        sa.UniqueConstraint(
            "ledger_id",
            "kind",
            "ref",
            "item_record_no",
            name="uq_ledger_movement_ledger_id_kind_ref_item_record_no",
        ),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_ledger_movement_kind")),
    )
    op.create_index(
        "ix_ledger_movement_ledger_id_item_record_no_moved_at",
        "ledger_movement",
        ["ledger_id", "item_record_no", "moved_at"],
    )
    op.create_index("ix_ledger_movement_ledger_id_moved_at", "ledger_movement", ["ledger_id", "moved_at"])
    op.create_index("ix_ledger_movement_doc_no", "ledger_movement", ["doc_no"])
    op.create_table(
        "ledger_hold",
        _id(),
        sa.Column("list_key", sa.String(200), nullable=False),
        sa.Column("gnum", sa.Integer(), nullable=False),
        *_ledger_fk("ledger_hold"),
        sa.Column("item_record_no", sa.String(30), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("qty2", sa.BigInteger(), nullable=False),
        sa.Column("invt_no", sa.String(32), nullable=True),
        sa.Column("rule", sa.String(8), nullable=False),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        _ts("held_at"),
        _ts("released_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_hold"),
        sa.UniqueConstraint("list_key", "gnum", name="uq_ledger_hold_list_key_gnum"),
    )
    op.create_index("ix_ledger_hold_ledger_id_released_at", "ledger_hold", ["ledger_id", "released_at"])
    op.create_table(
        "stocktake",
        _id(),
        *_ledger_fk("stocktake"),
        _ts("counted_at"),
        _ts("recorded_at"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stocktake"),
    )
    op.create_index("ix_stocktake_ledger_id_counted_at", "stocktake", ["ledger_id", "counted_at"])
    op.create_table(
        "stocktake_line",
        sa.Column("stocktake_id", sa.BigInteger(), nullable=False),
        sa.Column("item_record_no", sa.String(30), nullable=False),
        sa.Column("counted", sa.BigInteger(), nullable=False),
        sa.Column("book", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("stocktake_id", "item_record_no", name="pk_stocktake_line"),
        sa.ForeignKeyConstraint(
            ["stocktake_id"], ["stocktake.id"], name="fk_stocktake_line_stocktake_id_stocktake"
        ),
    )
    op.create_table(
        "warehouse_entry",
        _id(),
        sa.Column("guid", sa.String(64), nullable=False),
        sa.Column("inbox_id", sa.BigInteger(), nullable=True),
        sa.Column("sender", sa.String(32), nullable=True),
        sa.Column("customs_code", sa.String(4), nullable=True),
        sa.Column("operator_code", sa.String(32), nullable=True),
        sa.Column("cop_no", sa.String(32), nullable=True),
        sa.Column("bill_no", sa.String(64), nullable=True),
        sa.Column("logistics_code", sa.String(32), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=True),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        _ts("received_at"),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_warehouse_entry"),
        sa.UniqueConstraint("guid", name="uq_warehouse_entry_guid"),
        sa.CheckConstraint("status IN (100, 399)", name=op.f("ck_warehouse_entry_status")),
    )
    op.create_index("ix_warehouse_entry_operator_code_id", "warehouse_entry", ["operator_code", "id"])
    op.create_table(
        "warehouse_entry_line",
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("gnum", sa.Integer(), nullable=False),
        sa.Column("logistics_no", sa.String(64), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "gnum", name="pk_warehouse_entry_line"),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["warehouse_entry.id"], name="fk_warehouse_entry_line_entry_id_warehouse_entry"
        ),
    )
    op.create_index("ix_warehouse_entry_line_logistics_no", "warehouse_entry_line", ["logistics_no"])


def downgrade() -> None:
    for table in (
        "warehouse_entry_line",
        "warehouse_entry",
        "stocktake_line",
        "stocktake",
        "ledger_hold",
        "ledger_movement",
        "ledger_item",
        "ledger",
    ):
        op.drop_table(table)
