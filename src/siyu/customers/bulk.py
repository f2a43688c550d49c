"""Customers in bulk, for importers and batch OneID: create many, fill many profiles' gaps.

Same rules as the one-at-a-time service (normalised phone and email with blind indexes, the
creator's org scope, gaps filled without overwriting), without an ORM object per new customer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import polars as pl
from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from siyu.core.actor import Actor, Role
from siyu.core.append import append_frame, frame_ids, one_of
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
    tenant_id = actor.tenant_id
    column: dict[str, list[Any]] = {k: [] for k in _CREATED_COLUMNS}
    sources: dict[tuple[str, ...], str] = {}
    for profile in profiles:
        phone = profile.get("phone")
        email = profile.get("email")
        phone_value, phone_bidx = phone_index(tenant_id, phone) if phone else (None, None)
        email_value = _normalise_email(email) if email else None
        column["name"].append(profile.get("name") or None)
        column["phone"].append(phone_value)
        column["phone_bidx"].append(phone_bidx)
        column["email"].append(email_value)
        column["email_bidx"].append(
            blind_index(tenant_id, "email", email_value) if email_value else None
        )
        column["province"].append(profile.get("province") or None)
        column["city"].append(profile.get("city") or None)
        column["member_no"].append(profile.get("member_no") or None)
        given = tuple(k for k in PROFILE_KEYS if profile.get(k))
        text = sources.get(given)
        if text is None:
            text = sources.setdefault(given, json.dumps(dict.fromkeys(given, source)))
        column["field_sources"].append(text)
    ids = frame_ids(len(profiles))
    stamp = pl.lit(now, dtype=pl.Datetime("us", "UTC"))
    frame = pl.DataFrame(column, schema=dict.fromkeys(_CREATED_COLUMNS, pl.Utf8))
    append_frame(
        db,
        Customer,
        frame.select(
            pl.lit(str(tenant_id)).alias("tenant_id"),
            ids,
            pl.all(),
            pl.lit(Gender.UNKNOWN.value).alias("gender"),
            pl.lit(None, dtype=pl.Utf8).alias("birthday_on"),
            pl.lit(str(org_unit_id) if org_unit_id else None, dtype=pl.Utf8).alias("org_unit_id"),
            pl.lit(str(owner) if owner else None, dtype=pl.Utf8).alias("owner_staff_id"),
            pl.lit(None, dtype=pl.Utf8).alias("merged_into_id"),
            stamp.alias("created_at"),
            stamp.alias("updated_at"),
        ),
    )
    return [uuid.UUID(i) for i in ids.to_list()]


_CREATED_COLUMNS = (
    *("name", "phone", "phone_bidx", "email", "email_bidx"),
    *("province", "city", "member_no", "field_sources"),
)


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
    if all(rules.rule_for(k).rule is survivorship.Rule.KEEP_FIRST for k in _SURVIVING):
        ids = _with_gaps(db, ids, wanted)
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


_SURVIVING = [k for k in PROFILE_KEYS if k in survivorship.SURVIVING_FIELDS]


def _with_gaps(
    db: Session, ids: Sequence[uuid.UUID], wanted: Mapping[uuid.UUID, Mapping[str, Any]]
) -> list[uuid.UUID]:
    """The customers lacking one of the fields offered to them: under ``keep_first`` no other
    customer can change, so only these are loaded (read as "is it empty", nothing decrypted)."""
    empty = {
        k: getattr(Customer, k).is_(None)
        if k in Customer.PII_FIELDS
        else or_(getattr(Customer, k).is_(None), getattr(Customer, k) == "")
        for k in _SURVIVING
    }
    found = []
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        rows = db.execute(
            select(Customer.id, *(e.label(k) for k, e in empty.items())).where(
                one_of(db, Customer.id, part)
            )
        )
        for row in rows:
            if any(getattr(row, k) for k in wanted[row.id] if k in empty):
                found.append(row.id)
    return found


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
    Reads and writes only these columns (no PII is decrypted), in executemany updates.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    unknown = {k for p in profiles.values() for k in p} - set(_SETTLED)
    if unknown:
        raise ValueError(f"settle_many takes {', '.join(_SETTLED)}, not {', '.join(unknown)}")
    rules = survivorship.rules(db, actor)
    ids = list(profiles)
    changes: list[dict[str, Any]] = []
    for start in range(0, len(ids), _CHUNK):
        rows = db.execute(
            select(
                Customer.id, Customer.gender, Customer.owner_staff_id, Customer.org_unit_id,
                Customer.field_sources,
            ).where(Customer.id.in_(ids[start : start + _CHUNK]))
        )  # fmt: skip
        for row in rows:
            given = {k: v for k, v in profiles[row.id].items() if v not in survivorship.EMPTY}
            if row.id in created:
                values = given
            else:  # the row stands in for the customer: only surviving fields are read
                values = survivorship.changes(rules, cast("Customer", row), given, source)
            if values:
                current = {"gender": row.gender, "owner_staff_id": row.owner_staff_id,
                           "org_unit_id": row.org_unit_id}  # fmt: skip
                sources = {**(row.field_sources or {}), **dict.fromkeys(values, source)}
                changes.append(
                    {"k_id": row.id, **{f"v_{k}": v for k, v in {**current, **values}.items()},
                     "v_field_sources": sources}
                )  # fmt: skip
    table = cast("Table", Customer.__table__)
    stmt = (
        update(table)
        .where(table.c.tenant_id == actor.tenant_id, table.c.id == bindparam("k_id"))
        .values({name: bindparam(f"v_{name}") for name in (*_SETTLED, "field_sources")})
    )
    for start in range(0, len(changes), _CHUNK):
        db.execute(stmt, changes[start : start + _CHUNK])
    return len(changes)


_SETTLED = ("gender", "owner_staff_id", "org_unit_id")
