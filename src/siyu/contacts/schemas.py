"""API shapes of contact relations (who has which customer as a WeCom contact)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from siyu.contacts.models import RelationStatus


class RelationTag(BaseModel):
    """A WeCom corp tag on a relation, named from the account's tag mirror when known."""

    id: str
    name: str | None = Field(default=None, description="None until the corp tags are synced")
    group_name: str | None = None


class ContactRelationRead(BaseModel):
    """One (staff member, customer) WeCom friendship and how it started and ended."""

    id: uuid.UUID
    account_id: uuid.UUID
    account_name: str
    customer_id: uuid.UUID
    staff_id: uuid.UUID | None
    staff_name: str | None = Field(description="None when no staff has this WeCom userid")
    wecom_userid: str
    external_userid: str
    status: RelationStatus
    is_active: bool = Field(description="Still a friend (status active)")
    added_at: datetime
    add_way: int = Field(description="WeCom add_way: 1 scanned a QR code, 2 phone search, …")
    state: str | None = Field(description="The contact way's state that came with the add")
    channel_code_id: uuid.UUID | None
    channel_code_name: str | None
    is_new_customer: bool = Field(
        description="False when the customer already had a relation with the brand (a re-add)"
    )
    remark: str
    description: str
    tags: list[RelationTag]
    ended_at: datetime | None
    last_synced_at: datetime | None
