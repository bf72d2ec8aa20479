"""Monthly summary declarations (CEB701/702/792): applications, declarations, the lists they took.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24

* ``summary_application``: one CEB701 per period, consignor and supplement (0 = the month's first, 1.. the
  supplementary applications for lists cleared late), with its ``sumNo`` and due date;
* ``summary_declaration`` / ``summary_declaration_line``: the declarations it gave (``declSeqNo``) and their
  summed lines;
* ``summary_list_line``: each summarised list line → declaration line, keyed by the list line so that no
  line is ever summarised twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
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
        "summary_application",
        _id(),
        _s("period", 7),
        _s("ebc_code", 32),
        _i("supplement"),
        _s("sum_no", 18),
        _s("pre_no", 18),
        _s("cop_no", 30),
        _s("customs_code", 4),
        _s("agent_code", 32),
        _s("agent_name", 100),
        _s("ebc_name", 100),
        _s("summary_flag", 1),
        _s("item_name_flag", 1),
        _s("status", 16),
        _s("due_date", 10),
        _i("lists"),
        _i("declarations"),
        _ts("created_at"),
        _s("created_by", 64),
        sa.PrimaryKeyConstraint("id", name="pk_summary_application"),
        sa.UniqueConstraint(
            "period", "ebc_code", "supplement", name="uq_summary_application_period_ebc_code_supplement"
        ),
        sa.UniqueConstraint("sum_no", name="uq_summary_application_sum_no"),
        sa.CheckConstraint("status IN ('declared')", name="status"),
    )
    op.create_index("ix_summary_application_ebc_code_period", "summary_application", ["ebc_code", "period"])
    op.create_table(
        "summary_declaration",
        _id(),
        _g("application_id"),
        _i("decl_no"),
        _s("decl_seq_no", 18),
        _s("traf_mode", 1, True),
        _s("owner_code", 32, True),
        _s("arrival_country", 3, True),
        _s("port_code", 4, True),
        _s("trade_mode", 4, True),
        _s("owner_name", 100, True),
        _i("lists"),
        _i("lines"),
        _g("gross_weight_e5"),
        _g("net_weight_e5"),
        _ts("cleared_from", True),
        _ts("cleared_to", True),
        sa.PrimaryKeyConstraint("id", name="pk_summary_declaration"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["summary_application.id"],
            name="fk_summary_declaration_application_id_summary_application",
        ),
        sa.UniqueConstraint(
            "application_id", "decl_no", name="uq_summary_declaration_application_id_decl_no"
        ),
        sa.UniqueConstraint("decl_seq_no", name="uq_summary_declaration_decl_seq_no"),
    )
    op.create_table(
        "summary_declaration_line",
        _g("declaration_id"),
        _i("gseqno"),
        _s("destination_country", 3, True),
        _s("gcode", 10, True),
        _s("currency", 3, True),
        _s("item_name", 250, True),
        _s("gname", 250, True),
        _s("unit", 3, True),
        _g("qty_e5", True),
        _s("unit1", 3, True),
        _g("qty1_e5", True),
        _s("unit2", 3, True),
        _g("qty2_e5", True),
        _g("total_price_e5"),
        _i("lists"),
        _i("lines"),
        sa.PrimaryKeyConstraint("declaration_id", "gseqno", name="pk_summary_declaration_line"),
        sa.ForeignKeyConstraint(
            ["declaration_id"],
            ["summary_declaration.id"],
            name="fk_summary_declaration_line_declaration_id_summary_declaration",
        ),
    )
    op.create_table(
        "summary_list_line",
        _s("invt_no", 32),
        _i("gnum"),
        _s("gcode", 10, True),
        _s("logistics_no", 64, True),
        _g("application_id"),
        _g("declaration_id"),
        _i("gseqno"),
        sa.PrimaryKeyConstraint("invt_no", "gnum", name="pk_summary_list_line"),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["summary_application.id"],
            name="fk_summary_list_line_application_id_summary_application",
        ),
        sa.ForeignKeyConstraint(
            ["declaration_id"],
            ["summary_declaration.id"],
            name="fk_summary_list_line_declaration_id_summary_declaration",
        ),
    )
    op.create_index(
        "ix_summary_list_line_declaration_id_gseqno", "summary_list_line", ["declaration_id", "gseqno"]
    )
    op.create_index("ix_summary_list_line_application_id", "summary_list_line", ["application_id"])


def downgrade() -> None:
    op.drop_index("ix_summary_list_line_application_id", table_name="summary_list_line")
    op.drop_index("ix_summary_list_line_declaration_id_gseqno", table_name="summary_list_line")
    op.drop_table("summary_list_line")
    op.drop_table("summary_declaration_line")
    op.drop_table("summary_declaration")
    op.drop_index("ix_summary_application_ebc_code_period", table_name="summary_application")
    op.drop_table("summary_application")
