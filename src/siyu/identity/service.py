"""OneID: deterministic resolution over strong keys, explainable merges, exact unmerges.

A record arrives with strong keys (unionid, phone, buyer id…). Every existing customer owning one
of those keys is the same person: they are merged into the oldest (union-find, done incrementally:
a new record joins one customer or bridges several). Keys that must not merge — blocklisted
placeholders, or keys that would give one customer implausibly many distinct people's ids
(fan-out: a store's own phone typed for walk-in buyers) — are flagged and never link.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import Conflict, FieldError, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers import survivorship
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerCreate, CustomerUpdate
from siyu.events import service as events
from siyu.events.models import EventType
from siyu.identity.keys import EXCLUSIVE, IdentityKey, KeyKind, junk_reason, make_key
from siyu.identity.models import (
    Identity,
    JunkKey,
    JunkStatus,
    MergeMethod,
    MergeRecord,
)
from siyu.security.rbac import Perm, require

DEFAULT_FANOUT_LIMIT = 3


@dataclass
class Resolution:
    """The customer a record resolved to, and what happened on the way."""

    customer_id: uuid.UUID
    created: bool = False
    merged_ids: list[uuid.UUID] = field(default_factory=list)
    junk_keys: list[str] = field(default_factory=list)


def _by_hash(tenant_id: uuid.UUID, keys: Sequence[IdentityKey]) -> dict[str, IdentityKey]:
    """The keys by their hash, which alone tells a tenant's keys apart (it covers the kind)."""
    return {k.hash(tenant_id): k for k in keys}


def _flagged(db: Session, tenant_id: uuid.UUID, keys: Sequence[IdentityKey]) -> set[IdentityKey]:
    if not keys:
        return set()
    by_hash = _by_hash(tenant_id, keys)
    rows = db.scalars(
        select(JunkKey.key_hash).where(
            JunkKey.key_hash.in_(list(by_hash)), JunkKey.status == JunkStatus.FLAGGED
        )
    )
    return {by_hash[h] for h in rows}


def flag_junk(
    db: Session, actor: Actor, key: IdentityKey, reason: str, *, clock: Clock, hits: int = 1
) -> None:
    """Record (or count ``hits`` more uses of) a key that must not merge customers."""
    key_hash = key.hash(actor.tenant_id)
    existing = db.scalar(select(JunkKey).where(JunkKey.key_hash == key_hash))
    if existing is not None:
        existing.hit_count += hits
        return
    db.add(
        JunkKey(
            id=new_id(),
            kind=key.kind.value,
            namespace=key.namespace,
            key_hash=key_hash,
            value=key.value,
            reason=reason,
            hit_count=hits,
            detected_at=clock.now(),
        )
    )
    db.flush()


def _fanout_keys(
    db: Session,
    tenant_id: uuid.UUID,
    keys: Sequence[IdentityKey],
    owners: dict[IdentityKey, uuid.UUID],
    limit: int,
) -> set[IdentityKey]:
    """Return linking keys that would give a customer more than ``limit`` distinct exclusive ids.

    An exclusive key (member number, buyer id, unionid, openid) normally has one value per
    person and namespace; a phone that already joins ``limit`` different ones is shared by many.
    """
    exclusive = [k for k in keys if k.kind in EXCLUSIVE]
    if not exclusive:
        return set()
    bad: set[IdentityKey] = set()
    for key, customer_id in owners.items():
        if key.kind in EXCLUSIVE:
            continue
        for ex in exclusive:
            if owners.get(ex) == customer_id:
                continue
            count = db.scalar(
                select(func.count()).where(
                    Identity.customer_id == customer_id,
                    Identity.kind == ex.kind.value,
                    Identity.namespace == ex.namespace,
                )
            )
            if (count or 0) >= limit:
                bad.add(key)
    return bad


