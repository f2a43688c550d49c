"""Contact relations in bulk, for full syncs and reconciliation.

``apply_contacts`` writes what ``batch/get_by_user`` reports for thousands of (member, customer)
pairs with the outcome of calling ``service.apply_contact`` for each pair in turn, in a handful
of statements: customers through batch OneID (external_userid in the corp's namespace, unionid,
the phones the member noted: ``remark_phones``), a new customer's staff of record and store from
the member who added them, the channel code of the ``state``, ``is_new_customer`` false when the
customer already had a relation (earlier in the batch too), ``wecom.contact_added`` when a
relation starts. With ``changes_only`` (what reconciliation uses) an active relation whose
remark, description, tags or staff link are already right is left alone, and one whose values
differ is corrected without re-resolving the customer and gets ``wecom.contact_edited``, as an
edit callback would have; one noting a phone OneID has not linked to its customer yet is
re-resolved, and gets that event too.

``end_gone`` ends relations WeCom no longer lists. Who deleted whom is not known then, so their
status is ``gone`` and the event ``wecom.contact_gone``; a ``del_*`` callback arriving later
finds the relation ended and leaves it (see ``service.end_relation``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from siyu.acquisition.models import ChannelCode
from siyu.channels.wecom.schemas import ExternalContact, FollowInfo, FollowUser
from siyu.contacts import remark_phones
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.core.actor import Actor
from siyu.core.append import append_rows, one_of
from siyu.core.clock import FixedClock
from siyu.core.ids import new_id
from siyu.customers import bulk as customer_bulk
from siyu.customers.models import Gender
from siyu.events import service as events
from siyu.identity import bulk as identity_bulk
from siyu.identity.keys import KeyKind, make_key
from siyu.security.rbac import Perm, require
from siyu.tenancy.models import Staff

SOURCE = "wecom"
ADDED_EVENT = "wecom.contact_added"
EDITED_EVENT = "wecom.contact_edited"
GONE_EVENT = "wecom.contact_gone"
_GENDER = {1: Gender.MALE, 2: Gender.FEMALE}
_CHUNK = 5_000
_UPDATED = (
    "customer_id",
    "staff_id",
    "status",
    "added_at",
    "add_way",
    "state",
    "channel_code_id",
    "is_new_customer",
    "remark",
    "description",
    "tag_ids",
    "ended_at",
    "last_synced_at",
)

Pair = remark_phones.Pair


@dataclass(frozen=True)
class ContactItem:
    """One customer of one member, as ``batch/get_by_user`` or ``get`` reports it."""

    contact: ExternalContact
    follow: FollowUser | FollowInfo

    @property
    def pair(self) -> Pair:
        return (self.follow.userid, self.contact.external_userid)


@dataclass
class BulkApplied:
    """What ``apply_contacts`` did, per relation."""

    customer_ids: dict[Pair, uuid.UUID] = field(default_factory=dict)
    customers_created: int = 0
    started: list[Pair] = field(default_factory=list)  # new, or added again after an ending
    updated: list[Pair] = field(default_factory=list)  # active relations whose values changed
    unchanged: int = 0


def tag_ids_of(follow: FollowUser | FollowInfo) -> list[str]:
    """Corp (and rule-group) tag ids of a follower; personal tags have no id and are skipped."""
    if isinstance(follow, FollowInfo):
        return list(dict.fromkeys(follow.tag_id))
    return list(dict.fromkeys(t.tag_id for t in follow.tags if t.tag_id))


def _at(unix: int, default: datetime) -> datetime:
    return datetime.fromtimestamp(unix, UTC) if unix > 0 else default


def _existing(db: Session, account_id: uuid.UUID, pairs: Collection[Pair]) -> dict[Pair, Any]:
    """Return the account's relation rows (every column) for these pairs."""
    wanted = set(pairs)
    externals = sorted({external for _, external in wanted})
    found: dict[Pair, Any] = {}
    table = ContactRelation.__table__
    for start in range(0, len(externals), _CHUNK):
        rows = db.execute(
            select(*(getattr(ContactRelation, c.key) for c in table.columns)).where(
                ContactRelation.account_id == account_id,
                one_of(db, ContactRelation.external_userid, externals[start : start + _CHUNK]),
            )
        )
        for row in rows:
            pair = (row.wecom_userid, row.external_userid)
            if pair in wanted:
                found[pair] = row
    return found


