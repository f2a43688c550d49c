"""API shapes for orders. Money is integer fen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siyu.orders.models import OrderSource, OrderStatus


class OrderLineIn(BaseModel):
    sku: str = Field(max_length=64)
    title: str = Field(max_length=200)
    quantity: int = Field(ge=1)
    unit_price_fen: int = Field(ge=0)


class OrderCreate(BaseModel):
    customer_id: uuid.UUID
    source: OrderSource
    external_id: str = Field(min_length=1, max_length=128)
    paid_fen: int = Field(ge=0)
    refunded_fen: int = Field(default=0, ge=0)
    paid_at: datetime
    refunded_at: datetime | None = None
    org_unit_id: uuid.UUID | None = None
    staff_id: uuid.UUID | None = None
    lines: list[OrderLineIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _refund_within_paid(self) -> OrderCreate:
        if self.refunded_fen > self.paid_fen:
            raise ValueError(
                f"refunded_fen {self.refunded_fen} exceeds paid_fen {self.paid_fen}; "
                "a refund cannot exceed what was paid"
            )
        for name in ("paid_at", "refunded_at"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.tzinfo is None:
                raise ValueError(f"{name} needs a timezone offset, e.g. 2026-01-31T20:15:00+08:00")
            setattr(self, name, value.astimezone(UTC))
        return self


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sku: str
    title: str
    quantity: int
    unit_price_fen: int
    amount_fen: int


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID | None
    source: OrderSource
    external_id: str
    status: OrderStatus
    paid_fen: int
    refunded_fen: int
    net_fen: int
    paid_at: datetime
    refunded_at: datetime | None
    org_unit_id: uuid.UUID | None
    staff_id: uuid.UUID | None


class OrderDetail(OrderRead):
    lines: list[OrderLineRead] = Field(default_factory=list)


class SalesOverview(BaseModel):
    """Totals over a period, in fen."""

    order_count: int
    buyer_count: int
    paid_fen: int
    refunded_fen: int
    net_fen: int
    refund_rate_bp: int = Field(description="refunded / paid in basis points")
