"""Orders from every platform and store, money in integer fen, refunds kept apart."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.append import CUSTOMER_REF, AppendScoped
from siyu.core.db import Base, Timestamped
from siyu.core.types import key_text


class OrderSource(StrEnum):
    TMALL = "tmall"
    JD = "jd"
    PDD = "pdd"
    DOUYIN = "douyin"
    POS = "pos"
    MINIPROGRAM = "miniprogram"
    OTHER = "other"


class OrderStatus(StrEnum):
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class Order(AppendScoped, Timestamped, Base):
    """One order. Net GMV is ``paid_fen - refunded_fen``; unique per (source, external id)."""

    __tablename__ = "customer_order"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"]),
        ForeignKeyConstraint(["tenant_id", "staff_id"], ["staff.tenant_id", "staff.id"]),
        UniqueConstraint("tenant_id", "source", "external_id"),
        Index("ix_customer_order_tenant_customer_paid", "tenant_id", "customer_id", "paid_at"),
        Index("ix_customer_order_tenant_paid", "tenant_id", "paid_at"),
    )

    customer_id: Mapped[uuid.UUID | None] = mapped_column(info=CUSTOMER_REF)
    source: Mapped[OrderSource] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(key_text(128))
    status: Mapped[OrderStatus] = mapped_column(String(32))
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column()
    staff_id: Mapped[uuid.UUID | None] = mapped_column()
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[datetime] = mapped_column()
    refunded_at: Mapped[datetime | None] = mapped_column()

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


class OrderLine(AppendScoped, Base):
    """A line of an order (written with it, never alone; no foreign key: see ``AppendScoped``)."""

    __tablename__ = "order_line"
    __table_args__ = (Index("ix_order_line_tenant_order", "tenant_id", "order_id"),)

    order_id: Mapped[uuid.UUID] = mapped_column()
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
