"""Customer upserts from a CRM or member system: resolve each through OneID, then update it.

Each customer is identified by strong keys: ``keys`` (unionid, openid, buyer ids …) plus the
``phone``, ``email`` and ``member_no`` it carries, as ``POST /identify`` and manual customers do.
Keys known to several customers merge them (OneID); unknown people become new customers.

Profile rule (``update_mode``): ``overwrite`` (default) — a field the caller sends replaces the
stored value, because a CRM or member system is the authority for the fields it sends;
``fill_gaps`` — it only fills fields the customer lacks, as imports do. A field left out or sent
as ``null`` is never touched (clear fields with ``PATCH /customers/{id}``). A phone or email that
OneID refuses as junk (placeholder, shared by many people) is not written to the profile.

The shapes live here rather than in ``schemas.py`` because they use ``identity.schemas.KeyIn``,
and ``identity.schemas`` itself imports ``customers.schemas``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.batches import (
    InvalidItem,
    RejectedItem,
    app_error_field,
    item_errors,
    item_validator,
    reason_of,
)
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import AppError, FieldError, InvalidInput
from siyu.customers import service as customers
from siyu.customers.models import Customer, Gender
from siyu.customers.schemas import CustomerUpdate
from siyu.identity import service as identity
from siyu.identity.keys import IdentityKey, KeyKind, make_key
from siyu.identity.schemas import KeyIn
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy

MAX_BATCH = 1000


class UpdateMode(StrEnum):
    OVERWRITE = "overwrite"  # fields sent replace stored values
    FILL_GAPS = "fill_gaps"  # fields sent only fill empty ones


class CustomerUpsert(BaseModel):
    """One customer: strong keys, and the profile fields the caller knows."""

    model_config = ConfigDict(extra="forbid")

    keys: list[KeyIn] = Field(
        default_factory=list,
        max_length=10,
        description="Strong keys besides phone, email and member_no (unionid, openid …)",
    )
    member_no: str | None = Field(
        default=None, max_length=64, description="The member number you own (a key too)"
    )
    phone: str | None = Field(default=None, description="Mainland mobile (a key too)")
    email: str | None = Field(default=None, max_length=254, description="A key too")
    name: str | None = Field(default=None, max_length=100)
    gender: Gender | None = None
    birthday_on: date | None = None
    province: str | None = Field(default=None, max_length=32)
    city: str | None = Field(default=None, max_length=32)
    org_unit_id: uuid.UUID | None = Field(default=None, description="Home store")
    store_code: str | None = Field(default=None, max_length=64, description="Or: its code")
    owner_staff_id: uuid.UUID | None = Field(default=None, description="Staff of record")
    staff_code: str | None = Field(
        default=None, max_length=64, description="Or: their WeCom userid"
    )


LenientCustomer = Annotated[
    CustomerUpsert | InvalidItem,
    PlainValidator(item_validator(CustomerUpsert), json_schema_input_type=CustomerUpsert),
]


class CustomerBatch(BaseModel):
    """Up to 1,000 customers; each is resolved and updated (or rejected) on its own."""

    source: str = Field(
        default="api",
        min_length=1,
        max_length=32,
        description="Names the system the keys came from (identities, merge evidence)",
    )
    update_mode: UpdateMode = Field(
        default=UpdateMode.OVERWRITE,
        description="overwrite: fields sent replace stored ones; fill_gaps: only fill empty ones",
    )
    customers: list[LenientCustomer] = Field(min_length=1, max_length=MAX_BATCH)


class Outcome(StrEnum):
    CREATED = "created"  # no customer had these keys
    MATCHED = "matched"  # one customer had them
    MERGED = "merged"  # several had them and were merged into the oldest


class UpsertedCustomer(BaseModel):
    index: int = Field(description="Position in the submitted list, from 0")
    customer_id: uuid.UUID
    outcome: Outcome
    merged_ids: list[uuid.UUID] = Field(description="Customers merged into this one")
    updated_fields: list[str] = Field(description="Profile fields this call changed")
    junk_keys: list[str] = Field(description="Keys refused as junk (never merge customers)")


class CustomerBatchResult(BaseModel):
    received: int
    created: int
    matched: int
    merged: int
    results: list[UpsertedCustomer]
    rejected: list[RejectedItem]


_PROFILE = ("name", "phone", "email", "gender", "birthday_on", "province", "city", "member_no")


class _Refs:
    """Store codes and staff codes (WeCom userids) of the tenant, loaded once when first needed."""

    def __init__(self, db: Session, actor: Actor) -> None:
        self._db, self._actor = db, actor

    @cached_property
    def units(self) -> tuple[dict[str, uuid.UUID], set[uuid.UUID]]:
        units = tenancy.list_org_units(self._db, self._actor)
        return {u.code: u.id for u in units if u.code}, {u.id for u in units}

    @cached_property
    def staff(self) -> tuple[dict[str, uuid.UUID], set[uuid.UUID]]:
        staff = tenancy.list_staff(self._db, self._actor, include_inactive=True)
        return {s.wecom_userid: s.id for s in staff if s.wecom_userid}, {s.id for s in staff}


def upsert_customers(
    db: Session,
    actor: Actor,
    items: Sequence[CustomerUpsert | InvalidItem],
    *,
    source: str = "api",
    update_mode: UpdateMode = UpdateMode.OVERWRITE,
    clock: Clock = SYSTEM_CLOCK,
) -> CustomerBatchResult:
    """Resolve and update each customer; a failing one is rolled back alone and rejected."""
    require(actor, Perm.CUSTOMERS_WRITE)
    refs = _Refs(db, actor)
    out = CustomerBatchResult(
        received=len(items), created=0, matched=0, merged=0, results=[], rejected=[]
    )
    for index, item in enumerate(items):
        if isinstance(item, InvalidItem):
            problems = item.errors
        else:
            problems, keys, values = _check(item, refs)
            if not problems:
                try:
                    with db.begin_nested():
                        done = _upsert_one(
                            db, actor, index, keys, values, source, update_mode, clock
                        )
                except AppError as exc:
                    problems = [app_error_field(exc)]
                else:
                    out.results.append(done)
                    setattr(out, done.outcome.value, getattr(out, done.outcome.value) + 1)
                    continue
        out.rejected.append(
            RejectedItem(index=index, reason=reason_of(problems), errors=item_errors(problems))
        )
    return out


def _check(
    item: CustomerUpsert, refs: _Refs
) -> tuple[list[FieldError], list[IdentityKey], dict[str, Any]]:
    """Return the item's problems, its keys and the profile values it sends (normalised)."""
    problems: list[FieldError] = []
    keys: list[IdentityKey] = []
    for n, key_in in enumerate(item.keys):
        try:
            keys.append(make_key(key_in.kind, key_in.value, key_in.namespace))
        except AppError as exc:
            problems.append(app_error_field(exc, field=f"keys.{n}"))
    sent = item.model_dump(exclude_unset=True, exclude={"keys"})
    values = {k: v for k, v in sent.items() if v is not None and k in _PROFILE}
    for kind, name in ((KeyKind.PHONE, "phone"), (KeyKind.EMAIL, "email")):
        if name in values:
            try:
                key = make_key(kind, values[name])
            except AppError as exc:
                problems.append(app_error_field(exc, field=name))
                continue
            values[name] = key.value
            keys.append(key)
    if values.get("member_no"):
        values["member_no"] = values["member_no"].strip()
        if values["member_no"]:
            keys.append(make_key(KeyKind.MEMBER_NO, values["member_no"]))
        else:
            del values["member_no"]
    if item.store_code is not None or item.org_unit_id is not None:
        unit = _ref("store", item.store_code, item.org_unit_id, *refs.units, problems)
        if unit is not None:
            values["org_unit_id"] = unit
    if item.staff_code is not None or item.owner_staff_id is not None:
        owner = _ref("staff", item.staff_code, item.owner_staff_id, *refs.staff, problems)
        if owner is not None:
            values["owner_staff_id"] = owner
    if not keys and not problems:
        problems.append(
            FieldError(
                reason="no key to identify the customer by: send member_no, phone, email or keys",
                field="keys",
            )
        )
    return problems, list(dict.fromkeys(keys)), values