def _staff(db: Session, userids: Iterable[str]) -> dict[str, tuple[uuid.UUID, uuid.UUID]]:
    """Return (staff id, org unit id) of each WeCom userid a staff record names."""
    wanted = sorted(set(userids))
    found: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = db.execute(
            select(Staff.wecom_userid, Staff.id, Staff.org_unit_id).where(
                Staff.wecom_userid.in_(wanted[start : start + _CHUNK])
            )
        )
        found.update({r.wecom_userid: (r.id, r.org_unit_id) for r in rows if r.wecom_userid})
    return found


def _codes(db: Session, states: Iterable[str]) -> dict[str, uuid.UUID]:
    """Return the channel code of each ``state`` the tenant has a code for."""
    wanted = sorted(set(states))
    if not wanted:
        return {}
    rows = db.execute(
        select(ChannelCode.state, ChannelCode.id).where(ChannelCode.state.in_(wanted))
    )
    return dict(rows.all())


def _had_relation(db: Session, customer_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(customer_ids)
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), _CHUNK):
        found.update(
            db.scalars(
                select(ContactRelation.customer_id)
                .where(one_of(db, ContactRelation.customer_id, ids[start : start + _CHUNK]))
                .distinct()
            )
        )
    return found


def _update_rows(db: Session, actor: Actor, rows: Sequence[dict[str, Any]]) -> None:
    """Overwrite ``_UPDATED`` columns of existing relations (rows carry ``id`` and values)."""
    if not rows:
        return
    table = cast("Table", ContactRelation.__table__)
    stmt = (
        update(table)
        .where(table.c.tenant_id == bindparam("k_tenant"), table.c.id == bindparam("k_id"))
        .values({name: bindparam(f"v_{name}") for name in _UPDATED})
    )
    params = [
        {"k_tenant": actor.tenant_id, "k_id": row["id"], **{f"v_{n}": row[n] for n in _UPDATED}}
        for row in rows
    ]
    for start in range(0, len(params), _CHUNK):
        db.execute(stmt, params[start : start + _CHUNK])


def _event(
    actor: Actor, kind: str, relation: Mapping[str, Any], at: datetime, now: datetime, **data: Any
) -> dict[str, Any]:
    return {
        "tenant_id": actor.tenant_id,
        "id": new_id(),
        "type": kind,
        "occurred_at": at,
        "recorded_at": now,
        "customer_id": relation["customer_id"],
        "source": SOURCE,
        "idempotency_key": None,
        "data": {
            "relation_id": str(relation["id"]),
            "account_id": str(relation["account_id"]),
            "wecom_userid": relation["wecom_userid"],
            "external_userid": relation["external_userid"],
            **data,
        },
    }


def _edits(
    row: Any,
    item: ContactItem,
    staff: Mapping[str, tuple[uuid.UUID, uuid.UUID]],
    codes: Mapping[str, uuid.UUID],
) -> dict[str, Any]:
    """The values of an active relation that differ from WeCom's (empty: nothing to do)."""
    follow = item.follow
    wanted: dict[str, Any] = {
        "remark": follow.remark[:100],
        "description": follow.description[:300],
        "tag_ids": tag_ids_of(follow),
    }
    if follow.userid in staff:
        wanted["staff_id"] = staff[follow.userid][0]
    code_id = codes.get(follow.state or "")
    if row.channel_code_id is None and code_id is not None:
        wanted.update(state=follow.state, channel_code_id=code_id, add_way=follow.add_way)
    return {k: v for k, v in wanted.items() if getattr(row, k) != v}


