"""Choosing whom to hand over and to whom: receivers, the handover member, customers, groups.

Customers come from the contacts domain (the member's ACTIVE relations in the account) or from
an explicit list of customer ids resolved to those relations; groups from the groups domain.
Customers or groups already in an open transfer item are left out (or refused, when listed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.contacts import service as contacts
from siyu.contacts.models import RelationStatus
from siyu.core.actor import Actor
from siyu.core.errors import FieldError, InvalidInput
from siyu.groups import service as groups
from siyu.groups.models import GroupStatus
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import Staff
from siyu.transfers import outcomes
from siyu.transfers.listing import OPEN, customer_names
from siyu.transfers.models import TransferBatch, TransferItem, TransferKind, TransferSubject
from siyu.transfers.schemas import HandoverCustomerRead


@dataclass(frozen=True)
class Candidate:
    """A customer (or group) to hand over."""

    subject: TransferSubject
    key: str  # external_userid or chat_id
    customer_id: uuid.UUID | None = None
    detail: str = ""


def _staff_by_userid(db: Session, actor: Actor) -> dict[str, Staff]:
    """Return the staff the actor may see, by WeCom userid (inactive ones included)."""
    return {
        s.wecom_userid: s
        for s in tenancy.list_staff(db, actor, include_inactive=True)
        if s.wecom_userid
    }


def check_receivers(
    db: Session, actor: Actor, *, handover_userid: str, receivers: Sequence[str]
) -> list[str]:
    """Return the receivers (duplicates dropped, order kept) or raise naming each bad one.

    A receiver is active staff with this WeCom userid, in the actor's scope, and is not the
    handover member.
    """
    staff = _staff_by_userid(db, actor)
    errors: list[FieldError] = []
    chosen: list[str] = []
    for i, userid in enumerate(receivers):
        userid = userid.strip()
        reason = None
        if userid == handover_userid:
            reason = "is the handover member; pick someone else"
        elif userid not in staff:
            reason = "no staff member you can see has this WeCom userid"
        elif not staff[userid].is_active:
            reason = f"staff member {staff[userid].name} is inactive"
        if reason:
            errors.append(FieldError(field=f"receivers[{i}]", reason=reason, value=userid))
        elif userid not in chosen:
            chosen.append(userid)
    if errors:
        raise InvalidInput(
            "cannot hand over to "
            + "; ".join(f"{e.value!r}: {e.reason}" for e in errors[:5])
            + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""),
            hint="receivers must be active staff with a WeCom userid, other than the handover "
            "member (GET /api/v1/staff lists them)",
            errors=errors,
        )
    if not chosen:
        raise InvalidInput("no receiver given", hint="name at least one receiving staff member")
    return chosen


def check_handover(
    db: Session, actor: Actor, *, kind: TransferKind, userid: str, unassigned: Sequence[str]
) -> None:
    staff = _staff_by_userid(db, actor).get(userid)
    if staff is None and not actor.sees_whole_tenant:
        raise InvalidInput(
            f"member {userid!r} is not staff in your part of the organisation",
            hint="ask someone whose scope includes this member to start the transfer",
            errors=[FieldError(field="handover_userid", reason="out of scope", value=userid)],
        )
    if kind is TransferKind.RESIGNED and not unassigned and (staff is None or staff.is_active):
        raise InvalidInput(
            f"member {userid!r} has not left: WeCom lists no unassigned customers for them"
            + ("" if staff is None else f" and staff {staff.name} is active"),
            hint="a resigned transfer (离职继承) needs the member deleted in WeCom's admin "
            "console (or the staff marked inactive here); for a member who stays use "
            "kind in_service (在职继承)",
            errors=[FieldError(field="handover_userid", reason="not resigned", value=userid)],
        )


def in_flight_keys(
    db: Session, *, account_id: uuid.UUID, subject: TransferSubject, keys: Sequence[str] | None
) -> set[str]:
    """Return which customers (or groups) of an account are in an open transfer item."""
    stmt = (
        select(TransferItem.subject_key)
        .join(TransferBatch, TransferBatch.id == TransferItem.batch_id)
        .where(
            TransferBatch.account_id == account_id,
            TransferItem.subject == subject.value,
            TransferItem.status.in_(OPEN),
        )
    )
    if keys is not None:
        stmt = stmt.where(TransferItem.subject_key.in_(list(keys)))
    return set(db.scalars(stmt))


def customer_candidates(
    db: Session,
    actor: Actor,
    *,
    account: ChannelAccount,
    handover_userid: str,
    customer_ids: Sequence[uuid.UUID] | None,
    unassigned: Sequence[str],
) -> list[Candidate]:
    relations = contacts.list_relations(
        db,
        actor,
        account_id=account.id,
        wecom_userid=handover_userid,
        status=RelationStatus.ACTIVE,
    )
    relations = sorted(relations, key=lambda r: (r.added_at, r.external_userid))
    if customer_ids is None:
        busy = in_flight_keys(
            db, account_id=account.id, subject=TransferSubject.CUSTOMER, keys=None
        )
        chosen = [
            Candidate(TransferSubject.CUSTOMER, r.external_userid, r.customer_id)
            for r in relations
            if r.external_userid not in busy
        ]
        known = {r.external_userid for r in relations}
        chosen += [
            Candidate(
                TransferSubject.CUSTOMER,
                key,
                None,
                outcomes.NOT_SYNCED,
            )
            for key in sorted(set(unassigned) - known - busy)
        ]
        return chosen
    by_customer: dict[uuid.UUID, list[str]] = {}
    for r in relations:
        by_customer.setdefault(r.customer_id, []).append(r.external_userid)
    busy = in_flight_keys(
        db,
        account_id=account.id,
        subject=TransferSubject.CUSTOMER,
        keys=[k for ids in by_customer.values() for k in ids],
    )
    errors: list[FieldError] = []
    chosen = []
    seen: set[uuid.UUID] = set()
    for i, customer_id in enumerate(customer_ids):
        if customer_id in seen:
            continue
        seen.add(customer_id)
        keys = by_customer.get(customer_id)
        if not keys:
            errors.append(
                FieldError(
                    field=f"customer_ids[{i}]",
                    reason=f"has no active WeCom relation with {handover_userid} in account "
                    f"{account.name}",
                    value=str(customer_id),
                )
            )
            continue
        for key in keys:
            if key in busy:
                errors.append(
                    FieldError(
                        field=f"customer_ids[{i}]",
                        reason="is already in a transfer that has not finished",
                        value=str(customer_id),
                    )
                )
            else:
                chosen.append(Candidate(TransferSubject.CUSTOMER, key, customer_id))
    if errors:
        raise InvalidInput(
            f"{len(errors)} of the chosen customers cannot be handed over by {handover_userid}: "
            + "; ".join(f"{e.value} {e.reason}" for e in errors[:3])
            + ("…" if len(errors) > 3 else ""),
            hint="choose customers the member has as WeCom contacts (sync contacts first if "
            "they were added recently) and that are not in an open transfer",
            errors=errors,
        )
    return chosen


def group_candidates(
    db: Session, actor: Actor, *, account_id: uuid.UUID, handover_userid: str
) -> list[Candidate]:
    owned: list[str] = []
    cursor = None
    while True:
        page = groups.list_groups(
            db,
            actor,
            account_id=account_id,
            status=GroupStatus.ACTIVE,
            limit=groups.MAX_PAGE,
            cursor=cursor,
        )
        owned += [g.chat_id for g in page.items if g.owner_userid == handover_userid]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    busy = in_flight_keys(db, account_id=account_id, subject=TransferSubject.GROUP, keys=None)
    return [Candidate(TransferSubject.GROUP, c) for c in sorted(owned) if c not in busy]


def handover_customers(
    db: Session, actor: Actor, *, account: str | None, handover_userid: str
) -> list[HandoverCustomerRead]:
    """Return the member's active customers in an account, latest added first."""
    require(actor, Perm.CUSTOMERS_READ)
    found = channels.find_account(db, actor, account)
    relations = contacts.list_relations(
        db,
        actor,
        account_id=found.id,
        wecom_userid=handover_userid.strip(),
        status=RelationStatus.ACTIVE,
    )
    busy = in_flight_keys(
        db,
        account_id=found.id,
        subject=TransferSubject.CUSTOMER,
        keys=[r.external_userid for r in relations],
    )
    names = customer_names(db, actor, [r.customer_id for r in relations])
    return [
        HandoverCustomerRead(
            customer_id=r.customer_id,
            customer_name=names.get(r.customer_id),
            external_userid=r.external_userid,
            added_at=r.added_at,
            in_transfer=r.external_userid in busy,
        )
        for r in relations
    ]