def _split_pairs(db: Session, ids: Sequence[uuid.UUID]) -> set[frozenset[uuid.UUID]]:
    """Pairs an operator separated by undoing a merge: never merge them again automatically."""
    rows = db.execute(
        select(MergeRecord.survivor_id, MergeRecord.merged_id).where(
            MergeRecord.undone_at.is_not(None),
            MergeRecord.survivor_id.in_(ids),
            MergeRecord.merged_id.in_(ids),
        )
    )
    return {frozenset((r.survivor_id, r.merged_id)) for r in rows}


def _anchor(found: Sequence[Customer], owners: dict[IdentityKey, uuid.UUID]) -> Customer:
    """The customer a record belongs to when an operator's split keeps its customers apart.

    That is the one already holding most of the record's exclusive keys (its own unionid,
    external_userid, buyer id...), not merely the oldest: a phone noted again on a contact the
    operator separated from a buyer must stay with the contact. Ties go to the oldest.
    """
    held = {c.id: 0 for c in found}
    for key, owner in owners.items():
        if key.kind in EXCLUSIVE and owner in held:
            held[owner] += 1
    return max(found, key=lambda c: held[c.id])  # max keeps the first (oldest) of equals


def resolve(
    db: Session,
    actor: Actor,
    *,
    keys: Sequence[IdentityKey],
    source: str,
    profile: CustomerCreate | None = None,
    fanout_limit: int | None = DEFAULT_FANOUT_LIMIT,
    clock: Clock = SYSTEM_CLOCK,
) -> Resolution:
    """Return the customer these keys identify, creating, joining or bridging customers."""
    require(actor, Perm.CUSTOMERS_WRITE)
    tenant_id = actor.tenant_id
    keys = list(dict.fromkeys(keys))
    junk: list[str] = []
    flagged = _flagged(db, tenant_id, keys)
    usable = []
    for key in keys:
        reason = junk_reason(key) or ("flagged earlier" if key in flagged else None)
        if reason:
            flag_junk(db, actor, key, reason, clock=clock)
            junk.append(key.label)
        else:
            usable.append(key)
    existing: dict[IdentityKey, Identity] = {}
    if usable:
        by_hash = _by_hash(tenant_id, usable)
        for identity in db.scalars(select(Identity).where(Identity.key_hash.in_(list(by_hash)))):
            existing[by_hash[identity.key_hash]] = identity
    owners = {k: i.customer_id for k, i in existing.items()}
    if fanout_limit is not None:
        for key in _fanout_keys(db, tenant_id, usable, owners, fanout_limit):
            flag_junk(
                db, actor, key, f"links more than {fanout_limit} distinct people", clock=clock
            )
            junk.append(key.label)
            usable.remove(key)
            owners.pop(key)
            existing.pop(key)
    found = customers.get_many(db, actor, list(dict.fromkeys(owners.values())))
    result = Resolution(customer_id=uuid.UUID(int=0), junk_keys=junk)
    if not found:
        customer = customers.create_customer(db, actor, data=profile or CustomerCreate())
        given = (profile or CustomerCreate()).model_dump(exclude_defaults=True)
        survivorship.note_sources(customer, {k: v for k, v in given.items() if v}, source)
        result.customer_id, result.created = customer.id, True
        events.record(
            db,
            actor,
            EventType.CUSTOMER_CREATED,
            customer_id=customer.id,
            source=source,
            data={"keys": [k.label for k in usable]},
            occurred_at=clock.now(),
        )
    else:
        split = _split_pairs(db, [c.id for c in found])
        survivor = _anchor(found, owners) if split else found[0]
        others = [c for c in found if c.id != survivor.id]
        result.customer_id = survivor.id
        for other in others:
            if frozenset((survivor.id, other.id)) in split:
                continue
            shared = sorted({k.label for k, owner in owners.items() if owner == other.id})
            merge(
                db,
                actor,
                survivor_id=survivor.id,
                merged_id=other.id,
                method=MergeMethod.DETERMINISTIC,
                evidence={"rule": "shared strong key", "keys": shared, "source": source},
                clock=clock,
            )
            result.merged_ids.append(other.id)
        if profile is not None:
            customers.apply_profile(db, actor, survivor.id, data=profile, source=source)
    now = clock.now()
    for key in usable:
        known = existing.get(key)
        if known is not None:
            known.last_seen_at = now
            continue
        db.add(
            Identity(
                id=new_id(),
                customer_id=result.customer_id,
                kind=key.kind.value,
                namespace=key.namespace,
                key_hash=key.hash(tenant_id),
                value=key.value,
                source=source,
                last_seen_at=now,
            )
        )
    db.flush()
    return result