def apply_contacts(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    corp_id: str,
    items: Sequence[ContactItem],
    now: datetime,
    source: str = SOURCE,
    changes_only: bool = False,
) -> BulkApplied:
    """Create or refresh the relations of ``items`` as ``apply_contact`` would, one by one.

    A pair given twice counts once (its last item). ``changes_only`` leaves active relations
    that WeCom reports with the same values untouched (reconciliation).
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    by_pair: dict[Pair, ContactItem] = {}
    for item in items:
        by_pair.pop(item.pair, None)
        by_pair[item.pair] = item
    existing = _existing(db, account_id, by_pair)
    staff = _staff(db, {userid for userid, _ in by_pair})
    codes = _codes(db, {i.follow.state for i in by_pair.values() if i.follow.state})
    noted = {pair: remark_phones.noted_phones(item.follow) for pair, item in by_pair.items()}
    result = BulkApplied()
    resolve: list[Pair] = []
    updates: list[dict[str, Any]] = []
    new_events: list[dict[str, Any]] = []
    phones_pending: set[Pair] = set()
    if changes_only:  # an edit that noted a phone may be among the lost callbacks
        phones_pending = remark_phones.unlinked(
            db,
            actor,
            {
                pair: (row.customer_id, noted[pair].keys)
                for pair, row in existing.items()
                if row.status == RelationStatus.ACTIVE and noted[pair].keys
            },
        )
    for pair, item in by_pair.items():
        row = existing.get(pair)
        if not changes_only or row is None or row.status != RelationStatus.ACTIVE:
            resolve.append(pair)
            continue
        if pair in phones_pending:
            resolve.append(pair)
            continue
        result.customer_ids[pair] = row.customer_id
        edits = _edits(row, item, staff, codes)
        if not edits:
            result.unchanged += 1
            continue
        values = {**row._asdict(), **edits, "last_synced_at": now}
        updates.append(values)
        result.updated.append(pair)
        new_events.append(
            _event(actor, EDITED_EVENT, values, now, now, remark=values["remark"],
                   tag_ids=list(values["tag_ids"]))
        )  # fmt: skip
    if resolve:
        _resolve_and_write(
            db, actor, account_id, corp_id, [by_pair[p] for p in resolve], existing, staff,
            codes, noted, phones_pending, now, source, result, updates, new_events,
        )  # fmt: skip
    else:
        _update_rows(db, actor, updates)
    events.record_many(db, actor, new_events)
    return result


def _resolve_and_write(
    db: Session,
    actor: Actor,
    account_id: uuid.UUID,
    corp_id: str,
    items: Sequence[ContactItem],
    existing: Mapping[Pair, Any],
    staff: Mapping[str, tuple[uuid.UUID, uuid.UUID]],
    codes: Mapping[str, uuid.UUID],
    noted: Mapping[Pair, remark_phones.NotedPhones],
    edited: Collection[Pair],
    now: datetime,
    source: str,
    result: BulkApplied,
    updates: list[dict[str, Any]],
    new_events: list[dict[str, Any]],
) -> None:
    """Resolve the items' customers by batch OneID and write their relations.

    ``edited`` are active relations re-resolved only for the phones noted on them
    (reconciliation): they count as updated and get ``wecom.contact_edited``.
    """
    notings = [
        remark_phones.Noting(
            item.contact.external_userid,
            row.customer_id if (row := existing.get(item.pair)) is not None else None,
            noted[item.pair].keys,
        )
        for item in items
        if noted[item.pair].keys
    ]
    crowded = remark_phones.crowded(
        db, actor, account_id=account_id, notings=notings, clock=FixedClock(now)
    )
    records = []
    for item in items:
        keys = [make_key(KeyKind.EXTERNAL_USERID, item.contact.external_userid, corp_id)]
        if item.contact.unionid:
            keys.append(make_key(KeyKind.UNIONID, item.contact.unionid))
        keys.extend(k for k in noted[item.pair].keys if k not in crowded)
        records.append(
            identity_bulk.Record(keys=keys, profile={"name": item.contact.name[:100] or None})
        )
    resolution = identity_bulk.resolve_batch(
        db, actor, records, source=source, clock=FixedClock(now)
    )
    result.customers_created += len(resolution.created)
    settle: dict[uuid.UUID, dict[str, Any]] = {}
    for item, customer_id in zip(items, resolution.customer_ids, strict=True):
        # a new customer takes its first record's values, a known one its last (as in OneID)
        if customer_id in settle and customer_id in resolution.created:
            continue
        member = staff.get(item.follow.userid)
        settle[customer_id] = {
            "gender": _GENDER.get(item.contact.gender, Gender.UNKNOWN),
            "owner_staff_id": member[0] if member else None,
            "org_unit_id": member[1] if member else None,
        }
    customer_bulk.settle_many(
        db,
        actor,
        {cid: p if cid in resolution.created else {"gender": p["gender"]}
         for cid, p in settle.items()},
        created=resolution.created,
        source=source,
    )  # fmt: skip
    had = _had_relation(db, set(resolution.customer_ids))
    inserts: list[dict[str, Any]] = []
    for item, customer_id in zip(items, resolution.customer_ids, strict=True):
        pair, follow = item.pair, item.follow
        result.customer_ids[pair] = customer_id
        row = existing.get(pair)
        added_at = _at(follow.createtime, now)
        code_id = codes.get(follow.state or "")
        member = staff.get(follow.userid)
        if row is None:
            values: dict[str, Any] = {
                "tenant_id": actor.tenant_id,
                "id": new_id(),
                "account_id": account_id,
                "customer_id": customer_id,
                "staff_id": member[0] if member else None,
                "wecom_userid": follow.userid,
                "external_userid": item.contact.external_userid,
                "status": RelationStatus.ACTIVE.value,
                "added_at": added_at,
                "add_way": follow.add_way,
                "state": follow.state or None,
                "channel_code_id": code_id,
                "is_new_customer": customer_id not in had,
                "remark": follow.remark[:100],
                "description": follow.description[:300],
                "tag_ids": tag_ids_of(follow),
                "ended_at": None,
                "last_synced_at": now,
                "created_at": now,
            }
            inserts.append(values)
            started = True
        else:
            values = row._asdict()
            started = row.status != RelationStatus.ACTIVE
            if started:  # added again after a deletion or a transfer away
                values.update(status=RelationStatus.ACTIVE.value, ended_at=None,
                              added_at=added_at, is_new_customer=False)  # fmt: skip
            if started or (row.channel_code_id is None and code_id is not None):
                values.update(state=follow.state or None, channel_code_id=code_id,
                              add_way=follow.add_way)  # fmt: skip
            values.update(
                customer_id=customer_id,
                staff_id=member[0] if member else row.staff_id,
                remark=follow.remark[:100],
                description=follow.description[:300],
                tag_ids=tag_ids_of(follow),
                last_synced_at=now,
            )
            updates.append(values)
        had.add(customer_id)
        remark_phones.log_skipped(
            noted[pair], relation_id=values["id"], account_id=account_id,
            wecom_userid=follow.userid, external_userid=item.contact.external_userid,
        )  # fmt: skip
        if pair in edited and not started:
            result.updated.append(pair)
            new_events.append(
                _event(actor, EDITED_EVENT, values, now, now, remark=values["remark"],
                       tag_ids=list(values["tag_ids"]))
            )  # fmt: skip
        if started:
            result.started.append(pair)
            new_events.append(
                _event(
                    actor, ADDED_EVENT, values, values["added_at"], now,
                    channel_code_id=str(values["channel_code_id"])
                    if values["channel_code_id"] else None,
                    state=values["state"], add_way=values["add_way"],
                    is_new_customer=values["is_new_customer"],
                )
            )  # fmt: skip
    append_rows(db, ContactRelation, inserts)
    _update_rows(db, actor, updates)


def active_pairs(
    db: Session, actor: Actor, *, account_id: uuid.UUID, untouched_since: datetime | None = None
) -> set[Pair]:
    """Return the (member, customer) pairs siyu holds as active for an account.

    ``untouched_since`` leaves out relations created or written (by a callback, say) at or after
    that time: a sync that started then cannot know whether WeCom still lists them.
    """
    require(actor, Perm.CUSTOMERS_READ)
    stmt = select(ContactRelation.wecom_userid, ContactRelation.external_userid).where(
        ContactRelation.account_id == account_id,
        ContactRelation.status == RelationStatus.ACTIVE.value,
    )
    if untouched_since is not None:
        stmt = stmt.where(
            ContactRelation.created_at < untouched_since,
            or_(
                ContactRelation.last_synced_at.is_(None),
                ContactRelation.last_synced_at < untouched_since,
            ),
        )
    return {(r.wecom_userid, r.external_userid) for r in db.execute(stmt)}


def end_gone(
    db: Session, actor: Actor, *, account_id: uuid.UUID, pairs: Collection[Pair], at: datetime
) -> list[Pair]:
    """End the active relations of ``pairs`` as ``gone`` (WeCom lists them no more).

    Returns the pairs that were active and are now ended; others are left as they are.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    existing = _existing(db, account_id, pairs)
    ended = [row for row in existing.values() if row.status == RelationStatus.ACTIVE]
    rows = [
        {**row._asdict(), "status": RelationStatus.GONE.value, "ended_at": at, "last_synced_at": at}
        for row in ended
    ]
    _update_rows(db, actor, rows)
    events.record_many(db, actor, [_event(actor, GONE_EVENT, row, at, at) for row in rows])
    return [(row["wecom_userid"], row["external_userid"]) for row in rows]
