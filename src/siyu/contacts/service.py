"""Contact relations: record who added whom, through which channel code, and how it ended.

A relation is one (WeCom member, external contact) pair of a channel account. ``apply_contact``
is the one door for "WeCom says this member has this customer" (an add callback, an edit, a
full sync): it resolves the customer through OneID, links the staff member by WeCom userid,
attributes the add to the channel code whose ``state`` came with it, and records
``wecom.contact_added`` when the friendship starts (or starts again). ``end_relation`` and
``move_relation`` record deletions and transfers. Every state change records its event here,
once, so callers must not record them again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from siyu.acquisition import service as acquisition
from siyu.acquisition.models import ChannelCode
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.models import WeComCorpTag
from siyu.channels.wecom.schemas import ExternalContact, FollowInfo, FollowUser
from siyu.contacts import remark_phones
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.contacts.schemas import ContactRelationRead, RelationTag
from siyu.core.actor import Actor, Role
from siyu.core.clock import FixedClock
from siyu.core.errors import NotFound
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.models import Gender
from siyu.customers.schemas import CustomerCreate
from siyu.events import service as events
from siyu.identity import service as identity
from siyu.identity.keys import KeyKind, make_key
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import Staff

SOURCE = "wecom"
_GENDER = {1: Gender.MALE, 2: Gender.FEMALE}


class ContactEvent(StrEnum):
    """Events recorded on the customer's timeline for WeCom contact changes."""

    ADDED = "wecom.contact_added"
    EDITED = "wecom.contact_edited"
    DELETED_BY_CUSTOMER = "wecom.contact_deleted_by_customer"
    DELETED_BY_STAFF = "wecom.contact_deleted_by_staff"
    TRANSFERRED = "wecom.contact_transferred"
    GONE = "wecom.contact_gone"


_ENDED_EVENT = {
    RelationStatus.DELETED_BY_CUSTOMER: ContactEvent.DELETED_BY_CUSTOMER,
    RelationStatus.DELETED_BY_STAFF: ContactEvent.DELETED_BY_STAFF,
    RelationStatus.TRANSFERRED: ContactEvent.TRANSFERRED,
    RelationStatus.GONE: ContactEvent.GONE,
}


@dataclass(frozen=True)
class ContactApplied:
    """What ``apply_contact`` did.

    ``created_relation`` is true when the friendship started with this call: a new relation,
    or one that had ended and was added again. ``is_new_customer`` is the relation's flag: false
    when the customer already had a relation with the brand.
    """

    relation: ContactRelation
    customer_id: uuid.UUID
    created_relation: bool
    is_new_customer: bool
    code_id: uuid.UUID | None


def _at(unix: int, default: datetime) -> datetime:
    return datetime.fromtimestamp(unix, UTC) if unix > 0 else default


def _tag_ids(follow: FollowUser | FollowInfo) -> list[str]:
    """Corp (and rule-group) tag ids of a follower; personal tags have no id and are skipped."""
    if isinstance(follow, FollowInfo):
        return list(dict.fromkeys(follow.tag_id))
    return list(dict.fromkeys(t.tag_id for t in follow.tags if t.tag_id))


def _staff_of(db: Session, wecom_userid: str) -> Staff | None:
    return db.scalar(select(Staff).where(Staff.wecom_userid == wecom_userid))


def find_relation(
    db: Session, *, account_id: uuid.UUID, wecom_userid: str, external_userid: str
) -> ContactRelation | None:
    """Return the relation of this member and external contact in an account, or ``None``."""
    return db.scalar(
        select(ContactRelation).where(
            ContactRelation.account_id == account_id,
            ContactRelation.wecom_userid == wecom_userid,
            ContactRelation.external_userid == external_userid,
        )
    )


def _record(
    db: Session,
    actor: Actor,
    kind: ContactEvent,
    relation: ContactRelation,
    at: datetime,
    **data: object,
) -> None:
    events.record(
        db,
        actor,
        kind.value,
        customer_id=relation.customer_id,
        occurred_at=at,
        source=SOURCE,
        data={
            "relation_id": str(relation.id),
            "account_id": str(relation.account_id),
            "wecom_userid": relation.wecom_userid,
            "external_userid": relation.external_userid,
            **data,
        },
    )