def merge(
    db: Session,
    actor: Actor,
    *,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    method: MergeMethod,
    evidence: dict[str, Any],
    clock: Clock = SYSTEM_CLOCK,
) -> MergeRecord:
    """Merge one customer into another, logging the evidence and a snapshot for undo."""
    if survivor_id == merged_id:
        raise Conflict("a customer cannot be merged into itself")
    snapshot = customers.merge_customers(db, actor, survivor_id=survivor_id, merged_id=merged_id)
    record = MergeRecord(
        id=new_id(),
        survivor_id=survivor_id,
        merged_id=merged_id,
        method=method.value,
        evidence=evidence,
        snapshot=snapshot,
        actor_label=actor.label,
        merged_at=clock.now(),
    )
    db.add(record)
    events.record(
        db,
        actor,
        EventType.CUSTOMER_MERGED,
        customer_id=survivor_id,
        occurred_at=clock.now(),
        data={"merged_id": str(merged_id), "merge_id": str(record.id), "method": method.value},
    )
    db.flush()
    return record


def get_merge(db: Session, actor: Actor, merge_id: uuid.UUID) -> MergeRecord:
    require(actor, Perm.CUSTOMERS_READ)
    record = db.get(MergeRecord, (actor.tenant_id, merge_id))
    if record is None:
        raise NotFound(f"merge {merge_id} not found")
    return record


def unmerge(
    db: Session, actor: Actor, merge_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK
) -> MergeRecord:
    """Undo a merge exactly: the merged customer, its identities, orders and events come back."""
    require(actor, Perm.CUSTOMERS_WRITE)
    record = db.get(MergeRecord, (actor.tenant_id, merge_id))
    if record is None:
        raise NotFound(f"merge {merge_id} not found")
    if record.undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone at {record.undone_at.isoformat()}")
    customers.unmerge_customers(
        db,
        actor,
        survivor_id=record.survivor_id,
        merged_id=record.merged_id,
        snapshot=record.snapshot,
    )
    record.undone_at = clock.now()
    events.record(
        db,
        actor,
        EventType.CUSTOMER_UNMERGED,
        customer_id=record.survivor_id,
        occurred_at=clock.now(),
        data={"restored_id": str(record.merged_id), "merge_id": str(record.id)},
    )
    db.flush()
    return record


def list_identities(db: Session, actor: Actor, customer_id: uuid.UUID) -> list[Identity]:
    customers.get_customer(db, actor, customer_id)
    return list(
        db.scalars(
            select(Identity)
            .where(Identity.customer_id == customer_id)
            .order_by(Identity.kind, Identity.created_at)
        )
    )


def merge_history(db: Session, actor: Actor, customer_id: uuid.UUID) -> list[MergeRecord]:
    """Merges this customer took part in, newest first."""
    customers.get_customer(db, actor, customer_id)
    return list(
        db.scalars(
            select(MergeRecord)
            .where(
                or_(MergeRecord.survivor_id == customer_id, MergeRecord.merged_id == customer_id)
            )
            .order_by(MergeRecord.merged_at.desc())
        )
    )


