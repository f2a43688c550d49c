"""API shapes for event ingestion and timelines."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from siyu.identity.schemas import KeyIn

MAX_BATCH = 1000


class EventIn(BaseModel):
    type: str = Field(max_length=64, examples=["page.viewed"])
    idempotency_key: str = Field(
        min_length=1, max_length=200, description="Unique per event; re-sending it is a no-op"
    )
    occurred_at: datetime
    customer_id: uuid.UUID | None = Field(default=None, description="A known siyu customer")
    keys: list[KeyIn] = Field(
        default_factory=list, max_length=10, description="Or: strong keys identifying the person"
    )
    source: str = Field(default="api", max_length=32)
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a timezone offset, e.g. 2026-01-31T20:15:00+08:00")
        return value


class EventBatch(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class RejectedEvent(BaseModel):
    index: int = Field(description="Position in the submitted list, from 0")
    idempotency_key: str
    reason: str


class EventBatchResult(BaseModel):
    accepted: int = Field(description="New events stored")
    duplicates: int = Field(description="Events whose idempotency key was already stored")
    rejected: list[RejectedEvent]


class EventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    type: str
    occurred_at: datetime
    source: str
    data: dict[str, Any]
