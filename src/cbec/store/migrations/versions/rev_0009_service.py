"""The HTTP service: receipt feeds, webhook subscriptions and deliveries, BaseSubscribe copies, leases.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24

* ``receipt.batch_id`` ties each receipt to the clearing batch that produced it, so a parcel's history can
  find its receipts without a link row per document; ``(recipient, id)`` serves each enterprise's feed.
* ``feed_cursor`` remembers how far each consumer has confirmed reading its feed (resume after a crash).
* ``subscription`` / ``delivery``: webhooks with BaseSubscribe semantics (ALL / DATA / RET), one delivery row
  per call to make, retried with back-off and finally left ``dead`` (the dead-letter list).
* ``message_subscriber``: the third parties a message names in BaseSubscribe.
* ``lease``: which process holds a singleton job, such as the clearing loop, on a shared database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("receipt") as batch:
        batch.add_column(sa.Column("batch_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_receipt_recipient_id", "receipt", ["recipient", "id"])
    op.create_index("ix_receipt_batch_id", "receipt", ["batch_id"])
    op.create_table(
        "feed_cursor",
        sa.Column("consumer", sa.String(80), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("consumer", name="pk_feed_cursor"),
    )
    op.create_table(
        "subscription",
        _id(),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(4), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("receipt_position", sa.BigInteger(), nullable=False),
        sa.Column("data_position", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_subscription"),
        sa.CheckConstraint("kind IN ('ALL', 'DATA', 'RET')", name="kind"),
    )
    op.create_index("ix_subscription_owner", "subscription", ["owner"])
    op.create_table(
        "delivery",
        _id(),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("item", sa.String(8), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_delivery"),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["subscription.id"], name="fk_delivery_subscription_id_subscription"
        ),
        sa.UniqueConstraint(
            "subscription_id", "item", "item_id", name="uq_delivery_subscription_id_item_item_id"
        ),
        sa.CheckConstraint("status IN ('pending', 'done', 'dead')", name="status"),
        sa.CheckConstraint("item IN ('receipt', 'data')", name="item"),
    )
    op.create_index(
        "ix_delivery_due",
        "delivery",
        ["next_attempt_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "message_subscriber",
        sa.Column("inbox_id", sa.BigInteger(), nullable=False),
        sa.Column("dxp_address", sa.String(100), nullable=False),
        sa.Column("status", sa.String(4), nullable=False),
        sa.PrimaryKeyConstraint("inbox_id", "dxp_address", name="pk_message_subscriber"),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"], name="fk_message_subscriber_inbox_id_inbox"),
    )
    op.create_index(
        "ix_message_subscriber_dxp_address_inbox_id", "message_subscriber", ["dxp_address", "inbox_id"]
    )
    op.create_table(
        "lease",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(80), nullable=False),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("name", name="pk_lease"),
    )


def downgrade() -> None:
    op.drop_table("lease")
    op.drop_index("ix_message_subscriber_dxp_address_inbox_id", table_name="message_subscriber")
    op.drop_table("message_subscriber")
    op.drop_index("ix_delivery_due", table_name="delivery")
    op.drop_table("delivery")
    op.drop_index("ix_subscription_owner", table_name="subscription")
    op.drop_table("subscription")
    op.drop_table("feed_cursor")
    op.drop_index("ix_receipt_batch_id", table_name="receipt")
    op.drop_index("ix_receipt_recipient_id", table_name="receipt")
    with op.batch_alter_table("receipt") as batch:
        batch.drop_column("batch_id")
