"""API shapes for orders. Money is integer fen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from siyu.core.batches import InvalidItem, RejectedItem, item_validator
from siyu.identity.schemas import KeyIn
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


MAX_BATCH = 1000
MAX_FEN = 10**15
"""Upper bound of an amount in fen (¥10 trillion): catches unit mistakes, fits a BIGINT."""

ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


def _generic_is_other(value: object) -> object:
    return OrderSource.OTHER.value if value == "generic" else value


UpsertSource = Annotated[OrderSource, BeforeValidator(_generic_is_other)]


def _aware_utc(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a timezone offset, e.g. 2026-01-31T20:15:00+08:00")
    return value.astimezone(UTC)


class OrderLineUpsert(BaseModel):
    """One order line. ``amount_fen`` is the line total after discounts (default qty × price)."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(default="", max_length=64)
    title: str = Field(default="", max_length=200)
    quantity: int = Field(default=1, ge=1, le=1_000_000, strict=True)
    unit_price_fen: int = Field(ge=0, le=MAX_FEN, strict=True)
    amount_fen: int | None = Field(default=None, ge=0, le=MAX_FEN, strict=True)


class OrderUpsert(BaseModel):
    """One order of a batch or webhook delivery, identified by (source, external_id).

    The buyer is ``customer_id`` or ``keys`` (strong keys, as in ``POST /identify``). Status is
    derived from the amounts when omitted; ``refunded`` without ``refunded_fen`` refunds the whole
    order; ``cancelled`` is an order closed without payment (``paid_fen`` 0).
    """

    model_config = ConfigDict(extra="forbid")

    source: UpsertSource | None = Field(
        default=None,
        description="tmall, jd, pdd, douyin, pos, miniprogram, other (alias: generic); "
        "default: the batch's source",
    )
    external_id: ExternalId = Field(description="The order number in the source system")
    status: OrderStatus | None = Field(default=None, description="Default: from the amounts")
    customer_id: uuid.UUID | None = Field(default=None, description="A known siyu customer")
    keys: list[KeyIn] = Field(
        default_factory=list,
        max_length=10,
        description="Or: strong keys of the buyer (phone, email, member_no, unionid, buyer)",
    )
    receiver_name: str | None = Field(default=None, max_length=100)
    phone_masked: str | None = Field(
        default=None, pattern=r"^1[3-9]\d\*{4}\d{4}$", description="e.g. 138****1234"
    )
    province: str | None = Field(default=None, max_length=32)
    city: str | None = Field(default=None, max_length=32)
    district: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=500)
    paid_fen: int = Field(ge=0, le=MAX_FEN, strict=True)
    refunded_fen: int = Field(default=0, ge=0, le=MAX_FEN, strict=True)
    paid_at: datetime = Field(description="Payment time (order time if unpaid), with an offset")
    refunded_at: datetime | None = None
    store_code: str | None = Field(default=None, max_length=64, description="Org unit code")
    org_unit_id: uuid.UUID | None = Field(default=None, description="Or: the org unit id")
    staff_code: str | None = Field(
        default=None, max_length=64, description="Staff of record: their WeCom userid"
    )
    staff_id: uuid.UUID | None = Field(default=None, description="Or: the staff id")
    lines: list[OrderLineUpsert] = Field(default_factory=list, max_length=500)

    @field_validator("paid_at", "refunded_at")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return _aware_utc(info.field_name or "time", value)


LenientOrder = Annotated[
    OrderUpsert | InvalidItem,
    PlainValidator(item_validator(OrderUpsert), json_schema_input_type=OrderUpsert),
]


class OrderBatch(BaseModel):
    """Up to 1,000 orders; each is validated and stored (or rejected) on its own."""

    source: UpsertSource | None = Field(
        default=None, description="Source of the orders that name none"
    )
    orders: list[LenientOrder] = Field(min_length=1, max_length=MAX_BATCH)


class RejectedOrder(RejectedItem):
    source: str | None = None
    external_id: str | None = None


class OrderBatchResult(BaseModel):
    """What a batch did. Counts are orders, except ``customers_*``."""

    received: int
    accepted: int = Field(description="Orders that passed validation and were written")
    inserted: int = Field(description="New orders")
    updated: int = Field(description="Known orders whose status or amounts changed")
    unchanged: int = Field(description="Known orders sent again as they are")
    customers_created: int = Field(description="New customers for buyers siyu did not know")
    customers_matched: int = Field(description="Known customers the new orders joined")
    rejected: list[RejectedOrder]
