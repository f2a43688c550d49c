"""The outbox: calls to the outside world, committed with the change that asks for them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.clock import utcnow
from siyu.core.db import Base, TenantScoped


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt; the error is kept
    DROPPED = "dropped"  # no longer worth sending (a welcome code past its 20 s, say)


class OutboxMessage(TenantScoped, Base):
    """One outgoing call, sent at least once after commit and de-duplicated by its key.

    ``kind`` names the handler (``wecom.welcome``, ``wecom.mark_tag``…); ``idempotency_key``
    is derived from what asks for the call, never random, and unique per tenant.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_outbox_message_tenant_status_due", "tenant_id", "status", "due_at"),
    )

    kind: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(String(16), default=OutboxStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
