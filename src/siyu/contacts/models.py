"""Contact relations between staff (WeCom members) and customers (external contacts)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, TenantScoped, Timestamped


class RelationStatus(StrEnum):
    ACTIVE = "active"
    DELETED_BY_CUSTOMER = "deleted_by_customer"  # the customer deleted the staff member
    DELETED_BY_STAFF = "deleted_by_staff"  # the staff member deleted the customer
    TRANSFERRED = "transferred"  # handed to another member by a transfer
    GONE = "gone"  # found missing by a sync or reconciliation; who deleted whom is unknown


class ContactRelation(TenantScoped, Timestamped, Base):
    """One (member, external contact) friendship of a channel account.

    ``channel_code_id`` is the code whose ``state`` came with the add; ``is_new_customer`` is
    false when the customer already had a relation with the brand (a re-add is not a new
    acquisition). A deleted relation keeps its row with the status and ``ended_at``.
    """

    __tablename__ = "contact_relation"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"], ["customer.tenant_id", "customer.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "channel_code_id"],
            ["channel_code.tenant_id", "channel_code.id"],
            ondelete="SET NULL",
        ),
        UniqueConstraint("tenant_id", "account_id", "wecom_userid", "external_userid"),
        Index("ix_contact_relation_tenant_customer", "tenant_id", "customer_id"),
        Index("ix_contact_relation_tenant_staff", "tenant_id", "staff_id"),
        Index("ix_contact_relation_tenant_code_added", "tenant_id", "channel_code_id", "added_at"),
        Index("ix_contact_relation_tenant_external", "tenant_id", "external_userid"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column()
    customer_id: Mapped[uuid.UUID] = mapped_column()
    staff_id: Mapped[uuid.UUID | None] = mapped_column()
    wecom_userid: Mapped[str] = mapped_column(String(64))
    external_userid: Mapped[str] = mapped_column(String(64))
    status: Mapped[RelationStatus] = mapped_column(String(32), default=RelationStatus.ACTIVE)
    added_at: Mapped[datetime] = mapped_column()
    add_way: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str | None] = mapped_column(String(30))
    channel_code_id: Mapped[uuid.UUID | None] = mapped_column()
    is_new_customer: Mapped[bool] = mapped_column(Boolean, default=True)
    remark: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(String(300), default="")
    tag_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    ended_at: Mapped[datetime | None] = mapped_column()
    last_synced_at: Mapped[datetime | None] = mapped_column()
