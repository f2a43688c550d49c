"""Customer groups (客户群): apply what WeCom reports, and read groups with their members.

``apply_group`` writes one ``groupchat/get`` answer: the group row and its members. Members not
in the answer any more keep their row with ``left_at``; members who come back are active again.
External members (type 2) are linked to the customer owning their ``external_userid`` (or
``unionid``) identity; an external member nobody added as a contact stays unlinked until the
customer exists. The first time a group is seen, its members are written without events; after
that every customer who joins or leaves gets a ``wecom.group_joined`` / ``wecom.group_left``
event, for journeys and the timeline.

A dismissed group keeps its row and members (all marked as left at the dismissal); counts are of
members present now, so a dismissed group shows 0.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select, tuple_
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.channels.wecom.schemas import GroupChat, GroupChatMember
from siyu.core.actor import Actor
from siyu.core.errors import FieldError, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.events import service as events
from siyu.groups.models import CustomerGroup, GroupMember, GroupStatus, MemberKind
from siyu.groups.schemas import GroupDetail, GroupMemberRead, GroupRead
from siyu.identity import service as identity
from siyu.identity.keys import IdentityKey, KeyKind
from siyu.security.rbac import Perm, require
from siyu.security.scope import scope_to
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import Staff

MAX_PAGE = 200
SOURCE = "wecom"
EVENT_JOINED = "wecom.group_joined"
EVENT_LEFT = "wecom.group_left"


@dataclass
class GroupApplied:
    """What ``apply_group`` did: the group, whether it is new or changed, who came and went."""

    group: CustomerGroup
    created: bool = False
    changed: bool = False
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GroupList:
    items: list[CustomerGroup]
    next_cursor: str | None


def _stamp(seconds: int) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def staff_ids_by_userid(db: Session, userids: Iterable[str]) -> dict[str, uuid.UUID]:
    """Return the staff id of each WeCom userid that a staff record names (others are absent).

    A read of the tenant's staff directory, scoped to the session's tenant like every ORM query.
    """
    wanted = sorted(set(userids))
    found: dict[str, uuid.UUID] = {}
    for start in range(0, len(wanted), 1000):
        rows = db.execute(
            select(Staff.wecom_userid, Staff.id).where(
                Staff.wecom_userid.in_(wanted[start : start + 1000])
            )
        )
        found.update({userid: staff_id for userid, staff_id in rows if userid})
    return found


def _find(db: Session, account_id: uuid.UUID, chat_id: str) -> CustomerGroup | None:
    return db.scalar(
        select(CustomerGroup).where(
            CustomerGroup.account_id == account_id, CustomerGroup.chat_id == chat_id
        )
    )


def _members_of(db: Session, group_id: uuid.UUID) -> list[GroupMember]:
    return list(db.scalars(select(GroupMember).where(GroupMember.group_id == group_id)))


def _customer_links(
    db: Session, actor: Actor, corp_id: str, members: Sequence[GroupChatMember]
) -> dict[str, uuid.UUID]:
    """Return the customer of each external member, by external_userid first, then unionid."""
    external = [m for m in members if m.type == 2]
    if not external:
        return {}
    by_id = {IdentityKey(KeyKind.EXTERNAL_USERID, m.userid, corp_id): m.userid for m in external}
    by_union = {IdentityKey(KeyKind.UNIONID, m.unionid): m.userid for m in external if m.unionid}
    owners = identity.customers_with_keys(db, actor, [*by_id, *by_union])
    links = {by_union[k]: owners[k] for k in by_union if k in owners}
    links.update({by_id[k]: owners[k] for k in by_id if k in owners})
    return links


def apply_group(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    chat: GroupChat,
    now: datetime,
    corp_id: str | None = None,
    staff_ids: Mapping[str, uuid.UUID] | None = None,
) -> GroupApplied:
    """Write one group as ``groupchat/get`` reports it (idempotent; only changes are written).

    Batch callers pass the account's ``corp_id`` and a ``staff_ids`` map (WeCom userid → staff)
    to save a look-up per group.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    if corp_id is None:
        corp_id = channels.wecom_config(channels.get_account(db, actor, account_id)).corp_id
    userids = {chat.owner, *(m.userid for m in chat.member_list if m.type == 1)}
    if staff_ids is None:
        staff_ids = staff_ids_by_userid(db, userids)
    group = _find(db, account_id, chat.chat_id)
    created = group is None
    if group is None:
        group = CustomerGroup(
            id=new_id(),
            account_id=account_id,
            chat_id=chat.chat_id,
            owner_userid=chat.owner,
            status=GroupStatus.ACTIVE,
            created_at=now,
        )
        db.add(group)
    result = GroupApplied(group=group, created=created, changed=created)
    values: dict[str, Any] = {
        "name": chat.name[:100],
        "owner_userid": chat.owner,
        "owner_staff_id": staff_ids.get(chat.owner),
        "notice": chat.notice,
        "status": GroupStatus.ACTIVE,
        "dismissed_at": None,
        "wecom_created_at": _stamp(chat.create_time),
        "member_count": len(chat.member_list),
        "customer_count": sum(1 for m in chat.member_list if m.type == 2),
    }
    for name, value in values.items():
        if getattr(group, name) != value:
            setattr(group, name, value)
            result.changed = True
    existing = {} if result.created else {m.member_userid: m for m in _members_of(db, group.id)}
    links = _customer_links(db, actor, corp_id, chat.member_list)
    present = set()
    for member in chat.member_list:
        present.add(member.userid)
        row = existing.get(member.userid)
        kind = MemberKind.CUSTOMER if member.type == 2 else MemberKind.STAFF
        wanted: dict[str, Any] = {
            "kind": kind,
            "customer_id": links.get(member.userid),
            "group_nickname": member.group_nickname[:100],
            "joined_at": _stamp(member.join_time),
            "join_scene": member.join_scene,
            "invitor_userid": member.invitor.userid if member.invitor else None,
            "is_active": True,
            "left_at": None,
        }
        if row is None:
            db.add(GroupMember(id=new_id(), group_id=group.id, member_userid=member.userid,
                               **wanted))  # fmt: skip
            if not result.created:
                result.joined.append(member.userid)
            result.changed = True
            continue
        if not row.is_active:
            result.joined.append(member.userid)
        if row.customer_id is not None and wanted["customer_id"] is None:
            wanted["customer_id"] = row.customer_id  # keep a link made earlier
        for name, value in wanted.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                result.changed = True
    for userid, row in existing.items():
        if userid not in present and row.is_active:
            row.is_active, row.left_at = False, now
            result.left.append(userid)
            result.changed = True
    if result.changed:
        group.last_synced_at = now
    if not result.created:
        _record_moves(db, actor, group, existing, links, result, now)
    db.flush()
    return result


