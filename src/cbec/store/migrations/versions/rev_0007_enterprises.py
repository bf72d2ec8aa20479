"""Enterprise filing (备案): enterprises, their codes and roles, grants, API keys, certificates.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

A frozen snapshot like 0001: it does not import cbec.store.schema, and its names follow
``schema.NAMING_CONVENTION``.  Only new tables; nothing earlier is altered.  See docs/enterprises.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = "'ebp', 'ebc', 'payment', 'logistics', 'agent', 'operator', 'officer', 'admin'"
GRANT_ROLES = "'ebp', 'ebc', 'payment', 'logistics', 'agent', 'operator'"


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _owner(table: str, column: str = "enterprise_id") -> tuple[sa.Column[int], sa.ForeignKeyConstraint]:
    return (
        sa.Column(column, sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint([column], ["enterprise.id"], name=f"fk_{table}_{column}_enterprise"),
    )


def upgrade() -> None:
    op.create_table(
        "enterprise",
        _id(),
        sa.Column("primary_code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("district", sa.String(4), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_enterprise"),
        sa.UniqueConstraint("primary_code", name="uq_enterprise_primary_code"),
    )
    op.create_table(
        "enterprise_code",
        sa.Column("code", sa.String(32), nullable=False),
        *_owner("enterprise_code"),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_enterprise_code"),
        sa.CheckConstraint("kind IN ('customs', 'uscc', 'account')", name=op.f("ck_enterprise_code_kind")),
    )
    op.create_index("ix_enterprise_code_enterprise_id", "enterprise_code", ["enterprise_id"])
    op.create_table(
        "enterprise_role",
        *_owner("enterprise_role"),
        sa.Column("role", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("enterprise_id", "role", name="pk_enterprise_role"),
        sa.CheckConstraint(f"role IN ({ROLES})", name=op.f("ck_enterprise_role_role")),
    )
    op.create_table(
        "enterprise_grant",
        _id(),
        *_owner("enterprise_grant", "owner_id"),
        *_owner("enterprise_grant", "grantee_id"),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("message_types", sa.Text(), nullable=False),
        _ts("valid_from", nullable=True),
        _ts("expires_at", nullable=True),
        _ts("revoked_at", nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_enterprise_grant"),
        sa.CheckConstraint(f"role IN ({GRANT_ROLES})", name=op.f("ck_enterprise_grant_role")),
    )
    op.create_index("ix_enterprise_grant_grantee_id", "enterprise_grant", ["grantee_id"])
    op.create_index("ix_enterprise_grant_owner_id", "enterprise_grant", ["owner_id"])
    op.create_table(
        "enterprise_api_key",
        _id(),
        *_owner("enterprise_api_key"),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        _ts("created_at"),
        _ts("expires_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_enterprise_api_key"),
        sa.UniqueConstraint("prefix", name="uq_enterprise_api_key_prefix"),
    )
    op.create_index("ix_enterprise_api_key_enterprise_id", "enterprise_api_key", ["enterprise_id"])
    op.create_table(
        "enterprise_certificate",
        _id(),
        *_owner("enterprise_certificate"),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("key_name", sa.String(64), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        _ts("not_before"),
        _ts("not_after"),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_enterprise_certificate"),
        sa.UniqueConstraint("fingerprint", name="uq_enterprise_certificate_fingerprint"),
        sa.CheckConstraint("algorithm IN ('rsa', 'sm2')", name=op.f("ck_enterprise_certificate_algorithm")),
    )
    op.create_index("ix_enterprise_certificate_enterprise_id", "enterprise_certificate", ["enterprise_id"])
    op.create_index("ix_enterprise_certificate_serial", "enterprise_certificate", ["serial"])


def downgrade() -> None:
    for table in (
        "enterprise_certificate",
        "enterprise_api_key",
        "enterprise_grant",
        "enterprise_role",
        "enterprise_code",
        "enterprise",
    ):
        op.drop_table(table)
