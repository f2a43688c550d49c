"""API shapes for login, sessions, tokens and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siyu.core.actor import Role


class LoginRequest(BaseModel):
    username: str
    password: str
    tenant_id: uuid.UUID | None = Field(
        default=None, description="Tenant to act in; default the first the user may access"
    )


class TenantAccessRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tenant_id: uuid.UUID
    name: str
    slug: str
    role: Role


class MeRead(BaseModel):
    user_id: uuid.UUID | None
    username: str
    tenant_id: uuid.UUID
    role: Role
    staff_id: uuid.UUID | None
    org_unit_id: uuid.UUID | None
    sees_whole_tenant: bool
    permissions: list[str]
    tenants: list[TenantAccessRead]


class LoginResponse(BaseModel):
    token: str = Field(description="Bearer token; shown once, kept only as a hash")
    expires_at: datetime
    me: MeRead


class SwitchTenant(BaseModel):
    tenant_id: uuid.UUID


class ApiTokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenRead):
    token: str = Field(description="The secret, shown only in this response")


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    actor_label: str
    action: str
    subject_type: str | None
    subject_id: uuid.UUID | None
    detail: dict[str, Any]
