"""API shapes for tenants, org units and staff."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from siyu.core.actor import Role
from siyu.tenancy.models import OrgKind


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    timezone: str
    locale: str
    created_at: datetime


class TenantCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(description="2-63 lowercase letters, digits and dashes")
    timezone: str = "Asia/Shanghai"
    locale: str = Field(default="zh", pattern="^(zh|en)$")


class TenantUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = None
    locale: str | None = Field(default=None, pattern="^(zh|en)$")


class OrgUnitCreate(BaseModel):
    parent_id: uuid.UUID
    kind: OrgKind
    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=64)


class OrgUnitUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    code: str | None = Field(default=None, max_length=64)
    parent_id: uuid.UUID | None = Field(default=None, description="Move under this unit")


class OrgUnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    parent_id: uuid.UUID | None
    kind: OrgKind
    name: str
    code: str | None
    path: str
    created_at: datetime


class StaffCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    org_unit_id: uuid.UUID
    role: Role
    wecom_userid: str | None = Field(default=None, max_length=64)


class StaffUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    org_unit_id: uuid.UUID | None = None
    role: Role | None = None
    wecom_userid: str | None = Field(default=None, max_length=64)
    is_active: bool | None = None


class StaffRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    org_unit_id: uuid.UUID
    role: Role
    wecom_userid: str | None
    user_id: uuid.UUID | None
    is_active: bool
    created_at: datetime
