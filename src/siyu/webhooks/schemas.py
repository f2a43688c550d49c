"""API shapes for order webhook endpoints, their secrets and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from siyu.orders.schemas import OrderBatchResult, UpsertSource
from siyu.webhooks.models import OrderWebhookDelivery

RECEIVE_PATH = "/api/v1/hooks/orders/{endpoint_id}"
MAX_KEEP_PREVIOUS_HOURS = 168

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class OrderWebhookCreate(BaseModel):
    name: Name = Field(description="Which order system posts here, e.g. 'POS 收银系统'")
    source: UpsertSource = Field(
        description="Source of the orders it sends: pos, miniprogram, tmall, jd, pdd, douyin, "
        "other (alias: generic)"
    )


class OrderWebhookUpdate(BaseModel):
    name: Name | None = None
    is_active: bool | None = Field(
        default=None, description="false disables the endpoint: deliveries get 404"
    )


class SecretRotation(BaseModel):
    keep_previous_hours: int = Field(
        default=0,
        ge=0,
        le=MAX_KEEP_PREVIOUS_HOURS,
        description="Keep accepting the old secret this long, while the sender switches",
    )


class OrderWebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    source: str
    secret_prefix: str = Field(description="The secret's first characters, to tell them apart")
    is_active: bool
    last_received_at: datetime | None
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the secret before the last rotation is accepted too"
    )
    created_by: str
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def path(self) -> str:
        """Where the order system posts: the server's base URL + this path."""
        return RECEIVE_PATH.format(endpoint_id=self.id)


class OrderWebhookSecret(OrderWebhookRead):
    secret: str = Field(description="The signing secret, shown only in this response")


class DeliveryRead(BaseModel):
    id: uuid.UUID
    delivery_id: str | None
    received_at: datetime
    order_count: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int

    @classmethod
    def of(cls, delivery: OrderWebhookDelivery) -> DeliveryRead:
        result = delivery.result or {}
        return cls(
            id=delivery.id,
            delivery_id=delivery.delivery_id,
            received_at=delivery.received_at,
            order_count=delivery.order_count,
            inserted=result.get("inserted", 0),
            updated=result.get("updated", 0),
            unchanged=result.get("unchanged", 0),
            rejected=len(result.get("rejected", [])),
        )


class OrderWebhookReceipt(OrderBatchResult):
    """The answer to a delivery: what it did, or (``duplicate``) what it did the first time."""

    delivery_id: str | None = None
    duplicate: bool = Field(
        default=False, description="This X-Siyu-Delivery id was processed before; nothing redone"
    )
