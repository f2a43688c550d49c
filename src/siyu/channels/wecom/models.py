"""The inbox of WeCom callbacks: every verified event stored once before it is processed."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

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

from siyu.core.db import Base, TenantScoped


class CallbackStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class WeComCallback(TenantScoped, Base):
    """One decrypted callback event of a channel account.

    WeCom re-sends an event it got no answer for; ``dedupe_key`` (event, subject and
    ``CreateTime``) makes the second copy a no-op. ``payload`` holds the parsed event fields
    (ids, state, welcome code), never the raw ciphertext.
    """

    __tablename__ = "wecom_callback"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "account_id", "dedupe_key"),
        Index("ix_wecom_callback_tenant_status_received", "tenant_id", "status", "received_at"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column()
    dedupe_key: Mapped[str] = mapped_column(String(300))
    event: Mapped[str] = mapped_column(String(64))
    change_type: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column()
    status: Mapped[CallbackStatus] = mapped_column(String(16), default=CallbackStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    processed_at: Mapped[datetime | None] = mapped_column()


class WeComCorpTag(TenantScoped, Base):
    """A mirror of one corp tag (企业客户标签) of a channel account, as WeCom lists it.

    Relations keep WeCom tag ids; this table names them. Tags deleted in WeCom stay with
    ``is_deleted`` so old relations still show their names.
    """

    __tablename__ = "wecom_corp_tag"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("tenant_id", "account_id", "tag_id"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column()
    tag_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    group_id: Mapped[str] = mapped_column(String(64))
    group_name: Mapped[str] = mapped_column(String(100))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    synced_at: Mapped[datetime | None] = mapped_column()