def _record_moves(
    db: Session,
    actor: Actor,
    group: CustomerGroup,
    existing: Mapping[str, GroupMember],
    links: Mapping[str, uuid.UUID],
    result: GroupApplied,
    now: datetime,
) -> None:
    moves = [(EVENT_JOINED, u, links.get(u)) for u in result.joined] + [
        (EVENT_LEFT, u, existing[u].customer_id) for u in result.left
    ]
    for event_type, userid, customer_id in moves:
        if customer_id is None:
            continue
        events.record(
            db,
            actor,
            event_type,
            customer_id=customer_id,
            occurred_at=now,
            source=SOURCE,
            data={"group_id": str(group.id), "chat_id": group.chat_id, "name": group.name,
                  "external_userid": userid},
        )  # fmt: skip


def dismiss_group(
    db: Session, actor: Actor, *, account_id: uuid.UUID, chat_id: str, at: datetime
) -> CustomerGroup | None:
    """Mark a group dismissed and its members as left; ``None`` for a group siyu never saw."""
    require(actor, Perm.CUSTOMERS_WRITE)
    group = _find(db, account_id, chat_id)
    if group is None:
        return None
    if group.status == GroupStatus.DISMISSED:
        return group
    group.status, group.dismissed_at = GroupStatus.DISMISSED, at
    group.member_count = group.customer_count = 0
    for member in _members_of(db, group.id):
        if member.is_active:
            member.is_active, member.left_at = False, at
            if member.customer_id is not None:
                events.record(
                    db,
                    actor,
                    EVENT_LEFT,
                    customer_id=member.customer_id,
                    occurred_at=at,
                    source=SOURCE,
                    data={"group_id": str(group.id), "chat_id": chat_id, "name": group.name,
                          "external_userid": member.member_userid, "dismissed": True},
                )  # fmt: skip
    group.last_synced_at = at
    db.flush()
    return group


def change_owner(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    chat_id: str,
    new_owner_userid: str,
    at: datetime,
) -> CustomerGroup | None:
    """Make ``new_owner_userid`` the group's owner (a finished group transfer); ``None`` if unknown.

    Members are left as they are: the next ``sync_group`` brings them in line with WeCom.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    group = _find(db, account_id, chat_id)
    if group is None:
        return None
    group.owner_userid = new_owner_userid
    group.owner_staff_id = staff_ids_by_userid(db, [new_owner_userid]).get(new_owner_userid)
    group.last_synced_at = at
    db.flush()
    return group


def active_groups(
    db: Session, actor: Actor, *, account_id: uuid.UUID, untouched_since: datetime | None = None
) -> dict[str, str]:
    """Return chat id → owner userid of the account's groups siyu holds as active.

    ``untouched_since`` leaves out groups created or written at or after that time (a sync that
    started then cannot know whether WeCom still lists them).
    """
    require(actor, Perm.CUSTOMERS_READ)
    stmt = select(CustomerGroup.chat_id, CustomerGroup.owner_userid).where(
        CustomerGroup.account_id == account_id,
        CustomerGroup.status == GroupStatus.ACTIVE.value,
    )
    if untouched_since is not None:
        stmt = stmt.where(
            CustomerGroup.created_at < untouched_since,
            or_(
                CustomerGroup.last_synced_at.is_(None),
                CustomerGroup.last_synced_at < untouched_since,
            ),
        )
    return dict(db.execute(stmt).all())


def _scoped(actor: Actor, stmt: Select[Any]) -> Select[Any]:
    """Groups in the actor's data scope: owned by staff of their subtree (guides: their own)."""
    if actor.sees_whole_tenant:
        return stmt
    owners = scope_to(actor, select(Staff.id), org_unit_col=Staff.org_unit_id, owner_col=Staff.id)
    return stmt.where(CustomerGroup.owner_staff_id.in_(owners))


