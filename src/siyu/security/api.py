"""Login, session, API token and audit routes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from siyu.config import get_settings
from siyu.core.actor import Actor
from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.security import service
from siyu.security.deps import BearerToken, CurrentActor
from siyu.security.models import AppUser
from siyu.security.rbac import ROLE_PERMS
from siyu.security.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenRead,
    AuditEntryRead,
    LoginRequest,
    LoginResponse,
    MeRead,
    SwitchTenant,
    TenantAccessRead,
)

router = APIRouter(tags=["auth"])


def _me(actor: Actor, user: AppUser, tenants: list[service.TenantAccess]) -> MeRead:
    return MeRead(
        user_id=actor.user_id,
        username=user.username,
        tenant_id=actor.tenant_id,
        role=actor.role,
        staff_id=actor.staff_id,
        org_unit_id=actor.org_unit_id,
        sees_whole_tenant=actor.sees_whole_tenant,
        permissions=sorted(p.value for p in ROLE_PERMS[actor.role]),
        tenants=[TenantAccessRead.model_validate(t) for t in tenants],
    )


@router.post("/auth/login", operation_id="login")
def login(data: LoginRequest) -> LoginResponse:
    """Sign in with username and password; returns a session bearer token."""
    with system_unit_of_work(reason="login") as db:
        result = service.login(
            db,
            username=data.username,
            password=data.password,
            tenant_id=data.tenant_id,
            session_hours=get_settings().session_hours,
        )
        me = _me(result.actor, result.user, service.accessible_tenants(db, result.user))
    return LoginResponse(token=result.token, expires_at=result.expires_at, me=me)


@router.post("/auth/logout", status_code=204, operation_id="logout")
def logout(token: BearerToken) -> None:
    """End the session of this bearer token."""
    with system_unit_of_work(reason="logout") as db:
        service.logout(db, token)


@router.get("/me", operation_id="get_me")
def me(token: BearerToken) -> MeRead:
    """Who the token acts as, with role, permissions and the tenants it may switch to."""
    with system_unit_of_work(reason="describe bearer") as db:
        actor, user = service.resolve_token(db, token)
        return _me(actor, user, service.accessible_tenants(db, user))


@router.post("/me/tenant", operation_id="switch_tenant")
def switch_tenant(data: SwitchTenant, token: BearerToken) -> MeRead:
    """Move this session to another tenant the user may act in (agency users)."""
    with system_unit_of_work(reason="switch tenant") as db:
        actor = service.switch_tenant(db, token, data.tenant_id)
        _, user = service.resolve_token(db, token)
        return _me(actor, user, service.accessible_tenants(db, user))


@router.get("/tokens", operation_id="list_api_tokens")
def list_tokens(actor: CurrentActor) -> list[ApiTokenRead]:
    with unit_of_work(actor) as db:
        return [ApiTokenRead.model_validate(t) for t in service.list_api_tokens(db, actor)]


@router.post("/tokens", status_code=201, operation_id="create_api_token")
def create_token(data: ApiTokenCreate, actor: CurrentActor) -> ApiTokenCreated:
    """Create an API token for yourself in this tenant; the secret is in this response only."""
    with unit_of_work(actor) as db:
        issued = service.create_api_token(
            db, actor, name=data.name, expires_in_days=data.expires_in_days
        )
        read = ApiTokenRead.model_validate(issued.token)
    return ApiTokenCreated(**read.model_dump(), token=issued.secret)


@router.get("/tokens/{token_id}", operation_id="get_api_token")
def get_token(token_id: uuid.UUID, actor: CurrentActor) -> ApiTokenRead:
    with unit_of_work(actor) as db:
        return ApiTokenRead.model_validate(service.get_api_token(db, actor, token_id))


@router.delete("/tokens/{token_id}", operation_id="revoke_api_token")
def revoke_token(token_id: uuid.UUID, actor: CurrentActor) -> ApiTokenRead:
    with unit_of_work(actor) as db:
        return ApiTokenRead.model_validate(service.revoke_api_token(db, actor, token_id))


@router.get("/audit", operation_id="list_audit")
def list_audit(actor: CurrentActor, limit: int = 100) -> list[AuditEntryRead]:
    with unit_of_work(actor) as db:
        return [
            AuditEntryRead.model_validate(e) for e in service.list_audit(db, actor, limit=limit)
        ]
