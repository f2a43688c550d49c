"""Customers: create, read (scoped, masked by role), search by phone through the blind index."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select, tuple_
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.append import one_of
from siyu.core.db import session_tenant
from siyu.core.errors import Conflict, FieldError, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.core.phone import normalise_phone
from siyu.customers import merge, survivorship
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerCreate, CustomerRead, CustomerUpdate
from siyu.security import masking
from siyu.security.pii import blind_index
from siyu.security.rbac import Perm, require
from siyu.security.scope import scope_to
from siyu.tenancy import service as tenancy

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_PAGE = 200


def _normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidInput(
            f"{raw!r} is not an email address",
            hint="write it like name@example.com",
            errors=[FieldError(field="email", reason="not an email address", value=raw)],
        )
    return email


def normalised_phone(raw: str) -> str:
    """A phone typed by a person, normalised; a bad one is an error naming the ``phone`` field."""
    try:
        return normalise_phone(raw)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.detail,
            hint=exc.hint,
            errors=[FieldError(field="phone", reason="not a mainland mobile number", value=raw)],
        ) from exc


def phone_index(tenant_id: uuid.UUID, raw: str) -> tuple[str, str]:
    """Return ``(normalised phone, blind index)`` for a phone typed by a person."""
    phone = normalised_phone(raw)
    return phone, blind_index(tenant_id, "phone", phone)


def visible_customers(actor: Actor) -> Select[uuid.UUID]:
    """Return a select of the ids of customers in the actor's data scope (for other domains)."""
    stmt = select(Customer.id).where(
        Customer.tenant_id == actor.tenant_id, Customer.merged_into_id.is_(None)
    )
    return scope_to(
        actor, stmt, org_unit_col=Customer.org_unit_id, owner_col=Customer.owner_staff_id
    )


def _scoped(actor: Actor, stmt: Select[Any], *, include_merged: bool = False) -> Select[Any]:
    if not include_merged:
        stmt = stmt.where(Customer.merged_into_id.is_(None))
    return scope_to(
        actor, stmt, org_unit_col=Customer.org_unit_id, owner_col=Customer.owner_staff_id
    )


