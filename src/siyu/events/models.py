"""Event rows: immutable, idempotent per (tenant, idempotency key)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.append import CUSTOMER_REF, AppendScoped
from siyu.core.clock import utcnow
from siyu.core.db import Base
from siyu.core.types import key_text


class EventType(StrEnum):
    """Event types siyu itself records. Integrations may send their own (``page.viewed``…)."""

    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_MERGED = "customer.merged"
    CUSTOMER_UNMERGED = "customer.unmerged"
    ORDER_PAID = "order.paid"
    ORDER_REFUNDED = "order.refunded"
    ORDER_PARTIALLY_REFUNDED = "order.partially_refunded"
    ORDER_CANCELLED = "order.cancelled"


class Event(AppendScoped, Base):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_event_tenant_customer_occurred", "tenant_id", "customer_id", "occurred_at"),
        Index("ix_event_tenant_type_occurred", "tenant_id", "type", "occurred_at"),
    )

    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(info=CUSTOMER_REF)
    source: Mapped[str] = mapped_column(String(32), default="siyu")
    idempotency_key: Mapped[str | None] = mapped_column(key_text(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