def _ref(
    what: str,
    code: str | None,
    object_id: uuid.UUID | None,
    by_code: dict[str, uuid.UUID],
    ids: set[uuid.UUID],
    problems: list[FieldError],
) -> uuid.UUID | None:
    code_field = "store_code" if what == "store" else "staff_code"
    id_field = "org_unit_id" if what == "store" else "owner_staff_id"
    found = None
    if code is not None:
        found = by_code.get(code.strip())
        if found is None:
            problems.append(tenancy.unknown_code(what, code, code_field))
            return None
    if object_id is not None:
        if object_id not in ids:
            problems.append(FieldError(reason=f"{what} {object_id} not found", field=id_field))
            return None
        if found is not None and found != object_id:
            problems.append(
                FieldError(
                    reason=f"{code_field} and {id_field} name different {what}", field=id_field
                )
            )
            return None
        found = object_id
    return found


def _upsert_one(
    db: Session,
    actor: Actor,
    index: int,
    keys: list[IdentityKey],
    values: dict[str, Any],
    source: str,
    update_mode: UpdateMode,
    clock: Clock,
) -> UpsertedCustomer:
    result = identity.resolve(db, actor, keys=keys, source=source, clock=clock)
    if result.created and len(result.junk_keys) == len(keys):
        raise InvalidInput(
            f"every key of this customer is junk ({', '.join(result.junk_keys)}): placeholders "
            "or keys shared by many people identify no one",
            hint="send a real phone, member number or unionid",
        )
    customer = customers.get_customer(db, actor, result.customer_id)
    refused = set(result.junk_keys)
    changes = {
        name: value
        for name, value in values.items()
        if name not in refused and _differs(customer, name, value, update_mode)
    }
    if changes:
        identity.change_customer(db, actor, customer.id, data=CustomerUpdate(**changes))
    outcome = Outcome.MATCHED
    if result.created:
        outcome = Outcome.CREATED
    elif result.merged_ids:
        outcome = Outcome.MERGED
    return UpsertedCustomer(
        index=index,
        customer_id=customer.id,
        outcome=outcome,
        merged_ids=result.merged_ids,
        updated_fields=sorted(changes),
        junk_keys=result.junk_keys,
    )


def _differs(customer: Customer, name: str, value: Any, mode: UpdateMode) -> bool:
    current = getattr(customer, name)
    if current == value:
        return False
    empty = current is None or (name == "gender" and current == Gender.UNKNOWN)
    return mode is UpdateMode.OVERWRITE or empty
