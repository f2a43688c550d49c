"""wecom channels: channel accounts, callback inbox, contact relations, channel codes,
groups, transfers and the outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 15:55:37.109611
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "channel_account",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("config", sa.String(length=8192), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("last_callback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reconciled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_channel_account_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_channel_account")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "name", name=op.f("uq_channel_account_tenant_id_kind_name")
        ),
    )
    op.create_table(
        "outbox_message",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_outbox_message_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_outbox_message_tenant_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_message_tenant_status_due", ["tenant_id", "status", "due_at"], unique=False
        )

    op.create_table(
        "channel_code",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("owner_kind", sa.String(length=32), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("owner_label", sa.String(length=100), nullable=False),
        sa.Column("staff_userids", sa.JSON(), nullable=False),
        sa.Column("is_rotating", sa.Boolean(), nullable=False),
        sa.Column("daily_cap_per_staff", sa.Integer(), nullable=True),
        sa.Column("welcome", sa.JSON(), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("skip_verify", sa.Boolean(), nullable=False),
        sa.Column("config_id", sa.String(length=64), nullable=True),
        sa.Column("qr_code", sa.String(length=500), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            name=op.f("fk_channel_code_tenant_id_account_id_channel_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"],
            ["org_unit.tenant_id", "org_unit.id"],
            name=op.f("fk_channel_code_tenant_id_org_unit_id_org_unit"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_channel_code_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_channel_code")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_channel_code_tenant_id_name")),
        sa.UniqueConstraint("tenant_id", "state", name=op.f("uq_channel_code_tenant_id_state")),
    )
    with op.batch_alter_table("channel_code", schema=None) as batch_op:
        batch_op.create_index(
            "ix_channel_code_tenant_account", ["tenant_id", "account_id"], unique=False
        )

    op.create_table(
        "transfer_batch",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("handover_userid", sa.String(length=64), nullable=False),
        sa.Column("transfer_success_msg", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            name=op.f("fk_transfer_batch_tenant_id_account_id_channel_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_transfer_batch_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_transfer_batch")),
    )
    with op.batch_alter_table("transfer_batch", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transfer_batch_tenant_created", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "wecom_callback",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("change_type", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            name=op.f("fk_wecom_callback_tenant_id_account_id_channel_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_wecom_callback_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_wecom_callback")),
        sa.UniqueConstraint(
            "tenant_id",
            "account_id",
            "dedupe_key",
            name=op.f("uq_wecom_callback_tenant_id_account_id_dedupe_key"),
        ),
    )
    with op.batch_alter_table("wecom_callback", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wecom_callback_tenant_status_received",
            ["tenant_id", "status", "received_at"],
            unique=False,
        )

    op.create_table(
        "customer_group",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_userid", sa.String(length=64), nullable=False),
        sa.Column("owner_staff_id", sa.Uuid(), nullable=True),
        sa.Column("notice", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("wecom_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("customer_count", sa.Integer(), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            name=op.f("fk_customer_group_tenant_id_account_id_channel_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "owner_staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_customer_group_tenant_id_owner_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_customer_group_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_customer_group")),
        sa.UniqueConstraint(
            "tenant_id",
            "account_id",
            "chat_id",
            name=op.f("uq_customer_group_tenant_id_account_id_chat_id"),
        ),
    )
    with op.batch_alter_table("customer_group", schema=None) as batch_op:
        batch_op.create_index(
            "ix_customer_group_tenant_owner", ["tenant_id", "owner_staff_id"], unique=False
        )

    op.create_table(
        "contact_relation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("wecom_userid", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("add_way", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=True),
        sa.Column("channel_code_id", sa.Uuid(), nullable=True),
        sa.Column("is_new_customer", sa.Boolean(), nullable=False),
        sa.Column("remark", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            name=op.f("fk_contact_relation_tenant_id_account_id_channel_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "channel_code_id"],
            ["channel_code.tenant_id", "channel_code.id"],
            name=op.f("fk_contact_relation_tenant_id_channel_code_id_channel_code"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customer.tenant_id", "customer.id"],
            name=op.f("fk_contact_relation_tenant_id_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff.tenant_id", "staff.id"],
            name=op.f("fk_contact_relation_tenant_id_staff_id_staff"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_contact_relation_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_contact_relation")),
        sa.UniqueConstraint(
            "tenant_id",
            "account_id",
            "wecom_userid",
            "external_userid",
            name=op.f("uq_contact_relation_tenant_id_account_id_wecom_userid_external_userid"),
        ),
    )
    with op.batch_alter_table("contact_relation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_relation_tenant_code_added",
            ["tenant_id", "channel_code_id", "added_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_contact_relation_tenant_customer", ["tenant_id", "customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_contact_relation_tenant_external", ["tenant_id", "external_userid"], unique=False
        )
        batch_op.create_index(
            "ix_contact_relation_tenant_staff", ["tenant_id", "staff_id"], unique=False
        )

    op.create_table(
        "group_member",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_userid", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("group_nickname", sa.String(length=100), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("join_scene", sa.Integer(), nullable=False),
        sa.Column("invitor_userid", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customer.tenant_id", "customer.id"],
            name=op.f("fk_group_member_tenant_id_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["customer_group.tenant_id", "customer_group.id"],
            name=op.f("fk_group_member_tenant_id_group_id_customer_group"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_group_member_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_group_member")),
        sa.UniqueConstraint(
            "tenant_id",
            "group_id",
            "member_userid",
            name=op.f("uq_group_member_tenant_id_group_id_member_userid"),
        ),
    )
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.create_index(
            "ix_group_member_tenant_customer", ["tenant_id", "customer_id"], unique=False
        )

    op.create_table(
        "transfer_item",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("handover_userid", sa.String(length=64), nullable=False),
        sa.Column("takeover_userid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("takeover_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "batch_id"],
            ["transfer_batch.tenant_id", "transfer_batch.id"],
            name=op.f("fk_transfer_item_tenant_id_batch_id_transfer_batch"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customer.tenant_id", "customer.id"],
            name=op.f("fk_transfer_item_tenant_id_customer_id_customer"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_transfer_item_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_transfer_item")),
        sa.UniqueConstraint(
            "tenant_id",
            "batch_id",
            "subject",
            "subject_key",
            name=op.f("uq_transfer_item_tenant_id_batch_id_subject_subject_key"),
        ),
    )
    with op.batch_alter_table("transfer_item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transfer_item_tenant_status", ["tenant_id", "status"], unique=False
        )
    op.create_table(
        "wecom_corp_tag",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("group_name", sa.String(length=100), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            name=op.f("fk_wecom_corp_tag_tenant_id_account_id_channel_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_wecom_corp_tag_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_wecom_corp_tag")),
        sa.UniqueConstraint(
            "tenant_id",
            "account_id",
            "tag_id",
            name=op.f("uq_wecom_corp_tag_tenant_id_account_id_tag_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("wecom_corp_tag")

    with op.batch_alter_table("transfer_item", schema=None) as batch_op:
        batch_op.drop_index("ix_transfer_item_tenant_status")

    op.drop_table("transfer_item")
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.drop_index("ix_group_member_tenant_customer")

    op.drop_table("group_member")
    with op.batch_alter_table("contact_relation", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_relation_tenant_staff")
        batch_op.drop_index("ix_contact_relation_tenant_external")
        batch_op.drop_index("ix_contact_relation_tenant_customer")
        batch_op.drop_index("ix_contact_relation_tenant_code_added")

    op.drop_table("contact_relation")
    with op.batch_alter_table("customer_group", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_group_tenant_owner")

    op.drop_table("customer_group")
    with op.batch_alter_table("wecom_callback", schema=None) as batch_op:
        batch_op.drop_index("ix_wecom_callback_tenant_status_received")

    op.drop_table("wecom_callback")
    with op.batch_alter_table("transfer_batch", schema=None) as batch_op:
        batch_op.drop_index("ix_transfer_batch_tenant_created")

    op.drop_table("transfer_batch")
    with op.batch_alter_table("channel_code", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_code_tenant_account")

    op.drop_table("channel_code")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_tenant_status_due")

    op.drop_table("outbox_message")
    op.drop_table("channel_account")