def get_customer(db: Session, actor: Actor, customer_id: uuid.UUID) -> Customer:
    """Return a customer in the actor's scope; anything else is ``NotFound``.

    A customer merged into another is not found either, but the error names the survivor.
    """
    require(actor, Perm.CUSTOMERS_READ)
    customer: Customer | None = db.scalar(
        _scoped(actor, select(Customer).where(Customer.id == customer_id), include_merged=True)
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    if customer.merged_into_id is not None:
        raise NotFound(
            f"customer {customer_id} was merged into {customer.merged_into_id}",
            hint=f"read customer {customer.merged_into_id}, or undo the merge in its history",
        )
    return customer


@dataclass(frozen=True)
class CustomerList:
    items: list[Customer]
    next_cursor: str | None


def list_customers(
    db: Session,
    actor: Actor,
    *,
    q: str | None = None,
    org_unit_id: uuid.UUID | None = None,
    owner_staff_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> CustomerList:
    """Return customers in scope, newest first. ``q`` matches a phone, member number or name."""
    require(actor, Perm.CUSTOMERS_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit is {limit}", hint=f"use 1 to {MAX_PAGE}")
    stmt = _scoped(actor, select(Customer))
    if q:
        q = q.strip()
        digits = re.sub(r"[\s\-+]", "", q)
        if re.fullmatch(r"(86)?1[3-9]\d{9}", digits):
            _, bidx = phone_index(actor.tenant_id, q)
            stmt = stmt.where(Customer.phone_bidx == bidx)
        elif "@" in q:
            stmt = stmt.where(
                Customer.email_bidx == blind_index(actor.tenant_id, "email", q.lower())
            )
        else:
            stmt = stmt.where(
                or_(Customer.member_no == q, Customer.name.contains(q, autoescape=True))
            )
    if org_unit_id is not None:
        unit = tenancy.get_org_unit(db, actor, org_unit_id)
        stmt = _scoped_to_unit(actor, stmt, unit.path)
    if owner_staff_id is not None:
        stmt = stmt.where(Customer.owner_staff_id == owner_staff_id)
    if cursor:
        at, cid = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Customer.created_at, Customer.id) < tuple_(at, cid))
    rows = list(
        db.scalars(stmt.order_by(Customer.created_at.desc(), Customer.id.desc()).limit(limit + 1))
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return CustomerList(items=rows, next_cursor=next_cursor)


def _scoped_to_unit(actor: Actor, stmt: Select[Any], path: str) -> Select[Any]:
    from siyu.tenancy.models import OrgUnit

    units = select(OrgUnit.id).where(
        OrgUnit.tenant_id == actor.tenant_id, OrgUnit.path.startswith(path, autoescape=True)
    )
    return stmt.where(Customer.org_unit_id.in_(units))


def _apply(db: Session, actor: Actor, customer: Customer, values: dict[str, Any]) -> None:
    tenant_id = session_tenant(db)
    if "phone" in values:
        raw = values.pop("phone")
        if raw:
            customer.phone, customer.phone_bidx = phone_index(tenant_id, raw)
        else:
            customer.phone = customer.phone_bidx = None
    if "email" in values:
        raw = values.pop("email")
        if raw:
            email = _normalise_email(raw)
            customer.email, customer.email_bidx = email, blind_index(tenant_id, "email", email)
        else:
            customer.email = customer.email_bidx = None
    if values.get("org_unit_id") is not None:
        tenancy.get_org_unit(db, actor, values["org_unit_id"])
    if values.get("owner_staff_id") is not None:
        owner = tenancy.staff_by_ids(db, [values["owner_staff_id"]])
        if not owner:
            raise InvalidInput(
                f"staff {values['owner_staff_id']} not found",
                hint="pick an owner from /api/v1/staff",
                errors=[FieldError(field="owner_staff_id", reason="unknown staff")],
            )
    for key, value in values.items():
        setattr(customer, key, value)


def create_customer(db: Session, actor: Actor, *, data: CustomerCreate) -> Customer:
    require(actor, Perm.CUSTOMERS_WRITE)
    customer = Customer(id=new_id())
    values = data.model_dump()
    if actor.staff_id is not None and actor.scope_path is not None:
        values["org_unit_id"] = values["org_unit_id"] or actor.org_unit_id
        if values["owner_staff_id"] is None and actor.role.value == "guide":
            values["owner_staff_id"] = actor.staff_id
    _apply(db, actor, customer, values)
    db.add(customer)
    db.flush()
    # The new customer must be in the creator's scope, or they could create what they can't see.
    get_customer(db, actor, customer.id)
    return customer


def update_customer(
    db: Session, actor: Actor, customer_id: uuid.UUID, *, data: CustomerUpdate
) -> Customer:
    require(actor, Perm.CUSTOMERS_WRITE)
    customer = get_customer(db, actor, customer_id)
    values = data.model_dump(exclude_unset=True)
    _apply(db, actor, customer, dict(values))
    survivorship.note_sources(customer, {k: v for k, v in values.items() if v}, "manual")
    db.flush()
    get_customer(db, actor, customer.id)
    return customer


def present(db: Session, actor: Actor, customers: list[Customer]) -> list[CustomerRead]:
    """Return customers as the actor may see them: masked by role, with store and owner names."""
    units = tenancy.org_units_by_ids(db, [c.org_unit_id for c in customers if c.org_unit_id])
    staff = tenancy.staff_by_ids(db, [c.owner_staff_id for c in customers if c.owner_staff_id])
    out = []
    for c in customers:
        read = CustomerRead.model_validate(c)
        read.phone = masking.phone_for(actor, c.phone)
        read.email = masking.email_for(actor, c.email)
        read.org_unit_name = units[c.org_unit_id].name if c.org_unit_id in units else None
        owner = staff.get(c.owner_staff_id) if c.owner_staff_id else None
        read.owner_staff_name = owner.name if owner else None
        out.append(read)
    return out


def count_customers(db: Session, actor: Actor) -> int:
    from sqlalchemy import func

    require(actor, Perm.CUSTOMERS_READ)
    return db.scalar(_scoped(actor, select(func.count()).select_from(Customer))) or 0


def get_many(db: Session, actor: Actor, customer_ids: Sequence[uuid.UUID]) -> list[Customer]:
    """Return the listed customers that are in scope and not merged, oldest first."""
    require(actor, Perm.CUSTOMERS_READ)
    if not customer_ids:
        return []
    stmt = _scoped(actor, select(Customer).where(Customer.id.in_(set(customer_ids))))
    return list(db.scalars(stmt.order_by(Customer.created_at, Customer.id)))


def apply_profile(
    db: Session, actor: Actor, customer_id: uuid.UUID, *, data: CustomerCreate, source: str
) -> list[str]:
    """Take the fields of ``data`` (from ``source``) that win under the tenant's survivorship
    rules — by default only those the customer lacks; return their names."""
    require(actor, Perm.CUSTOMERS_WRITE)
    customer = get_customer(db, actor, customer_id)
    rules = survivorship.rules(db, actor)
    values = survivorship.changes(rules, customer, data.model_dump(exclude_unset=True), source)
    if values:
        _apply(db, actor, customer, dict(values))
        survivorship.note_sources(customer, values, source)
        db.flush()
    return sorted(values)


def merge_customers(
    db: Session, actor: Actor, *, survivor_id: uuid.UUID, merged_id: uuid.UUID
) -> dict[str, Any]:
    """Fold ``merged_id`` into ``survivor_id``; return the snapshot that undoes it exactly."""
    require(actor, Perm.CUSTOMERS_WRITE)
    survivor = get_customer(db, actor, survivor_id)
    get_customer(db, actor, merged_id)
    snapshot: dict[str, Any] = {"survivor_profile": merge.snapshot_profile(survivor)}
    snapshot["moved"] = merge.move_references(
        db, actor.tenant_id, source_id=merged_id, target_id=survivor_id
    )
    db.expire_all()
    survivor = get_customer(db, actor, survivor_id)
    other = get_customer(db, actor, merged_id)
    snapshot["taken"] = merge.fill_gaps(survivor, other, survivorship.rules(db, actor))
    other.merged_into_id = survivor.id
    db.flush()
    return snapshot


def unmerge_customers(
    db: Session,
    actor: Actor,
    *,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    snapshot: dict[str, Any],
) -> None:
    """Undo ``merge_customers``: rows and profile fields go back to where they were."""
    require(actor, Perm.CUSTOMERS_WRITE)
    try:
        survivor = get_customer(db, actor, survivor_id)
    except NotFound as exc:
        raise Conflict(
            f"customer {survivor_id} is no longer active: {exc.detail}",
            hint="undo the later merge of that customer first",
        ) from exc
    merged: Customer | None = db.scalar(
        _scoped(actor, select(Customer).where(Customer.id == merged_id), include_merged=True)
    )
    if merged is None or merged.merged_into_id != survivor_id:
        raise Conflict(
            f"customer {merged_id} is not merged into {survivor_id}",
            hint="this merge was already undone",
        )
    merge.restore_references(db, actor.tenant_id, snapshot["moved"], back_to=merged_id)
    merge.restore_profile(survivor, snapshot["survivor_profile"])
    merged.merged_into_id = None
    db.flush()
    db.expire_all()


def visible_ids(db: Session, actor: Actor, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Return which of ``ids`` are active customers in the actor's scope.

    The ids go in as one array parameter (``core.append.one_of``): the statement's text is the
    same for every batch, so PostgreSQL prepares it once.
    """
    if not ids:
        return set()
    wanted = list(dict.fromkeys(ids))
    return set(db.scalars(visible_customers(actor).where(one_of(db, Customer.id, wanted))))