def _cursor(group: CustomerGroup) -> str:
    raw = f"{group.created_at.isoformat()}|{group.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, gid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(gid)
    except ValueError as exc:
        raise InvalidInput(
            "cursor is not valid",
            hint="pass the next_cursor of the previous page unchanged",
            errors=[FieldError(field="cursor", reason="invalid", value=cursor)],
        ) from exc


def list_groups(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID | None = None,
    status: GroupStatus | None = None,
    owner_staff_id: uuid.UUID | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> GroupList:
    """Return groups in the actor's scope, newest first; ``q`` matches the name or chat id."""
    require(actor, Perm.CUSTOMERS_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"limit is {limit}",
            hint=f"use 1 to {MAX_PAGE}",
            errors=[FieldError(field="limit", reason="out of range", value=str(limit))],
        )
    stmt = _scoped(actor, select(CustomerGroup))
    if account_id is not None:
        stmt = stmt.where(CustomerGroup.account_id == account_id)
    if status is not None:
        stmt = stmt.where(CustomerGroup.status == status.value)
    if owner_staff_id is not None:
        stmt = stmt.where(CustomerGroup.owner_staff_id == owner_staff_id)
    if q and q.strip():
        text = q.strip()
        stmt = stmt.where(
            CustomerGroup.name.contains(text, autoescape=True) | (CustomerGroup.chat_id == text)
        )
    if cursor:
        at, gid = _decode(cursor)
        stmt = stmt.where(tuple_(CustomerGroup.created_at, CustomerGroup.id) < tuple_(at, gid))
    rows = list(
        db.scalars(
            stmt.order_by(CustomerGroup.created_at.desc(), CustomerGroup.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _cursor(rows[-1])
    return GroupList(items=rows, next_cursor=next_cursor)


def get_group(db: Session, actor: Actor, group_id: uuid.UUID) -> CustomerGroup:
    """Return a group in the actor's scope; any other is ``NotFound``."""
    require(actor, Perm.CUSTOMERS_READ)
    group: CustomerGroup | None = db.scalar(
        _scoped(actor, select(CustomerGroup).where(CustomerGroup.id == group_id))
    )
    if group is None:
        raise NotFound(
            f"customer group {group_id} not found",
            hint="list groups with GET /api/v1/groups or `siyu wecom groups`",
        )
    return group


def list_members(
    db: Session, actor: Actor, group_id: uuid.UUID, *, include_left: bool = True
) -> list[GroupMember]:
    """Return a group's members: present ones first (by join time), then those who left."""
    group = get_group(db, actor, group_id)
    stmt = select(GroupMember).where(GroupMember.group_id == group.id)
    if not include_left:
        stmt = stmt.where(GroupMember.is_active.is_(True))
    members = list(db.scalars(stmt))
    far = datetime.max.replace(tzinfo=UTC)
    members.sort(key=lambda m: (not m.is_active, m.joined_at or far, m.member_userid))
    return members


def present(db: Session, actor: Actor, found: Sequence[CustomerGroup]) -> list[GroupRead]:
    """Return groups with their owners' staff names."""
    require(actor, Perm.CUSTOMERS_READ)
    ids = [g.owner_staff_id for g in found if g.owner_staff_id is not None]
    names = {sid: staff.name for sid, staff in tenancy.staff_by_ids(db, ids).items()}
    return [
        GroupRead.model_validate(g).model_copy(
            update={"owner_name": names.get(g.owner_staff_id) if g.owner_staff_id else None}
        )
        for g in found
    ]


def group_detail(db: Session, actor: Actor, group_id: uuid.UUID) -> GroupDetail:
    """Return a group in scope with its members, named: customers (in scope) and staff."""
    (read,) = present(db, actor, [get_group(db, actor, group_id)])
    members = list_members(db, actor, group_id)
    customer_ids = [m.customer_id for m in members if m.customer_id is not None]
    customer_names = {c.id: c.name or "" for c in customers.get_many(db, actor, customer_ids)}
    staff_ids = staff_ids_by_userid(
        db, [m.member_userid for m in members if m.kind == MemberKind.STAFF]
    )
    staff = tenancy.staff_by_ids(db, list(staff_ids.values()))
    rows = []
    for m in members:
        staff_id = staff_ids.get(m.member_userid) if m.kind == MemberKind.STAFF else None
        row = GroupMemberRead.model_validate(m).model_copy(
            update={
                "customer_name": customer_names.get(m.customer_id) if m.customer_id else None,
                "staff_id": staff_id,
                "staff_name": staff[staff_id].name if staff_id in staff else None,
            }
        )
        rows.append(row)
    return GroupDetail(**read.model_dump(), members=rows)