def apply_contact(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    corp_id: str,
    contact: ExternalContact,
    follow: FollowUser | FollowInfo,
    now: datetime,
    source: str = SOURCE,
) -> ContactApplied:
    """Create or refresh the relation of ``follow.userid`` with ``contact``.

    The customer is resolved by OneID from the external_userid (namespace: the corp id), the
    unionid when WeCom gives one, and the phones the member noted on the contact
    (``remark_mobiles``; see ``remark_phones``), so a noted phone joins or bridges customers
    with a logged, undoable merge; the WeCom name and gender fill the profile only where the
    tenant's survivorship rules let a ``wecom`` value win. A new customer's staff of record is
    the member who added them (when a staff member has that WeCom userid). Remark, description
    and tags are WeCom's current values. Records ``wecom.contact_added`` when the relation
    starts (``created_relation``).
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    external_userid = contact.external_userid
    keys = [make_key(KeyKind.EXTERNAL_USERID, external_userid, corp_id)]
    if contact.unionid:
        keys.append(make_key(KeyKind.UNIONID, contact.unionid))
    relation = find_relation(
        db, account_id=account_id, wecom_userid=follow.userid, external_userid=external_userid
    )
    noted = remark_phones.noted_phones(follow)
    if noted.keys:
        holder = (
            relation.customer_id
            if relation is not None
            else identity.customers_with_keys(db, actor, keys[:1]).get(keys[0])
        )
        noting = remark_phones.Noting(external_userid, holder, noted.keys)
        crowded = remark_phones.crowded(
            db, actor, account_id=account_id, notings=[noting], clock=FixedClock(now)
        )
        keys.extend(k for k in noted.keys if k not in crowded)
    staff = _staff_of(db, follow.userid)
    profile = CustomerCreate(
        name=contact.name[:100] or None,
        gender=_GENDER.get(contact.gender, Gender.UNKNOWN),
        owner_staff_id=staff.id if staff else None,
        org_unit_id=staff.org_unit_id if staff else None,
    )
    resolution = identity.resolve(
        db, actor, keys=keys, source=source, profile=profile, clock=FixedClock(now)
    )
    customer_id = resolution.customer_id
    added_at = _at(follow.createtime, now)
    code = acquisition.code_for_state(db, actor, follow.state)
    started = relation is None or relation.status != RelationStatus.ACTIVE
    if relation is None:
        had_relation = (
            db.scalar(
                select(ContactRelation.id)
                .where(ContactRelation.customer_id == customer_id)
                .limit(1)
            )
            is not None
        )
        relation = ContactRelation(
            id=new_id(),
            account_id=account_id,
            customer_id=customer_id,
            wecom_userid=follow.userid,
            external_userid=external_userid,
            status=RelationStatus.ACTIVE,
            added_at=added_at,
            is_new_customer=not had_relation,
            created_at=now,
        )
        db.add(relation)
    elif started:  # added again after a deletion or a transfer away
        relation.status = RelationStatus.ACTIVE
        relation.ended_at = None
        relation.added_at = added_at
        relation.is_new_customer = False
    if started or (relation.channel_code_id is None and code is not None):
        relation.state = follow.state or None
        relation.channel_code_id = code.id if code else None
        relation.add_way = follow.add_way
    relation.customer_id = customer_id
    if staff is not None:
        relation.staff_id = staff.id
    relation.remark = follow.remark[:100]
    relation.description = follow.description[:300]
    relation.tag_ids = _tag_ids(follow)
    relation.last_synced_at = now
    db.flush()
    remark_phones.log_skipped(
        noted,
        relation_id=relation.id,
        account_id=account_id,
        wecom_userid=follow.userid,
        external_userid=external_userid,
    )
    if started:
        _record(
            db,
            actor,
            ContactEvent.ADDED,
            relation,
            added_at,
            channel_code_id=str(relation.channel_code_id) if relation.channel_code_id else None,
            state=relation.state,
            add_way=relation.add_way,
            is_new_customer=relation.is_new_customer,
        )
    return ContactApplied(
        relation=relation,
        customer_id=customer_id,
        created_relation=started,
        is_new_customer=relation.is_new_customer,
        code_id=relation.channel_code_id,
    )


def record_edit(db: Session, actor: Actor, relation: ContactRelation, *, at: datetime) -> None:
    """Record that the member edited the relation's remark, description or tags in WeCom."""
    require(actor, Perm.CUSTOMERS_WRITE)
    _record(
        db,
        actor,
        ContactEvent.EDITED,
        relation,
        at,
        remark=relation.remark,
        tag_ids=list(relation.tag_ids),
    )


