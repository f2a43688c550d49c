"""Customer groups and their members as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from siyu.groups.models import GroupStatus, MemberKind


class GroupRead(BaseModel):
    """A customer group chat; counts are of members present now (0 once dismissed)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    chat_id: str
    name: str
    owner_userid: str
    owner_staff_id: uuid.UUID | None
    owner_name: str | None = None
    notice: str
    status: GroupStatus
    member_count: int
    customer_count: int
    wecom_created_at: datetime | None
    dismissed_at: datetime | None
    last_synced_at: datetime | None
    created_at: datetime


class GroupMemberRead(BaseModel):
    """A member of a group; ``customer_id`` links an external member to the customer (if known)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: MemberKind
    member_userid: str
    customer_id: uuid.UUID | None
    customer_name: str | None = None
    staff_id: uuid.UUID | None = None
    staff_name: str | None = None
    group_nickname: str
    joined_at: datetime | None
    join_scene: int
    invitor_userid: str | None
    is_active: bool
    left_at: datetime | None


class GroupDetail(GroupRead):
    members: list[GroupMemberRead]


class GroupPage(BaseModel):
    items: list[GroupRead]
    next_cursor: str | None
