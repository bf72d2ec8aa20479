"""Export returns (CEB213/215): applications, tallies, consolidated master bills, cross-district re-entry.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24

* ``export_return``: each CEB213 application decided (120 accepted, 800 released, 100 refused);
* ``export_return_line``: the lines of accepted applications, exact quantities and the tax outcome;
* ``export_return_tally``: each CEB215 tally (per parcel) — waiting, tallied or refused;
* ``export_return_bill_line``: lines of consolidated return master bills (CEB607 naming original lists);
* ``export_return_site``: sites the operator filed for cross-district returns (input, kept by ``rebuild``);
* ``import_return_goods_back``: import returns (CEB625) whose goods were reported back, on time (45 days) or
  not (input, kept by ``rebuild``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _t(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _g(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _b(name: str, nullable: bool = False) -> sa.Column[bool]:
    return sa.Column(name, sa.Boolean(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "export_return",
        _id(),
        _s("guid", 64),
        _s("invt_no", 32),
        _s("co_el_no", 32),
        _s("ebc_code", 32),
        _s("agent_code", 32),
        _s("sender", 64),
        _s("waybill_key", 200),
        _s("bill_no", 64, True),
        _s("customs_code", 4),
        _s("port_code", 8, True),
        _s("export_customs", 4, True),
        _s("trade_mode", 4, True),
        _b("cross_district"),
        sa.Column("status", sa.Integer(), nullable=False),
        _s("code", 16, True),
        _t("reason_zh"),
        _t("reason_en"),
        _g("inbox_id"),
        _ts("declared_at"),
        _ts("released_at", True),
        _g("batch_id", True),
        sa.PrimaryKeyConstraint("id", name="pk_export_return"),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"], name="fk_export_return_inbox_id_inbox"),
        sa.UniqueConstraint("guid", name="uq_export_return_guid"),
        sa.CheckConstraint("status IN (100, 120, 800)", name="status"),
    )
    op.create_index("ix_export_return_invt_no", "export_return", ["invt_no"])
    op.create_index("ix_export_return_waybill_key", "export_return", ["waybill_key"])
    op.create_index("ix_export_return_bill_no", "export_return", ["bill_no"])
    op.create_table(
        "export_return_line",
        _s("return_guid", 64),
        sa.Column("gnum", sa.Integer(), nullable=False),
        _s("invt_no", 32),
        _s("gcode", 10),
        _g("qty_e5"),
        _g("qty1_e5", True),
        _g("qty2_e5", True),
        _g("exported_e5"),
        _b("tax_exempt", True),
        _s("tax_basis", 16, True),
        _s("tax_source", 200, True),
        _t("tax_reason_zh", True),
        _t("tax_reason_en", True),
        _g("refund_repay_fen", True),
        _t("refund_note", True),
        sa.PrimaryKeyConstraint("return_guid", "gnum", name="pk_export_return_line"),
        sa.CheckConstraint(
            "tax_basis IN ('exempt', 'food', 'mode', 'window', 'no_policy')", name="tax_basis"
        ),
    )
    op.create_index("ix_export_return_line_invt_no_gnum", "export_return_line", ["invt_no", "gnum"])
    op.create_table(
        "export_return_tally",
        _id(),
        _s("guid", 64),
        _s("waybill_key", 200),
        _s("invt_no", 32, True),
        _s("bill_no", 64, True),
        _s("customs_code", 4),
        _s("operator_code", 32),
        _s("co_el_no", 32),
        _s("pre_no", 18, True),
        _s("location", 250, True),
        _s("sender", 64),
        sa.Column("status", sa.Integer(), nullable=False),
        _s("code", 16, True),
        _t("reason_zh"),
        _t("reason_en"),
        _ts("received_at"),
        _ts("tallied_at", True),
        sa.PrimaryKeyConstraint("id", name="pk_export_return_tally"),
        sa.UniqueConstraint("guid", name="uq_export_return_tally_guid"),
        sa.CheckConstraint("status IN (2, 100, 399)", name="status"),
    )
    op.create_index(
        "ix_export_return_tally_waybill_key_status", "export_return_tally", ["waybill_key", "status"]
    )
    op.create_index("ix_export_return_tally_bill_no", "export_return_tally", ["bill_no"])
    op.create_table(
        "export_return_bill_line",
        _s("doc_guid", 64),
        sa.Column("gnum", sa.Integer(), nullable=False),
        _s("bill_no", 64),
        _s("waybill_key", 200),
        _s("invt_no", 32),
        _s("total_package_no", 64, True),
        _ts("at"),
        sa.PrimaryKeyConstraint("doc_guid", "gnum", name="pk_export_return_bill_line"),
    )
    op.create_index("ix_export_return_bill_line_bill_no", "export_return_bill_line", ["bill_no"])
    op.create_index("ix_export_return_bill_line_waybill_key", "export_return_bill_line", ["waybill_key"])
    op.create_table(
        "export_return_site",
        _s("customs_code", 4),
        _s("operator_code", 32),
        _s("name", 200),
        _s("loct_no", 10, True),
        _b("cbec_export"),
        _b("return_area"),
        _b("data_open"),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        _s("filed_by", 64),
        _ts("filed_at"),
        _t("note", True),
        sa.PrimaryKeyConstraint("customs_code", "operator_code", name="pk_export_return_site"),
    )
    op.create_table(
        "import_return_goods_back",
        _s("return_guid", 64),
        _s("list_key", 200),
        _ts("back_at"),
        sa.Column("deadline", sa.Date(), nullable=False),
        _b("on_time"),
        _s("recorded_by", 64),
        _ts("recorded_at"),
        _t("note", True),
        sa.PrimaryKeyConstraint("return_guid", name="pk_import_return_goods_back"),
    )
    op.create_index("ix_import_return_goods_back_list_key", "import_return_goods_back", ["list_key"])


def downgrade() -> None:
    op.drop_index("ix_import_return_goods_back_list_key", table_name="import_return_goods_back")
    op.drop_table("import_return_goods_back")
    op.drop_table("export_return_site")
    op.drop_index("ix_export_return_bill_line_waybill_key", table_name="export_return_bill_line")
    op.drop_index("ix_export_return_bill_line_bill_no", table_name="export_return_bill_line")
    op.drop_table("export_return_bill_line")
    op.drop_index("ix_export_return_tally_bill_no", table_name="export_return_tally")
    op.drop_index("ix_export_return_tally_waybill_key_status", table_name="export_return_tally")
    op.drop_table("export_return_tally")
    op.drop_index("ix_export_return_line_invt_no_gnum", table_name="export_return_line")
    op.drop_table("export_return_line")
    for name in ("bill_no", "waybill_key", "invt_no"):
        op.drop_index(f"ix_export_return_{name}", table_name="export_return")
    op.drop_table("export_return")