def end_relation(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    wecom_userid: str,
    external_userid: str,
    status: RelationStatus,
    at: datetime,
) -> ContactRelation | None:
    """Mark an active relation as ended with ``status`` at ``at``; return it.

    ``None`` when siyu never knew the relation. A relation that already ended keeps its first
    ending (running twice changes nothing), except ``gone`` (a sync found it missing without
    knowing who deleted whom): a deletion callback arriving later says who, and when. Records
    the matching ``wecom.contact_*`` event.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    if status is RelationStatus.ACTIVE:
        raise ValueError("end_relation needs an ending status, not active")
    relation = find_relation(
        db, account_id=account_id, wecom_userid=wecom_userid, external_userid=external_userid
    )
    if relation is None:
        return None
    refines = relation.status == RelationStatus.GONE and status is not RelationStatus.GONE
    if relation.status != RelationStatus.ACTIVE and not refines:
        return relation
    relation.status = status
    relation.ended_at = at
    db.flush()
    _record(db, actor, _ENDED_EVENT[status], relation, at)
    return relation


def move_relation(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    external_userid: str,
    from_userid: str,
    to_userid: str,
    at: datetime,
) -> ContactRelation:
    """Hand a customer from one member to another (a transfer WeCom completed).

    The old relation ends as ``transferred``; the receiver gets an active relation of the same
    customer that keeps the channel code and is not a new customer. Safe to run twice.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    old = find_relation(
        db, account_id=account_id, wecom_userid=from_userid, external_userid=external_userid
    )
    if old is None:
        raise NotFound(
            f"no relation of {from_userid!r} with customer {external_userid!r} in account "
            f"{account_id}",
            hint="sync the account's contacts first (`siyu wecom sync`), then retry",
        )
    if old.status == RelationStatus.ACTIVE:
        old.status = RelationStatus.TRANSFERRED
        old.ended_at = at
        db.flush()
        _record(db, actor, ContactEvent.TRANSFERRED, old, at, to_userid=to_userid)
    new = find_relation(
        db, account_id=account_id, wecom_userid=to_userid, external_userid=external_userid
    )
    staff = _staff_of(db, to_userid)
    if new is None:
        new = ContactRelation(
            id=new_id(),
            account_id=account_id,
            customer_id=old.customer_id,
            wecom_userid=to_userid,
            external_userid=external_userid,
            added_at=at,
            add_way=old.add_way,
            created_at=at,
        )
        db.add(new)
    elif new.status == RelationStatus.ACTIVE:
        return new
    new.status = RelationStatus.ACTIVE
    new.ended_at = None
    new.added_at = at
    new.customer_id = old.customer_id
    new.staff_id = staff.id if staff else new.staff_id
    new.state = old.state
    new.channel_code_id = old.channel_code_id
    new.is_new_customer = False
    new.tag_ids = list(old.tag_ids)
    db.flush()
    return new


def add_relation_tags(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    wecom_userid: str,
    external_userid: str,
    tag_ids: Sequence[str],
) -> ContactRelation | None:
    """Add corp tags siyu marked through the API (WeCom sends no callback for those)."""
    require(actor, Perm.CUSTOMERS_WRITE)
    relation = find_relation(
        db, account_id=account_id, wecom_userid=wecom_userid, external_userid=external_userid
    )
    if relation is None:
        return None
    relation.tag_ids = list(dict.fromkeys([*relation.tag_ids, *tag_ids]))
    db.flush()
    return relation


