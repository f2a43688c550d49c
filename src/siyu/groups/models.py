"""Customer group chats and their members, as WeCom reports them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKeyConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, TenantScoped, Timestamped


class GroupStatus(StrEnum):
    ACTIVE = "active"
    DISMISSED = "dismissed"


class MemberKind(StrEnum):
    STAFF = "staff"  # type 1: a member of the corp
    CUSTOMER = "customer"  # type 2: an external contact


class CustomerGroup(TenantScoped, Timestamped, Base):
    """A customer group chat of a channel account, owned by a staff member."""

    __tablename__ = "customer_group"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["tenant_id", "owner_staff_id"], ["staff.tenant_id", "staff.id"]),
        UniqueConstraint("tenant_id", "account_id", "chat_id"),
        Index("ix_customer_group_tenant_owner", "tenant_id", "owner_staff_id"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column()
    chat_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    owner_userid: Mapped[str] = mapped_column(String(64))
    owner_staff_id: Mapped[uuid.UUID | None] = mapped_column()
    notice: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[GroupStatus] = mapped_column(String(16), default=GroupStatus.ACTIVE)
    wecom_created_at: Mapped[datetime | None] = mapped_column()
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    customer_count: Mapped[int] = mapped_column(Integer, default=0)
    dismissed_at: Mapped[datetime | None] = mapped_column()
    last_synced_at: Mapped[datetime | None] = mapped_column()


class GroupMember(TenantScoped, Base):
    """A member of a group chat; one who left keeps the row with ``left_at`` set."""

    __tablename__ = "group_member"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["customer_group.tenant_id", "customer_group.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"], ["customer.tenant_id", "customer.id"], ondelete="SET NULL"
        ),
        UniqueConstraint("tenant_id", "group_id", "member_userid"),
        Index("ix_group_member_tenant_customer", "tenant_id", "customer_id"),
    )

    group_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[MemberKind] = mapped_column(String(16))
    member_userid: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[uuid.UUID | None] = mapped_column()
    group_nickname: Mapped[str] = mapped_column(String(100), default="")
    joined_at: Mapped[datetime | None] = mapped_column()
    join_scene: Mapped[int] = mapped_column(Integer, default=0)
    invitor_userid: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    left_at: Mapped[datetime | None] = mapped_column()
