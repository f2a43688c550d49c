"""Tenants, agencies, the org tree and staff."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor, Role
from siyu.core.db import session_tenant
from siyu.core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.security import service as security
from siyu.security.rbac import Perm, require
from siyu.tenancy.models import Agency, AgencyTenant, OrgKind, OrgUnit, Staff, Tenant

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


# --- tenants and agencies (system scope: these rows belong to no tenant) -------------------


def _check_timezone(tz: str) -> None:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown timezone {tz!r}", hint="use an IANA name such as Asia/Shanghai"
        ) from exc


def create_tenant(
    db: Session,
    *,
    name: str,
    slug: str,
    timezone: str = "Asia/Shanghai",
    locale: str = "zh",
    hq_name: str | None = None,
    agency_id: uuid.UUID | None = None,
) -> Tenant:
    """Create a tenant with its HQ org unit (and link it to an agency). Runs in system scope."""
    if not _SLUG.match(slug):
        raise InvalidInput(
            f"slug {slug!r} is not valid",
            hint="use 2-63 lowercase letters, digits and dashes, starting with a letter or digit",
        )
    _check_timezone(timezone)
    if db.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"a tenant with slug {slug!r} exists", hint="choose another slug")
    tenant = Tenant(id=new_id(), name=name, slug=slug, timezone=timezone, locale=locale)
    db.add(tenant)
    db.flush()
    hq_id = new_id()
    db.add(
        OrgUnit(
            tenant_id=tenant.id,
            id=hq_id,
            parent_id=None,
            kind=OrgKind.HQ,
            name=hq_name or name,
            code="HQ",
            path=f"/{hq_id}/",
        )
    )
    if agency_id is not None:
        db.add(AgencyTenant(agency_id=agency_id, tenant_id=tenant.id))
    db.flush()
    return tenant


def create_agency_tenant(
    db: Session, actor: Actor, *, name: str, slug: str, timezone: str, locale: str
) -> Tenant:
    """Create a tenant run by the acting agency user's agency (system session)."""
    require(actor, Perm.TENANTS_CREATE)
    if actor.role is not Role.AGENCY or actor.agency_id is None:
        raise Forbidden(
            "only agency users create tenants over the API",
            hint="platform operators use `siyu tenant create`",
        )
    return create_tenant(
        db, name=name, slug=slug, timezone=timezone, locale=locale, agency_id=actor.agency_id
    )


def find_tenant_by_slug(db: Session, slug: str) -> Tenant | None:
    return db.scalar(select(Tenant).where(Tenant.slug == slug))


def create_agency(db: Session, *, name: str) -> Agency:
    if db.scalar(select(Agency.id).where(Agency.name == name)) is not None:
        raise Conflict(f"an agency named {name!r} exists", hint="choose another name")
    agency = Agency(id=new_id(), name=name)
    db.add(agency)
    db.flush()
    return agency


def find_agency(db: Session, name: str) -> Agency | None:
    return db.scalar(select(Agency).where(Agency.name == name))


def link_agency(db: Session, *, agency_id: uuid.UUID, tenant_id: uuid.UUID) -> None:
    exists = db.get(AgencyTenant, (agency_id, tenant_id))
    if exists is None:
        db.add(AgencyTenant(agency_id=agency_id, tenant_id=tenant_id))
        db.flush()


def agency_tenant_ids(db: Session, agency_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        db.scalars(select(AgencyTenant.tenant_id).where(AgencyTenant.agency_id == agency_id))
    )


