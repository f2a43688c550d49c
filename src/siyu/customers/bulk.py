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
from sqlalchemy import JSON, Table, Update, bindparam, case, func, literal, or_, select, update
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from siyu.core import pgcopy
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


Filled = dict[uuid.UUID, frozenset[str]]
"""The ``PROFILE_KEYS`` fields known to hold a value, by customer: kept by a caller for the
customers its own unit of work created (``create_many``), which no other transaction can see,
so that ``apply_many`` fills their gaps without reading them back."""


def filled_fields(profile: Mapping[str, Any]) -> frozenset[str]:
    """The fields ``create_many`` stores a value for, given the profile it was handed."""
    return _interned(frozenset(k for k in PROFILE_KEYS if profile.get(k)))


def _interned(fields: frozenset[str]) -> frozenset[str]:
    """One instance of each set of fields (a few dozen), shared by every entry of a ``Filled``."""
    return _FILLED_SETS.setdefault(fields, fields)


_FILLED_SETS: dict[frozenset[str], frozenset[str]] = {}


def apply_many(
    db: Session,
    actor: Actor,
    profiles: Mapping[uuid.UUID, Mapping[str, Any]],
    *,
    source: str,
    filled: Filled | None = None,
) -> int:
    """Give each customer the profile values that win under the tenant's survivorship rules
    (by default: only the fields it lacks); return how many customers were given values (under
    the default rules a fill is skipped if another transaction filled the field meanwhile).

    ``filled``: what the caller knows of its own new customers (``Filled``). Under the default
    rules their gaps are taken from it instead of read, and it is kept up to date; under other
    rules their entries are dropped (the customers are read).
    """
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
        return _fill_gaps(db, actor, ids, wanted, source, {} if filled is None else filled)
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        for customer in db.scalars(select(Customer).where(Customer.id.in_(part))):
            if filled is not None:
                filled.pop(customer.id, None)
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
    filled: Filled,
) -> int:
    """``apply_many`` under ``keep_first``: each customer takes the offered fields it lacks.

    A customer's gaps come from ``filled`` when it is there, else from reading only "is it
    empty" (nothing decrypted, no ORM objects). The gaps are filled by executemany updates, one
    per set of fields, each guarded by those fields still being empty and adding the fields'
    source to ``field_sources`` in SQL. Phones and emails get their blind indexes as ``_apply``
    gives them; customers the session holds are expired so they are read again.
    """
    db.flush()
    tenant_id = actor.tenant_id
    gaps: dict[uuid.UUID, tuple[str, ...]] = {}
    unknown = []
    for cid in ids:
        known = filled.get(cid)
        if known is None:
            unknown.append(cid)
        else:
            gaps[cid] = tuple(k for k in _SURVIVING if k in wanted[cid] and k not in known)
    for start in range(0, len(unknown), _CHUNK):
        rows = db.execute(
            select(Customer.id, *(e.label(k) for k, e in _EMPTY.items()))
            .where(one_of(db, Customer.id, unknown[start : start + _CHUNK]))
        )  # fmt: skip
        for row in rows:
            offered = wanted[row.id]
            gaps[row.id] = tuple(k for k in _SURVIVING if k in offered and getattr(row, k))
    by_fields: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for cid, fields in gaps.items():
        if not fields:
            continue
        offered = wanted[cid]
        values: dict[str, Any] = {"k_id": cid}
        for k in fields:
            if k == "phone":
                values["v_phone"], values["v_phone_bidx"] = phone_index(tenant_id, offered[k])
            elif k == "email":
                email = _normalise_email(offered[k])
                values["v_email"] = email
                values["v_email_bidx"] = blind_index(tenant_id, "email", email)
            else:
                values[f"v_{k}"] = offered[k]
        by_fields.setdefault(fields, []).append(values)
        if cid in filled:
            filled[cid] = _interned(filled[cid] | set(fields))
    now = utcnow()
    postgres = db.get_bind().dialect.name == "postgresql"
    for fields, changes in by_fields.items():
        stmt = _gap_update(db, tenant_id, fields, source, now)
        if postgres:  # nothing here reads the outcome: the server works while Python goes on
            pgcopy.executemany_later(db.connection(), stmt, changes)
            continue
        for start in range(0, len(changes), _CHUNK):
            db.execute(stmt, changes[start : start + _CHUNK])
    changed = {values["k_id"] for changes in by_fields.values() for values in changes}
    for held in list(db.identity_map.values()):
        if isinstance(held, Customer) and held.id in changed:
            db.expire(held)
    return len(changed)


_EMPTY = {
    k: getattr(Customer, k).is_(None)
    if k in Customer.PII_FIELDS
    else or_(getattr(Customer, k).is_(None), getattr(Customer, k) == "")
    for k in _SURVIVING
}
"""Whether a customer lacks each surviving profile field (encrypted fields are null or set)."""


def _gap_update(
    db: Session, tenant_id: uuid.UUID, fields: tuple[str, ...], source: str, now: datetime
) -> Update:
    """The update filling ``fields`` of one customer (parameters ``k_id``, ``v_<column>``),
    only while they are all still empty, noting ``source`` as theirs in ``field_sources``."""
    table = cast("Table", Customer.__table__)
    columns = [c for k in fields for c in ((k, f"{k}_bidx") if k in _INDEXED else (k,))]
    patch = dict.fromkeys(fields, source)
    current = table.c.field_sources
    merged: Any
    if db.get_bind().dialect.name == "postgresql":
        stored = cast_(current, JSONB)  # SQL or JSON null before any source was noted
        base = case((func.jsonb_typeof(stored) == "object", stored), else_=literal({}, JSONB))
        merged = cast_(base.op("||")(literal(patch, JSONB)), JSON)
    else:  # RFC 7396 merge: a target that is not an object counts as {}
        merged = func.json_patch(func.coalesce(current, "{}"), json.dumps(patch))
    return (
        update(table)
        .where(
            table.c.tenant_id == tenant_id,
            table.c.id == bindparam("k_id"),
            *(_EMPTY[k] for k in fields),
        )
        .values(
            {
                **{name: bindparam(f"v_{name}") for name in columns},
                "field_sources": merged,
                "updated_at": now,
            }
        )
    )


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
