"""Transfer batches and the per-customer (or per-group) items they hand over."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, TenantScoped, Timestamped


class TransferKind(StrEnum):
    RESIGNED = "resigned"  # 离职继承: the handover member has left
    IN_SERVICE = "in_service"  # 在职继承: the handover member stays


class TransferSubject(StrEnum):
    CUSTOMER = "customer"
    GROUP = "group"


class ItemStatus(StrEnum):
    """Where one customer (or group) is; the last four are final."""

    PENDING = "pending"  # chosen, not yet sent to WeCom
    WAITING = "waiting"  # sent; the customer's 24-hour window is running
    ACCEPTED = "accepted"
    REFUSED = "refused"
    LIMIT_REACHED = "limit_reached"  # the receiver holds too many customers (errcode 40129…)
    FAILED = "failed"  # WeCom rejected the item (errcode kept)


FINAL_STATUSES = frozenset(
    {ItemStatus.ACCEPTED, ItemStatus.REFUSED, ItemStatus.LIMIT_REACHED, ItemStatus.FAILED}
)


class TransferBatch(TenantScoped, Timestamped, Base):
    """One transfer an operator started: from one member to one or more receivers."""

    __tablename__ = "transfer_batch"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            ondelete="CASCADE",
        ),
        Index("ix_transfer_batch_tenant_created", "tenant_id", "created_at"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[TransferKind] = mapped_column(String(16))
    handover_userid: Mapped[str] = mapped_column(String(64))
    transfer_success_msg: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    finished_at: Mapped[datetime | None] = mapped_column()


class TransferItem(TenantScoped, Base):
    """One customer or group of a batch, its receiver and its outcome."""

    __tablename__ = "transfer_item"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "batch_id"],
            ["transfer_batch.tenant_id", "transfer_batch.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "customer_id"], ["customer.tenant_id", "customer.id"], ondelete="SET NULL"
        ),
        UniqueConstraint("tenant_id", "batch_id", "subject", "subject_key"),
        Index("ix_transfer_item_tenant_status", "tenant_id", "status"),
    )

    batch_id: Mapped[uuid.UUID] = mapped_column()
    subject: Mapped[TransferSubject] = mapped_column(String(16))
    subject_key: Mapped[str] = mapped_column(String(64))  # external_userid or chat_id
    customer_id: Mapped[uuid.UUID | None] = mapped_column()
    handover_userid: Mapped[str] = mapped_column(String(64))
    takeover_userid: Mapped[str] = mapped_column(String(64))
    status: Mapped[ItemStatus] = mapped_column(String(16), default=ItemStatus.PENDING)
    errcode: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[datetime | None] = mapped_column()
    takeover_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
