"""Gate passes (核放单) and non-stop gate (无感卡口) events and decisions.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24

* ``gate_pass``: a vehicle and its load as filed by the zone enterprise, with its SAS121 codes and status
  (``stucd``); weights in integer grams; ``(owner, etps_preent_no)`` makes filing idempotent.
* ``gate_pass_list``: the lists a pass carries; ``live`` (1 or NULL) keeps a list on one live pass at most.
* ``gate_event``: every vehicle at a gate lane with its decision (LIFT/STOP) and reasons; unique ``event_id``.
* ``gate_hold``: officers' holds (布控) and inspection orders on a pass, a vehicle or a list.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _g(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _s(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "gate_pass",
        _id(),
        _s("passport_no", 24),
        _s("owner", 32),
        _s("etps_preent_no", 64),
        _s("master_cuscd", 4),
        _s("areain_oriact_no", 32, True),
        _s("passport_typecd", 1),
        _s("bind_typecd", 1),
        _s("io_typecd", 1),
        _s("rlt_tb_typecd", 1, True),
        _s("rlt_no", 64, True),
        _s("vehicle_no", 16),
        _s("vehicle_ic_no", 32, True),
        _s("vehicle_frame_no", 32, True),
        _g("vehicle_wt_g"),
        _g("vehicle_frame_wt_g"),
        _s("container_no", 16, True),
        _s("container_type", 8, True),
        _g("container_wt_g"),
        _g("total_gross_wt_g"),
        _g("total_net_wt_g"),
        _g("total_wt_g"),
        _s("stucd", 1),
        sa.Column("pending", sa.Text(), nullable=True),
        _s("filed_by", 64),
        _ts("dcl_time"),
        _ts("approved_at", True),
        _ts("pass_time", True),
        _ts("secd_pass_time", True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_gate_pass"),
        sa.UniqueConstraint("passport_no", name="uq_gate_pass_passport_no"),
        sa.UniqueConstraint("owner", "etps_preent_no", name="uq_gate_pass_owner_etps_preent_no"),
        sa.CheckConstraint("stucd IN ('0', '1', '2', '3', '4', '5', '6')", name="stucd"),
        sa.CheckConstraint("passport_typecd IN ('1', '2', '3', '4', '5', '6')", name="passport_typecd"),
        sa.CheckConstraint("bind_typecd IN ('1', '2', '3')", name="bind_typecd"),
        sa.CheckConstraint("io_typecd IN ('I', 'E')", name="io_typecd"),
    )
    op.create_index("ix_gate_pass_vehicle_no_stucd", "gate_pass", ["vehicle_no", "stucd"])
    op.create_index("ix_gate_pass_vehicle_ic_no_stucd", "gate_pass", ["vehicle_ic_no", "stucd"])
    op.create_index("ix_gate_pass_owner_id", "gate_pass", ["owner", "id"])
    op.create_index("ix_gate_pass_master_cuscd_id", "gate_pass", ["master_cuscd", "id"])
    op.create_table(
        "gate_pass_list",
        sa.Column("pass_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _s("list_key", 200),
        _s("invt_no", 32, True),
        _s("logistics_no", 64, True),
        _g("gross_wt_g"),
        _g("net_wt_g"),
        sa.Column("live", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("pass_id", "seq", name="pk_gate_pass_list"),
        sa.ForeignKeyConstraint(["pass_id"], ["gate_pass.id"], name="fk_gate_pass_list_pass_id_gate_pass"),
        sa.UniqueConstraint("list_key", "live", name="uq_gate_pass_list_list_key_live"),
    )
    op.create_table(
        "gate_event",
        _id(),
        _s("event_id", 64),
        _s("reporter", 64),
        _s("lane", 32),
        _s("gate", 1),
        _s("vehicle_no", 16, True),
        _s("vehicle_ic_no", 32, True),
        _s("container_no", 16, True),
        _g("weight_g", True),
        _ts("at"),
        _ts("received_at"),
        _g("pass_id", True),
        _s("passport_no", 24, True),
        _s("master_cuscd", 4, True),
        _s("owner", 32, True),
        _s("decision", 4),
        sa.Column("reasons", sa.Text(), nullable=False),
        _s("pass_status_before", 1, True),
        _s("pass_status_after", 1, True),
        _g("tolerance_g", True),
        sa.PrimaryKeyConstraint("id", name="pk_gate_event"),
        sa.UniqueConstraint("event_id", name="uq_gate_event_event_id"),
        sa.CheckConstraint("decision IN ('LIFT', 'STOP')", name="decision"),
    )
    op.create_index("ix_gate_event_passport_no", "gate_event", ["passport_no"])
    op.create_index("ix_gate_event_master_cuscd_id", "gate_event", ["master_cuscd", "id"])
    op.create_index("ix_gate_event_owner_id", "gate_event", ["owner", "id"])
    op.create_index("ix_gate_event_reporter_id", "gate_event", ["reporter", "id"])
    op.create_table(
        "gate_hold",
        _id(),
        _s("kind", 16),
        _s("target_kind", 8),
        _s("target", 200),
        _s("district", 4, True),
        _s("officer", 64),
        sa.Column("reason_zh", sa.Text(), nullable=False),
        sa.Column("reason_en", sa.Text(), nullable=False),
        _ts("placed_at"),
        _ts("lifted_at", True),
        _s("lifted_by", 64, True),
        sa.PrimaryKeyConstraint("id", name="pk_gate_hold"),
        sa.CheckConstraint("kind IN ('hold', 'inspection')", name="kind"),
        sa.CheckConstraint("target_kind IN ('pass', 'vehicle', 'list')", name="target_kind"),
    )
    op.create_index(
        "ix_gate_hold_active",
        "gate_hold",
        ["target_kind", "target"],
        sqlite_where=sa.text("lifted_at IS NULL"),
        postgresql_where=sa.text("lifted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_gate_hold_active", table_name="gate_hold")
    op.drop_table("gate_hold")
    for name in ("reporter_id", "owner_id", "master_cuscd_id", "passport_no"):
        op.drop_index(f"ix_gate_event_{name}", table_name="gate_event")
    op.drop_table("gate_event")
    op.drop_table("gate_pass_list")
    for name in ("master_cuscd_id", "owner_id", "vehicle_ic_no_stucd", "vehicle_no_stucd"):
        op.drop_index(f"ix_gate_pass_{name}", table_name="gate_pass")
    op.drop_table("gate_pass")