def get_tenant(db: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return tenant


def update_tenant(
    db: Session,
    actor: Actor,
    *,
    name: str | None = None,
    timezone: str | None = None,
    locale: str | None = None,
) -> Tenant:
    """Change the acting tenant's name, timezone or default locale."""
    require(actor, Perm.TENANT_ADMIN)
    tenant = get_tenant(db, actor.tenant_id)
    if name is not None:
        tenant.name = name
    if timezone is not None:
        _check_timezone(timezone)
        tenant.timezone = timezone
    if locale is not None:
        tenant.locale = locale
    db.flush()
    return tenant


# --- org tree -----------------------------------------------------------------------------


def root_unit(db: Session) -> OrgUnit:
    """Return the tenant's HQ (the unit without a parent)."""
    unit = db.scalar(
        select(OrgUnit).where(OrgUnit.tenant_id == session_tenant(db), OrgUnit.parent_id.is_(None))
    )
    if unit is None:
        raise NotFound("this tenant has no HQ org unit", hint="create the tenant with siyu")
    return unit


def _in_scope(actor: Actor, unit: OrgUnit) -> bool:
    return actor.scope_path is None or unit.path.startswith(actor.scope_path)


def get_org_unit(db: Session, actor: Actor, org_unit_id: uuid.UUID) -> OrgUnit:
    """Return an org unit the actor can see; another tenant's or out-of-scope is ``NotFound``."""
    require(actor, Perm.ORG_READ)
    unit = db.get(OrgUnit, (session_tenant(db), org_unit_id))
    if unit is None or not _in_scope(actor, unit):
        raise NotFound(f"org unit {org_unit_id} not found")
    return unit


def list_org_units(db: Session, actor: Actor) -> Sequence[OrgUnit]:
    """Return the org units in the actor's scope, ordered so parents precede children."""
    require(actor, Perm.ORG_READ)
    stmt = select(OrgUnit).order_by(OrgUnit.path)
    if actor.scope_path is not None:
        stmt = stmt.where(OrgUnit.path.startswith(actor.scope_path, autoescape=True))
    units = list(db.scalars(stmt))
    units.sort(key=lambda u: (u.path.count("/"), u.name))
    return units


def create_org_unit(
    db: Session,
    actor: Actor,
    *,
    parent_id: uuid.UUID,
    kind: OrgKind,
    name: str,
    code: str | None = None,
) -> OrgUnit:
    require(actor, Perm.ORG_WRITE)
    if kind is OrgKind.HQ:
        raise InvalidInput(
            "a tenant has exactly one HQ", hint="use kind region, store or department"
        )
    parent = get_org_unit(db, actor, parent_id)
    _check_code_free(db, code)
    unit_id = new_id()
    unit = OrgUnit(
        id=unit_id,
        parent_id=parent.id,
        kind=kind,
        name=name,
        code=code,
        path=f"{parent.path}{unit_id}/",
    )
    db.add(unit)
    db.flush()
    return unit


def _check_code_free(db: Session, code: str | None, *, except_id: uuid.UUID | None = None) -> None:
    if code is None:
        return
    other = db.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
    if other is not None and other != except_id:
        raise Conflict(f"org unit code {code!r} is taken", hint="codes are unique per tenant")


def update_org_unit(
    db: Session,
    actor: Actor,
    org_unit_id: uuid.UUID,
    *,
    name: str | None = None,
    code: str | None = None,
    parent_id: uuid.UUID | None = None,
) -> OrgUnit:
    """Rename or move a unit; moving rewrites the paths of its whole subtree."""
    require(actor, Perm.ORG_WRITE)
    unit = get_org_unit(db, actor, org_unit_id)
    if name is not None:
        unit.name = name
    if code is not None:
        _check_code_free(db, code, except_id=unit.id)
        unit.code = code
    if parent_id is not None and parent_id != unit.parent_id:
        if unit.parent_id is None:
            raise InvalidInput("the HQ cannot be moved", hint="move its regions or stores instead")
        parent = get_org_unit(db, actor, parent_id)
        if parent.path.startswith(unit.path):
            raise InvalidInput(
                f"cannot move {unit.name!r} under its own descendant {parent.name!r}",
                hint="pick a parent outside this unit's subtree",
            )
        old_prefix, new_prefix = unit.path, f"{parent.path}{unit.id}/"
        for node in db.scalars(select(OrgUnit).where(OrgUnit.path.startswith(old_prefix))):
            node.path = new_prefix + node.path[len(old_prefix) :]
        unit.parent_id = parent.id
    db.flush()
    return unit


def delete_org_unit(db: Session, actor: Actor, org_unit_id: uuid.UUID) -> None:
    """Delete an empty unit (no child units, no staff, no customers)."""
    require(actor, Perm.ORG_WRITE)
    unit = get_org_unit(db, actor, org_unit_id)
    if unit.parent_id is None:
        raise InvalidInput("the HQ cannot be deleted")
    children = db.scalar(select(func.count()).where(OrgUnit.parent_id == unit.id)) or 0
    staff = db.scalar(select(func.count()).where(Staff.org_unit_id == unit.id)) or 0
    from siyu.customers.models import Customer

    customers = db.scalar(select(func.count()).where(Customer.org_unit_id == unit.id)) or 0
    if children or staff or customers:
        raise Conflict(
            f"org unit {unit.name!r} still has {children} units, {staff} staff and "
            f"{customers} customers",
            hint="move them to another unit first",
        )
    db.delete(unit)
    db.flush()


# --- staff --------------------------------------------------------------------------------


def get_staff(db: Session, actor: Actor, staff_id: uuid.UUID) -> Staff:
    require(actor, Perm.STAFF_READ)
    staff = db.get(Staff, (session_tenant(db), staff_id))
    if staff is None:
        raise NotFound(f"staff {staff_id} not found")
    if actor.scope_path is not None:
        unit = db.get(OrgUnit, (staff.tenant_id, staff.org_unit_id))
        if unit is None or not unit.path.startswith(actor.scope_path):
            raise NotFound(f"staff {staff_id} not found")
    return staff


def list_staff(
    db: Session,
    actor: Actor,
    *,
    org_unit_id: uuid.UUID | None = None,
    include_inactive: bool = False,
) -> Sequence[Staff]:
    """Return staff in the actor's scope (optionally within one unit's subtree)."""
    require(actor, Perm.STAFF_READ)
    stmt = select(Staff).join(
        OrgUnit, (OrgUnit.tenant_id == Staff.tenant_id) & (OrgUnit.id == Staff.org_unit_id)
    )
    if actor.scope_path is not None:
        stmt = stmt.where(OrgUnit.path.startswith(actor.scope_path, autoescape=True))
    if org_unit_id is not None:
        unit = get_org_unit(db, actor, org_unit_id)
        stmt = stmt.where(OrgUnit.path.startswith(unit.path, autoescape=True))
    if not include_inactive:
        stmt = stmt.where(Staff.is_active.is_(True))
    return list(db.scalars(stmt.order_by(OrgUnit.path, Staff.name)))


def _check_wecom_userid_free(
    db: Session, wecom_userid: str | None, *, except_id: uuid.UUID | None = None
) -> None:
    if wecom_userid is None:
        return
    other = db.scalar(select(Staff.id).where(Staff.wecom_userid == wecom_userid))
    if other is not None and other != except_id:
        raise Conflict(
            f"WeCom userid {wecom_userid!r} already belongs to another staff member",
            hint="each WeCom member maps to one staff record",
        )


def create_staff(
    db: Session,
    actor: Actor,
    *,
    name: str,
    org_unit_id: uuid.UUID,
    role: Role,
    wecom_userid: str | None = None,
    user_id: uuid.UUID | None = None,
) -> Staff:
    require(actor, Perm.STAFF_WRITE)
    if role is Role.AGENCY:
        raise InvalidInput(
            "agency access is granted to agency users, not staff",
            hint="link the agency to this tenant with `siyu agency link`",
        )
    get_org_unit(db, actor, org_unit_id)
    _check_wecom_userid_free(db, wecom_userid)
    if user_id is not None and db.scalar(select(Staff.id).where(Staff.user_id == user_id)):
        raise Conflict("this user already has a staff record in this tenant")
    staff = Staff(
        id=new_id(),
        name=name,
        org_unit_id=org_unit_id,
        role=role,
        wecom_userid=wecom_userid,
        user_id=user_id,
    )
    db.add(staff)
    db.flush()
    security.record_audit(
        db,
        actor,
        "staff.create",
        subject_type="staff",
        subject_id=staff.id,
        detail={"role": role.value, "org_unit_id": str(org_unit_id)},
    )
    return staff


def update_staff(
    db: Session,
    actor: Actor,
    staff_id: uuid.UUID,
    *,
    name: str | None = None,
    org_unit_id: uuid.UUID | None = None,
    role: Role | None = None,
    wecom_userid: str | None = None,
    is_active: bool | None = None,
) -> Staff:
    require(actor, Perm.STAFF_WRITE)
    staff = get_staff(db, actor, staff_id)
    if name is not None:
        staff.name = name
    if org_unit_id is not None:
        get_org_unit(db, actor, org_unit_id)
        staff.org_unit_id = org_unit_id
    if role is not None:
        if role is Role.AGENCY:
            raise InvalidInput("agency is not a staff role", hint="use admin, operator, ...")
        staff.role = role
    if wecom_userid is not None:
        _check_wecom_userid_free(db, wecom_userid, except_id=staff.id)
        staff.wecom_userid = wecom_userid
    if is_active is not None:
        staff.is_active = is_active
    changes = {
        key: str(value)
        for key, value in (("role", role), ("org_unit_id", org_unit_id), ("is_active", is_active))
        if value is not None
    }
    if changes:
        security.record_audit(
            db, actor, "staff.update", subject_type="staff", subject_id=staff.id, detail=changes
        )
    db.flush()
    return staff


def staff_by_ids(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Staff]:
    """Return staff by id (no scope check: for labelling rows the actor can already see)."""
    if not ids:
        return {}
    return {s.id: s for s in db.scalars(select(Staff).where(Staff.id.in_(set(ids))))}


def org_units_by_ids(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OrgUnit]:
    if not ids:
        return {}
    return {u.id: u for u in db.scalars(select(OrgUnit).where(OrgUnit.id.in_(set(ids))))}


def add_staff_at_hq(
    db: Session, *, tenant_id: uuid.UUID, user_id: uuid.UUID, name: str, role: Role
) -> Staff:
    """Give a user a staff record at a tenant's HQ (system scope: bootstrapping, CLI)."""
    hq = db.scalar(
        select(OrgUnit).where(OrgUnit.tenant_id == tenant_id, OrgUnit.parent_id.is_(None))
    )
    if hq is None:
        raise NotFound(f"tenant {tenant_id} has no HQ org unit")
    staff = Staff(
        tenant_id=tenant_id, id=new_id(), name=name, org_unit_id=hq.id, role=role, user_id=user_id
    )
    db.add(staff)
    db.flush()
    return staff


def unknown_code(what: str, code: str, field: str) -> FieldError:
    """The error for a store or staff code that matches nothing, saying where codes come from."""
    where = (
        "store codes are the org units' codes"
        if what == "store"
        else "staff codes are the staff's WeCom userids"
    )
    return FieldError(reason=f"no {what} has code {code!r}; {where}", field=field, value=code)
