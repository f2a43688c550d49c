"""Customers in bulk, for importers and batch OneID: create many, fill many profiles' gaps.

Same rules as the one-at-a-time service (normalised phone and email with blind indexes, the
creator's org scope, gaps filled without overwriting), without an ORM object per new customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor, Role
from siyu.core.append import append_rows
from siyu.core.ids import new_id
from siyu.customers import survivorship
from siyu.customers.models import Customer, Gender
from siyu.customers.service import _apply, _normalise_email, phone_index
from siyu.security.pii import blind_index
from siyu.security.rbac import Perm, require

PROFILE_KEYS = ("name", "phone", "email", "province", "city", "member_no")
"""The profile fields an order or an event can carry about its person."""

_CHUNK = 5_000


def create_many(
    db: Session,
    actor: Actor,
    profiles: Sequence[Mapping[str, Any]],
    *,
    source: str,
    now: datetime,
) -> list[uuid.UUID]:
    """Create one customer per profile (keys of ``PROFILE_KEYS``); return their ids in order.

    Phones and emails must already be valid (they come from OneID keys); new customers land in
    the creator's org scope as with ``create_customer``.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    scoped = actor.staff_id is not None and actor.scope_path is not None
    org_unit_id = actor.org_unit_id if scoped else None
    owner = actor.staff_id if scoped and actor.role is Role.GUIDE else None
    ids = [new_id() for _ in profiles]
    rows = []
    for customer_id, profile in zip(ids, profiles, strict=True):
        phone = profile.get("phone")
        email = profile.get("email")
        phone_value, phone_bidx = phone_index(actor.tenant_id, phone) if phone else (None, None)
        email_value = _normalise_email(email) if email else None
        rows.append(
            {
                "tenant_id": actor.tenant_id,
                "id": customer_id,
                "name": profile.get("name") or None,
                "phone": phone_value,
                "phone_bidx": phone_bidx,
                "email": email_value,
                "email_bidx": (
                    blind_index(actor.tenant_id, "email", email_value) if email_value else None
                ),
                "gender": Gender.UNKNOWN.value,
                "birthday_on": None,
                "province": profile.get("province") or None,
                "city": profile.get("city") or None,
                "member_no": profile.get("member_no") or None,
                "org_unit_id": org_unit_id,
                "owner_staff_id": owner,
                "merged_into_id": None,
                "field_sources": {k: source for k in PROFILE_KEYS if profile.get(k)},
                "created_at": now,
                "updated_at": now,
            }
        )
    append_rows(db, Customer, rows)
    return ids


def apply_many(
    db: Session, actor: Actor, profiles: Mapping[uuid.UUID, Mapping[str, Any]], *, source: str
) -> int:
    """Give each customer the profile values that win under the tenant's survivorship rules
    (by default: only the fields it lacks); return how many customers changed."""
    require(actor, Perm.CUSTOMERS_WRITE)
    rules = survivorship.rules(db, actor)
    wanted = {
        cid: {k: v for k, v in p.items() if k in PROFILE_KEYS and v not in survivorship.EMPTY}
        for cid, p in profiles.items()
    }
    ids = [cid for cid, values in wanted.items() if values]
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        for customer in db.scalars(select(Customer).where(Customer.id.in_(part))):
            values = survivorship.changes(rules, customer, wanted[customer.id], source)
            if values:
                _apply(db, actor, customer, dict(values))
                survivorship.note_sources(customer, values, source)
                changed += 1
    db.flush()
    return changed


def settle_many(
    db: Session,
    actor: Actor,
    profiles: Mapping[uuid.UUID, Mapping[str, Any]],
    *,
    created: set[uuid.UUID],
    source: str,
) -> int:
    """Give customers the fields beyond ``PROFILE_KEYS`` that resolving one by one would.

    ``profiles`` name ``gender``, ``owner_staff_id`` and ``org_unit_id`` (staff and unit ids the
    caller read from the tenant's own records). A customer just created by the batch takes them
    as given, as ``create_customer`` would; any other takes only the surviving fields (gender)
    that win under the tenant's rules, as ``apply_profile`` would. Returns how many changed.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    unknown = {k for p in profiles.values() for k in p} - set(_SETTLED)
    if unknown:
        raise ValueError(f"settle_many takes {', '.join(_SETTLED)}, not {', '.join(unknown)}")
    rules = survivorship.rules(db, actor)
    ids = list(profiles)
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        for customer in db.scalars(select(Customer).where(Customer.id.in_(part))):
            given = {k: v for k, v in profiles[customer.id].items() if v not in survivorship.EMPTY}
            if customer.id in created:
                values = given
            else:
                values = survivorship.changes(rules, customer, given, source)
            if values:
                for name, value in values.items():
                    setattr(customer, name, value)
                survivorship.note_sources(customer, values, source)
                changed += 1
    db.flush()
    return changed


_SETTLED = ("gender", "owner_staff_id", "org_unit_id")
