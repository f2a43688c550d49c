"""API shapes for identities, identify calls, merges and junk keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.customers.schemas import CustomerCreate
from siyu.identity.keys import KeyKind


class KeyIn(BaseModel):
    kind: KeyKind
    value: str = Field(min_length=1, max_length=128)
    namespace: str = Field(
        default="", max_length=64, description="appid for openid; platform for buyer ids"
    )


class IdentifyRequest(BaseModel):
    """Tell siyu that these keys belong to one person (identify / alias)."""

    keys: list[KeyIn] = Field(min_length=1, max_length=20)
    source: str = Field(default="api", max_length=32)
    profile: CustomerCreate | None = Field(
        default=None, description="Fills fields the customer does not have yet; never overwrites"
    )


class IdentifyResponse(BaseModel):
    customer_id: uuid.UUID
    created: bool
    merged_ids: list[uuid.UUID]
    junk_keys: list[str] = Field(description="Keys refused as junk (never merge customers)")


class IdentityRead(BaseModel):
    """One identity of a customer; the value is masked unless the role reads PII."""

    id: uuid.UUID
    kind: str
    namespace: str
    value: str
    source: str
    created_at: datetime
    last_seen_at: datetime


class MergeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    method: str
    evidence: dict[str, Any]
    actor_label: str
    merged_at: datetime
    undone_at: datetime | None


class JunkKeyRead(BaseModel):
    id: uuid.UUID
    kind: str
    namespace: str
    value: str
    reason: str
    status: str
    hit_count: int
    detected_at: datetime


class JunkKeyUpdate(BaseModel):
    status: str = Field(pattern="^(flagged|cleared)$")


class ProposalRunRequest(BaseModel):
    threshold_bp: int = Field(
        default=9000, ge=1, le=10_000, description="Queue pairs at or above this probability"
    )
    auto_accept_bp: int | None = Field(
        default=None, ge=1, le=10_000, description="Merge pairs at or above this at once"
    )


class ProposalRunRead(BaseModel):
    compared_records: int
    proposed: int
    auto_accepted: int


class ProposalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    left_customer_id: uuid.UUID
    right_customer_id: uuid.UUID
    probability_bp: int
    evidence: dict[str, Any]
    status: str
    decided_at: datetime | None
    decided_by: str | None