def _scoped(actor: Actor, stmt: Select[ContactRelation]) -> Select[ContactRelation]:
    """Guides see their own relations; scoped managers those of customers in their scope."""
    if actor.role is Role.GUIDE:
        if actor.staff_id is None:
            return stmt.where(ContactRelation.id.is_(None))
        return stmt.where(ContactRelation.staff_id == actor.staff_id)
    if actor.scope_path is None:
        return stmt
    return stmt.where(ContactRelation.customer_id.in_(customers.visible_customers(actor)))


def list_relations(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID | None = None,
    wecom_userid: str | None = None,
    customer_id: uuid.UUID | None = None,
    status: RelationStatus | None = None,
    limit: int | None = None,
) -> list[ContactRelation]:
    """Return relations in the actor's scope, latest added first (all of them without limit)."""
    require(actor, Perm.CUSTOMERS_READ)
    stmt = select(ContactRelation)
    if account_id is not None:
        stmt = stmt.where(ContactRelation.account_id == account_id)
    if wecom_userid is not None:
        stmt = stmt.where(ContactRelation.wecom_userid == wecom_userid)
    if customer_id is not None:
        stmt = stmt.where(ContactRelation.customer_id == customer_id)
    if status is not None:
        stmt = stmt.where(ContactRelation.status == status.value)
    stmt = _scoped(actor, stmt).order_by(ContactRelation.added_at.desc(), ContactRelation.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(db.scalars(stmt))


def relations_of_customer(
    db: Session, actor: Actor, customer_id: uuid.UUID
) -> list[ContactRelation]:
    """Return every relation of a customer in scope (``NotFound`` otherwise), latest first."""
    customer = customers.get_customer(db, actor, customer_id)
    stmt = select(ContactRelation).where(ContactRelation.customer_id == customer.id)
    return list(
        db.scalars(stmt.order_by(ContactRelation.added_at.desc(), ContactRelation.id.desc()))
    )


def present(
    db: Session, actor: Actor, relations: Sequence[ContactRelation]
) -> list[ContactRelationRead]:
    """Return relations with the names of their account, staff, channel code and tags."""
    require(actor, Perm.CUSTOMERS_READ)
    if not relations:
        return []
    account_ids = {r.account_id for r in relations}
    accounts = {
        row.id: row.name
        for row in db.execute(
            select(ChannelAccount.id, ChannelAccount.name).where(ChannelAccount.id.in_(account_ids))
        )
    }
    staff = tenancy.staff_by_ids(db, [r.staff_id for r in relations if r.staff_id])
    code_ids = {r.channel_code_id for r in relations if r.channel_code_id}
    codes = {
        row.id: row.name
        for row in db.execute(
            select(ChannelCode.id, ChannelCode.name).where(ChannelCode.id.in_(code_ids))
        )
    }
    tag_ids = {t for r in relations for t in r.tag_ids}
    tags = (
        {
            (t.account_id, t.tag_id): t
            for t in db.scalars(
                select(WeComCorpTag).where(
                    WeComCorpTag.account_id.in_(account_ids), WeComCorpTag.tag_id.in_(tag_ids)
                )
            )
        }
        if tag_ids
        else {}
    )

    def tag(relation: ContactRelation, tag_id: str) -> RelationTag:
        known = tags.get((relation.account_id, tag_id))
        if known is None:
            return RelationTag(id=tag_id)
        return RelationTag(id=tag_id, name=known.name, group_name=known.group_name)

    return [
        ContactRelationRead(
            id=r.id,
            account_id=r.account_id,
            account_name=accounts.get(r.account_id, ""),
            customer_id=r.customer_id,
            staff_id=r.staff_id,
            staff_name=staff[r.staff_id].name if r.staff_id in staff else None,
            wecom_userid=r.wecom_userid,
            external_userid=r.external_userid,
            status=r.status,
            is_active=r.status == RelationStatus.ACTIVE,
            added_at=r.added_at,
            add_way=r.add_way,
            state=r.state,
            channel_code_id=r.channel_code_id,
            channel_code_name=codes.get(r.channel_code_id) if r.channel_code_id else None,
            is_new_customer=r.is_new_customer,
            remark=r.remark,
            description=r.description,
            tags=[tag(r, t) for t in r.tag_ids],
            ended_at=r.ended_at,
            last_synced_at=r.last_synced_at,
        )
        for r in relations
    ]
