"""API shapes for customers."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.customers.models import Gender


class CustomerCreate(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, description="Mainland mobile; +86 and dashes allowed")
    email: str | None = Field(default=None, max_length=254)
    gender: Gender = Gender.UNKNOWN
    birthday_on: date | None = None
    province: str | None = Field(default=None, max_length=32)
    city: str | None = Field(default=None, max_length=32)
    member_no: str | None = Field(default=None, max_length=64)
    org_unit_id: uuid.UUID | None = None
    owner_staff_id: uuid.UUID | None = None


class CustomerUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = None
    email: str | None = Field(default=None, max_length=254)
    gender: Gender | None = None
    birthday_on: date | None = None
    province: str | None = Field(default=None, max_length=32)
    city: str | None = Field(default=None, max_length=32)
    member_no: str | None = Field(default=None, max_length=64)
    org_unit_id: uuid.UUID | None = None
    owner_staff_id: uuid.UUID | None = None


class CustomerRead(BaseModel):
    """A customer as the actor may see it: phone and email masked unless the role reads PII."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str | None
    phone: str | None
    email: str | None
    gender: Gender
    birthday_on: date | None
    province: str | None
    city: str | None
    member_no: str | None
    org_unit_id: uuid.UUID | None
    org_unit_name: str | None = None
    owner_staff_id: uuid.UUID | None
    owner_staff_name: str | None = None
    created_at: datetime


class CustomerPage(BaseModel):
    items: list[CustomerRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last page"
    )


class OrderSummary(BaseModel):
    order_count: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    net_fen: int = 0
    first_paid_at: datetime | None = None
    last_paid_at: datetime | None = None
