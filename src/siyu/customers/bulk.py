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
from siyu.core.clock import utcnow
from siyu.customers import survivorship
from siyu.customers.models import Customer, Gender
from siyu.customers.service import _apply, _normalise_email, normalised_phone, phone_index
from siyu.security.pii import blind_index, blind_indexes
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
    wait: bool = True,
) -> list[uuid.UUID]:
    """Create one customer per profile (keys of ``PROFILE_KEYS``); return their ids in order.

    Phones and emails must already be valid (they come from OneID keys); new customers land in
    the creator's org scope as with ``create_customer``. ``wait=False``: see ``append_frame``.
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
        column["name"].append(profile.get("name") or None)
        column["phone"].append(normalised_phone(phone) if phone else None)
        column["email"].append(_normalise_email(email) if email else None)
        column["province"].append(profile.get("province") or None)
        column["city"].append(profile.get("city") or None)
        column["member_no"].append(profile.get("member_no") or None)
        given = tuple(k for k in PROFILE_KEYS if profile.get(k))
        text = sources.get(given)
        if text is None:
            text = sources.setdefault(given, json.dumps(dict.fromkeys(given, source)))
        column["field_sources"].append(text)
    for field in ("phone", "email"):  # blind indexes as ``phone_index`` and ``_apply`` give them
        values = column[field]
        indexes = iter(blind_indexes(tenant_id, field, [v for v in values if v is not None]))
        column[f"{field}_bidx"] = [None if v is None else next(indexes) for v in values]
    ids = frame_ids(len(profiles))
    frame = pl.DataFrame(column, schema=dict.fromkeys(_CREATED_COLUMNS, pl.Utf8))
    append_frame(
        db,
        Customer,
        frame.with_columns(ids),
        {
            "tenant_id": tenant_id,
            "gender": Gender.UNKNOWN.value,
            "birthday_on": None,
            "org_unit_id": org_unit_id,
            "owner_staff_id": owner,
            "merged_into_id": None,
            "created_at": now,
            "updated_at": now,
        },
        wait=wait,
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
    wanted = {
        cid: {k: v for k, v in p.items() if k in PROFILE_KEYS and v not in survivorship.EMPTY}
        for cid, p in profiles.items()
    }
    ids = [cid for cid, values in wanted.items() if values]
    if not ids:  # nothing offered (an event naming known people): no rules to read
        return 0
    rules = survivorship.rules(db, actor)
    if all(rules.rule_for(k).rule is survivorship.Rule.KEEP_FIRST for k in _SURVIVING):
        return _fill_gaps(db, actor, ids, wanted, source)
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


def _fill_gaps(
    db: Session,
    actor: Actor,
    ids: Sequence[uuid.UUID],
    wanted: Mapping[uuid.UUID, Mapping[str, Any]],
    source: str,
) -> int:
    """``apply_many`` under ``keep_first``: each customer takes the offered fields it lacks.

    No other field can change, so only "is it empty" is read (nothing decrypted, no ORM
    objects) and the gaps are filled by executemany updates, one per set of fields filled.
    Phones and emails get their blind indexes as ``_apply`` gives them; customers the session
    holds are expired so they are read again.
    """
    db.flush()
    empty = {
        k: getattr(Customer, k).is_(None)
        if k in Customer.PII_FIELDS
        else or_(getattr(Customer, k).is_(None), getattr(Customer, k) == "")
        for k in _SURVIVING
    }
    tenant_id = actor.tenant_id
    by_fields: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = db.execute(
            select(Customer.id, Customer.field_sources, *(e.label(k) for k, e in empty.items()))
            .where(one_of(db, Customer.id, ids[start : start + _CHUNK]))
        )  # fmt: skip
        for row in rows:
            offered = wanted[row.id]
            fields = tuple(k for k in _SURVIVING if k in offered and getattr(row, k))
            if not fields:
                continue
            values: dict[str, Any] = {"k_id": row.id}
            for k in fields:
                if k == "phone":
                    values["v_phone"], values["v_phone_bidx"] = phone_index(tenant_id, offered[k])
                elif k == "email":
                    email = _normalise_email(offered[k])
                    values["v_email"] = email
                    values["v_email_bidx"] = blind_index(tenant_id, "email", email)
                else:
                    values[f"v_{k}"] = offered[k]
            values["v_field_sources"] = {
                **(row.field_sources or {}),
                **dict.fromkeys(fields, source),
            }
            by_fields.setdefault(fields, []).append(values)
    table = cast("Table", Customer.__table__)
    now = utcnow()
    for fields, changes in by_fields.items():
        columns = [c for k in fields for c in ((k, f"{k}_bidx") if k in _INDEXED else (k,))]
        stmt = (
            update(table)
            .where(table.c.tenant_id == tenant_id, table.c.id == bindparam("k_id"))
            .values(
                {
                    **{name: bindparam(f"v_{name}") for name in (*columns, "field_sources")},
                    "updated_at": now,
                }
            )
        )
        for start in range(0, len(changes), _CHUNK):
            db.execute(stmt, changes[start : start + _CHUNK])
    changed = {values["k_id"] for changes in by_fields.values() for values in changes}
    for held in list(db.identity_map.values()):
        if isinstance(held, Customer) and held.id in changed:
            db.expire(held)
    return len(changed)


_INDEXED = ("phone", "email")
"""Fields stored with a blind index column beside them (``<field>_bidx``)."""


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
