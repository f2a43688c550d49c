"""API shapes of channel codes, their welcome messages and their statistics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.acquisition.models import CodeOwner

STATE_MAX = 30  # WeCom: contact-way state ≤ 30 characters (spec §3.3)


class ImageIn(BaseModel):
    """An image: ``pic_url`` (kept) or ``media_id`` (a temporary upload, valid 3 days)."""

    model_config = ConfigDict(extra="forbid")
    msgtype: Literal["image"] = "image"
    pic_url: str | None = Field(default=None, max_length=2048)
    media_id: str | None = Field(default=None, max_length=256)


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msgtype: Literal["link"] = "link"
    title: str = Field(min_length=1)
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    picurl: str | None = Field(default=None, max_length=2048)
    desc: str | None = None


class MiniprogramIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    msgtype: Literal["miniprogram"] = "miniprogram"
    title: str = Field(min_length=1)
    pic_media_id: str = Field(min_length=1, max_length=256)
    appid: str = Field(min_length=1, max_length=64)
    page: str = Field(min_length=1, max_length=1024)


AttachmentIn = Annotated[ImageIn | LinkIn | MiniprogramIn, Field(discriminator="msgtype")]


class WelcomeIn(BaseModel):
    """The welcome sent on every add; text and titles may hold ``{customer_name}`` etc."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list)


class CodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    account_id: uuid.UUID | None = Field(
        default=None, description="WeCom account; may be left out when the tenant has only one"
    )
    state: str | None = Field(
        default=None, description="≤ 30 characters; generated (c_…) when left out"
    )
    owner_kind: CodeOwner
    org_unit_id: uuid.UUID | None = None
    owner_label: str = Field(default="", max_length=100)
    staff_userids: list[str] = Field(min_length=1, max_length=100)
    is_rotating: bool = False
    daily_cap_per_staff: int | None = Field(default=None, ge=1)
    welcome: WelcomeIn | None = None
    tag_ids: list[str] = Field(default_factory=list)
    skip_verify: bool = True


class CodeUpdate(BaseModel):
    """Fields to change; the ``state`` of a code never changes (it is the attribution key)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    owner_kind: CodeOwner | None = None
    org_unit_id: uuid.UUID | None = None
    owner_label: str | None = Field(default=None, max_length=100)
    staff_userids: list[str] | None = Field(default=None, min_length=1, max_length=100)
    is_rotating: bool | None = None
    daily_cap_per_staff: int | None = Field(default=None, ge=1)
    welcome: WelcomeIn | None = None
    tag_ids: list[str] | None = None
    skip_verify: bool | None = None


class CodeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    state: str
    owner_kind: CodeOwner
    org_unit_id: uuid.UUID | None
    owner_label: str
    staff_userids: list[str]
    is_rotating: bool
    daily_cap_per_staff: int | None
    welcome: dict[str, Any]
    tag_ids: list[str]
    skip_verify: bool
    config_id: str | None
    qr_code: str | None
    is_active: bool
    created_at: datetime
    created_by: str


class CodeCounts(BaseModel):
    """What a code (or a group of codes) brought in over a period; money in fen."""

    adds: int = 0
    new_customers: int = 0
    re_adds: int = 0
    deletions: int = 0
    deletions_within_window: int = 0
    net_adds: int = 0
    first_orders: int = 0
    net_gmv_fen: int = 0


class CodeStats(CodeCounts):
    code_id: uuid.UUID
    name: str
    state: str
    owner_kind: CodeOwner
    org_unit_id: uuid.UUID | None
    owner_label: str
    is_active: bool


class GroupStats(CodeCounts):
    """Counts of the codes sharing an owner kind or an org unit (``key`` None: no org unit)."""

    key: str | None
    code_count: int = 0


class StatsReport(BaseModel):
    since: date
    until: date
    deletion_window_days: int
    codes: list[CodeStats]
    totals: CodeCounts
    by_owner_kind: list[GroupStats]
    by_org_unit: list[GroupStats]


class CodeSummary(CodeRead):
    """A code in the list, with its counts over the listed period."""

    stats: CodeCounts


class CodePage(BaseModel):
    items: list[CodeSummary]
    next_cursor: str | None
    since: date
    until: date