def list_junk_keys(db: Session, actor: Actor, *, status: str | None = None) -> list[JunkKey]:
    require(actor, Perm.CUSTOMERS_READ)
    stmt = select(JunkKey).order_by(JunkKey.detected_at.desc())
    if status:
        stmt = stmt.where(JunkKey.status == status)
    return list(db.scalars(stmt))


def set_junk_status(
    db: Session, actor: Actor, junk_key_id: uuid.UUID, *, status: JunkStatus
) -> JunkKey:
    """Clear a flagged key (it may merge again) or flag it again."""
    require(actor, Perm.CUSTOMERS_WRITE)
    junk = db.get(JunkKey, (actor.tenant_id, junk_key_id))
    if junk is None:
        raise NotFound(f"junk key {junk_key_id} not found")
    junk.status = status.value
    db.flush()
    return junk


def customers_with_keys(
    db: Session, actor: Actor, keys: Sequence[IdentityKey]
) -> dict[IdentityKey, uuid.UUID]:
    """Return which customer owns each of ``keys`` (keys nobody owns are absent)."""
    if not keys:
        return {}
    by_hash = _by_hash(actor.tenant_id, keys)
    rows = db.execute(
        select(Identity.key_hash, Identity.customer_id).where(Identity.key_hash.in_(list(by_hash)))
    )
    return {by_hash[key_hash]: customer_id for key_hash, customer_id in rows}


def _profile_keys(data: CustomerCreate | CustomerUpdate) -> list[IdentityKey]:
    keys = []
    values = data.model_dump(exclude_unset=True)
    for kind, field_name in (
        (KeyKind.PHONE, "phone"),
        (KeyKind.EMAIL, "email"),
        (KeyKind.MEMBER_NO, "member_no"),
    ):
        raw = values.get(field_name)
        if raw:
            try:
                keys.append(make_key(kind, raw))
            except InvalidInput as exc:
                raise InvalidInput(
                    exc.detail,
                    hint=exc.hint,
                    errors=[FieldError(field=field_name, reason=exc.detail, value=str(raw))],
                ) from exc
    return [k for k in keys if junk_reason(k) is None]


def _refuse_taken(
    db: Session, actor: Actor, keys: Sequence[IdentityKey], *, except_id: uuid.UUID | None = None
) -> None:
    for key, owner in customers_with_keys(db, actor, keys).items():
        if owner != except_id:
            raise Conflict(
                f"{key.kind} already belongs to customer {owner}",
                hint="open that customer instead, or merge the two customers",
                errors=[FieldError(field=str(key.kind), reason="belongs to another customer")],
            )


def _attach(
    db: Session, actor: Actor, customer_id: uuid.UUID, keys: Sequence[IdentityKey], source: str
) -> None:
    known = customers_with_keys(db, actor, keys)
    for key in keys:
        if key not in known:
            db.add(
                Identity(
                    id=new_id(),
                    customer_id=customer_id,
                    kind=key.kind.value,
                    namespace=key.namespace,
                    key_hash=key.hash(actor.tenant_id),
                    value=key.value,
                    source=source,
                )
            )
    db.flush()


def register_customer(
    db: Session, actor: Actor, *, data: CustomerCreate, source: str = "manual"
) -> Customer:
    """Create a customer by hand; its phone, email and member number become identities.

    A key that already belongs to another customer is a ``Conflict`` naming that customer.
    """
    keys = _profile_keys(data)
    _refuse_taken(db, actor, keys)
    customer = customers.create_customer(db, actor, data=data)
    _attach(db, actor, customer.id, keys, source)
    return customer


def change_customer(
    db: Session, actor: Actor, customer_id: uuid.UUID, *, data: CustomerUpdate
) -> Customer:
    """Edit a customer; a new phone, email or member number becomes an identity too."""
    keys = _profile_keys(data)
    _refuse_taken(db, actor, keys, except_id=customer_id)
    customer = customers.update_customer(db, actor, customer_id, data=data)
    _attach(db, actor, customer.id, keys, "manual")
    return customer
