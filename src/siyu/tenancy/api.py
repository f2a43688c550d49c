"""Tenant, org tree and staff routes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.security.deps import CurrentActor
from siyu.tenancy import service
from siyu.tenancy.schemas import (
    OrgUnitCreate,
    OrgUnitRead,
    OrgUnitUpdate,
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TenantCreate,
    TenantRead,
    TenantUpdate,
)

router = APIRouter(tags=["tenancy"])


@router.get("/tenant", operation_id="get_current_tenant")
def get_current_tenant(actor: CurrentActor) -> TenantRead:
    """The tenant this token acts in."""
    with unit_of_work(actor) as db:
        return TenantRead.model_validate(service.get_tenant(db, actor.tenant_id))


@router.patch("/tenant", operation_id="update_current_tenant")
def update_current_tenant(data: TenantUpdate, actor: CurrentActor) -> TenantRead:
    with unit_of_work(actor) as db:
        tenant = service.update_tenant(db, actor, **data.model_dump(exclude_unset=True))
        return TenantRead.model_validate(tenant)


@router.post("/tenants", status_code=201, operation_id="create_tenant")
def create_tenant(data: TenantCreate, actor: CurrentActor) -> TenantRead:
    """Create a brand tenant managed by the caller's agency (agency users only)."""
    with system_unit_of_work(reason="agency creates tenant") as db:
        tenant = service.create_agency_tenant(db, actor, **data.model_dump())
        return TenantRead.model_validate(tenant)


@router.get("/org-units", operation_id="list_org_units")
def list_org_units(actor: CurrentActor) -> list[OrgUnitRead]:
    """The org tree in your data scope, parents before children."""
    with unit_of_work(actor) as db:
        return [OrgUnitRead.model_validate(u) for u in service.list_org_units(db, actor)]


@router.post("/org-units", status_code=201, operation_id="create_org_unit")
def create_org_unit(data: OrgUnitCreate, actor: CurrentActor) -> OrgUnitRead:
    with unit_of_work(actor) as db:
        unit = service.create_org_unit(db, actor, **data.model_dump())
        return OrgUnitRead.model_validate(unit)


@router.get("/org-units/{org_unit_id}", operation_id="get_org_unit")
def get_org_unit(org_unit_id: uuid.UUID, actor: CurrentActor) -> OrgUnitRead:
    with unit_of_work(actor) as db:
        return OrgUnitRead.model_validate(service.get_org_unit(db, actor, org_unit_id))


@router.patch("/org-units/{org_unit_id}", operation_id="update_org_unit")
def update_org_unit(
    org_unit_id: uuid.UUID, data: OrgUnitUpdate, actor: CurrentActor
) -> OrgUnitRead:
    with unit_of_work(actor) as db:
        unit = service.update_org_unit(
            db, actor, org_unit_id, **data.model_dump(exclude_unset=True)
        )
        return OrgUnitRead.model_validate(unit)


@router.delete("/org-units/{org_unit_id}", status_code=204, operation_id="delete_org_unit")
def delete_org_unit(org_unit_id: uuid.UUID, actor: CurrentActor) -> None:
    with unit_of_work(actor) as db:
        service.delete_org_unit(db, actor, org_unit_id)


@router.get("/staff", operation_id="list_staff")
def list_staff(
    actor: CurrentActor, org_unit_id: uuid.UUID | None = None, include_inactive: bool = False
) -> list[StaffRead]:
    with unit_of_work(actor) as db:
        staff = service.list_staff(
            db, actor, org_unit_id=org_unit_id, include_inactive=include_inactive
        )
        return [StaffRead.model_validate(s) for s in staff]


@router.post("/staff", status_code=201, operation_id="create_staff")
def create_staff(data: StaffCreate, actor: CurrentActor) -> StaffRead:
    with unit_of_work(actor) as db:
        return StaffRead.model_validate(service.create_staff(db, actor, **data.model_dump()))


@router.get("/staff/{staff_id}", operation_id="get_staff")
def get_staff(staff_id: uuid.UUID, actor: CurrentActor) -> StaffRead:
    with unit_of_work(actor) as db:
        return StaffRead.model_validate(service.get_staff(db, actor, staff_id))


@router.patch("/staff/{staff_id}", operation_id="update_staff")
def update_staff(staff_id: uuid.UUID, data: StaffUpdate, actor: CurrentActor) -> StaffRead:
    with unit_of_work(actor) as db:
        staff = service.update_staff(db, actor, staff_id, **data.model_dump(exclude_unset=True))
        return StaffRead.model_validate(staff)
