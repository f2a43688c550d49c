"""What siyu does about each WeCom callback event (``handle``; ``inbox.process`` calls it).

- contact added / half-added: ``get_external_contact_all``, then ``contacts.apply_contact``
  (OneID, relation, channel code by ``State``), the code's welcome message through the outbox
  (``wecom.welcome``, expiring 20 s after the event), its tags (``wecom.mark_tag``) and the
  rotation check (``acquisition.on_contact_added``);
- contact edited: the relation's remark, description and tags refreshed from WeCom, and the
  phones the member noted (``remark_mobiles``) resolved by OneID with the contact;
- ``del_external_contact`` (the member deleted the customer): ``deleted_by_staff``, or
  ``transferred`` when WeCom says ``DELETE_BY_TRANSFER``; ``del_follow_user`` (the customer
  deleted the member): ``deleted_by_customer``;
- transfer failed: ``transfers.apply_transfer_failed``;
- group created / updated: ``sync.sync_group``; dismissed: ``groups.dismiss_group``;
- tag created / updated / deleted / reordered: ``sync.sync_corp_tags``.

Each handler is safe to run twice: relations are upserts, endings keep their first ending,
outbox messages are keyed by the welcome code and the event. WeCom is called between units of
work, never inside one. An outcome other than an exception is final: ``processed``, or
``ignored`` with the reason (nothing to do, e.g. the customer deleted the member before the add
was processed).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session

from siyu.acquisition import service as acquisition
from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import errors as wecom_errors
from siyu.channels.wecom import sync
from siyu.channels.wecom.events import (
    CallbackEvent,
    ExternalChatCreated,
    ExternalChatDismissed,
    ExternalChatUpdated,
    ExternalContactAdded,
    ExternalContactDeleted,
    ExternalContactEdited,
    ExternalContactHalfAdded,
    ExternalTagCreated,
    ExternalTagDeleted,
    ExternalTagShuffled,
    ExternalTagUpdated,
    FollowUserDeleted,
    TransferFailed,
)
from siyu.channels.wecom.models import CallbackStatus
from siyu.channels.wecom.schemas import ContactDetail, FollowUser
from siyu.contacts import service as contacts
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.core import bulk
from siyu.core.actor import Actor
from siyu.core.clock import Clock
from siyu.core.db import unit_of_work
from siyu.events import service as events
from siyu.groups import service as groups
from siyu.jobs import outbox
from siyu.tenancy import service as tenancy
from siyu.transfers import service as transfers

log = structlog.get_logger(__name__)

WELCOME = "wecom.welcome"
MARK_TAG = "wecom.mark_tag"
WELCOME_CODE_TTL = timedelta(seconds=20)  # spec §3.4: valid 20 s after the event, once
EXTERNAL_USERID_INVALID = 40096
SOURCE = "wecom"
HALF_ADDED = "wecom.contact_half_added"
TAG_CHANGED = "wecom.tag_changed"


class ChatEvent:
    """Events recorded for group-level changes (member changes are recorded by ``groups``)."""

    CREATED = "wecom.group_created"
    UPDATED = "wecom.group_updated"
    DISMISSED = "wecom.group_dismissed"


@dataclass(frozen=True)
class Outcome:
    status: CallbackStatus
    note: str | None = None


@contextmanager
def writing(actor: Actor) -> Iterator[Session]:
    """Open a unit of work that reads, then writes: on SQLite it takes the write lock first.

    Otherwise a writer committing between this transaction's first read and first write
    makes SQLite refuse the write at once ("database is locked"), e.g. in a busy demo.
    """
    with unit_of_work(actor) as db:
        bulk.lock_for_writing(db, ContactRelation)
        yield db


def _account(actor: Actor, account_id: uuid.UUID) -> ChannelAccount:
    with unit_of_work(actor) as db:
        return channels.get_account(db, actor, account_id)


def _fetch_follow(
    account: ChannelAccount, external_userid: str, userid: str, clock: Clock
) -> tuple[ContactDetail, FollowUser] | str:
    """Return the contact and the member's follow, or why there is none any more."""
    with channels.client_for(account, clock=clock) as client:
        try:
            detail = client.get_external_contact_all(external_userid)
        except wecom_errors.NoRelationship:
            return "WeCom reports no relationship with this customer any more (84061)"
        except wecom_errors.WeComApiError as exc:
            if exc.errcode == EXTERNAL_USERID_INVALID:
                return "WeCom does not know this external_userid (40096)"
            raise
    follow = next((f for f in detail.follow_user if f.userid == userid), None)
    if follow is None:
        return f"{userid} no longer has this customer as a contact"
    return detail, follow


def _staff_name(db: Session, staff_id: uuid.UUID | None, userid: str) -> str:
    if staff_id is None:
        return userid
    staff = tenancy.staff_by_ids(db, [staff_id]).get(staff_id)
    return staff.name if staff is not None else userid


def _contact_added(
    actor: Actor,
    account_id: uuid.UUID,
    event: ExternalContactAdded | ExternalContactHalfAdded,
    clock: Clock,
) -> Outcome:
    account = _account(actor, account_id)
    corp_id = channels.wecom_config(account).corp_id
    found = _fetch_follow(account, event.external_user_id, event.user_id, clock)
    if isinstance(found, str):
        return Outcome(CallbackStatus.IGNORED, found)
    detail, follow = found
    now = clock.now()
    welcome_id: uuid.UUID | None = None
    with writing(actor) as db:
        applied = contacts.apply_contact(
            db,
            actor,
            account_id=account_id,
            corp_id=corp_id,
            contact=detail.external_contact,
            follow=follow,
            now=now,
        )
        relation = applied.relation
        if isinstance(event, ExternalContactHalfAdded) and applied.created_relation:
            events.record(
                db,
                actor,
                HALF_ADDED,
                customer_id=applied.customer_id,
                occurred_at=event.create_time,
                source=SOURCE,
                data={"relation_id": str(relation.id), "wecom_userid": event.user_id},
            )
        code = acquisition.code_for_state(db, actor, relation.state)
        if code is None or relation.channel_code_id != code.id:
            return Outcome(CallbackStatus.PROCESSED)
        acquisition.on_contact_added(db, actor, code=code, wecom_userid=event.user_id, now=now)
        if event.welcome_code:
            message = acquisition.render_welcome(
                code,
                customer_name=detail.external_contact.name,
                staff_name=_staff_name(db, relation.staff_id, event.user_id),
            )
            if message.get("text") or message.get("attachments"):
                welcome_id = outbox.enqueue(
                    db,
                    actor,
                    kind=WELCOME,
                    key=f"wecom:welcome:{account_id}:{event.welcome_code}"[:200],
                    payload={
                        "account_id": str(account_id),
                        "welcome_code": event.welcome_code,
                        "text": message.get("text"),
                        "attachments": list(message.get("attachments") or []),
                        "relation_id": str(relation.id),
                    },
                    expires_at=event.create_time + WELCOME_CODE_TTL,
                    clock=clock,
                )
        missing = [t for t in code.tag_ids if t not in relation.tag_ids]
        if missing:
            stamp = int(event.create_time.timestamp())
            pair = f"{event.user_id}:{event.external_user_id}"
            outbox.enqueue(
                db,
                actor,
                kind=MARK_TAG,
                key=f"wecom:mark_tag:{account_id}:{pair}:{stamp}"[:200],
                payload={
                    "account_id": str(account_id),
                    "userid": event.user_id,
                    "external_userid": event.external_user_id,
                    "add_tag": missing,
                },
                clock=clock,
            )
    if welcome_id is not None:
        _send_now(actor, welcome_id, clock)
    return Outcome(CallbackStatus.PROCESSED)


def _send_now(actor: Actor, message_id: uuid.UUID, clock: Clock) -> None:
    """Send a welcome here rather than behind the job queue: its code lives 20 seconds.

    The delivery job queued by the outbox then finds it sent; should this attempt fail
    before the handler runs, that job (or the outbox sweep) still delivers it.
    """
    try:
        outbox.deliver_now(actor.tenant_id, message_id, clock=clock)
    except Exception:
        log.exception("wecom_welcome_inline_failed", message_id=str(message_id))


def _contact_edited(
    actor: Actor, account_id: uuid.UUID, event: ExternalContactEdited, clock: Clock
) -> Outcome:
    account = _account(actor, account_id)
    corp_id = channels.wecom_config(account).corp_id
    found = _fetch_follow(account, event.external_user_id, event.user_id, clock)
    if isinstance(found, str):
        return Outcome(CallbackStatus.IGNORED, found)
    detail, follow = found
    with writing(actor) as db:
        applied = contacts.apply_contact(
            db,
            actor,
            account_id=account_id,
            corp_id=corp_id,
            contact=detail.external_contact,
            follow=follow,
            now=clock.now(),
        )
        contacts.record_edit(db, actor, applied.relation, at=event.create_time)
    return Outcome(CallbackStatus.PROCESSED)


def _ended(
    actor: Actor,
    account_id: uuid.UUID,
    event: ExternalContactDeleted | FollowUserDeleted,
    status: RelationStatus,
) -> Outcome:
    with writing(actor) as db:
        relation = contacts.end_relation(
            db,
            actor,
            account_id=account_id,
            wecom_userid=event.user_id,
            external_userid=event.external_user_id,
            status=status,
            at=event.create_time,
        )
    if relation is None:
        return Outcome(CallbackStatus.IGNORED, "siyu never knew this relation")
    return Outcome(CallbackStatus.PROCESSED)


def _transfer_failed(actor: Actor, account_id: uuid.UUID, event: TransferFailed) -> Outcome:
    with writing(actor) as db:
        item = transfers.apply_transfer_failed(
            db,
            actor,
            account_id=account_id,
            handover_userid=event.user_id,  # WeCom does not say which member UserID is
            takeover_userid="",
            external_userid=event.external_user_id,
            reason=str(event.fail_reason),
            at=event.create_time,
        )
    if item is None:
        return Outcome(CallbackStatus.IGNORED, "no open transfer of this customer is known")
    return Outcome(CallbackStatus.PROCESSED)


def _record(actor: Actor, kind: str, event: CallbackEvent, **data: Any) -> None:
    with writing(actor) as db:
        events.record(db, actor, kind, occurred_at=event.create_time, source=SOURCE, data=data)


def _chat_changed(
    actor: Actor,
    account_id: uuid.UUID,
    event: ExternalChatCreated | ExternalChatUpdated,
    clock: Clock,
) -> Outcome:
    sync.sync_group(actor, account_id, event.chat_id, clock=clock)
    if isinstance(event, ExternalChatCreated):
        _record(actor, ChatEvent.CREATED, event, chat_id=event.chat_id)
    else:
        _record(
            actor,
            ChatEvent.UPDATED,
            event,
            chat_id=event.chat_id,
            update_detail=str(event.update_detail),
            members=list(event.mem_change_list),
        )
    return Outcome(CallbackStatus.PROCESSED)


def _chat_dismissed(actor: Actor, account_id: uuid.UUID, event: ExternalChatDismissed) -> Outcome:
    with writing(actor) as db:
        group = groups.dismiss_group(
            db, actor, account_id=account_id, chat_id=event.chat_id, at=event.create_time
        )
        events.record(
            db,
            actor,
            ChatEvent.DISMISSED,
            occurred_at=event.create_time,
            source=SOURCE,
            data={"chat_id": event.chat_id, "group_id": str(group.id) if group else None},
        )
    return Outcome(CallbackStatus.PROCESSED)


def _tag_changed(
    actor: Actor,
    account_id: uuid.UUID,
    event: ExternalTagCreated | ExternalTagUpdated | ExternalTagDeleted | ExternalTagShuffled,
    clock: Clock,
) -> Outcome:
    sync.sync_corp_tags(actor, account_id, clock=clock)
    _record(
        actor,
        TAG_CHANGED,
        event,
        change_type=event.change_type,
        id=event.id,
        tag_type=str(event.tag_type) if event.tag_type else None,
    )
    return Outcome(CallbackStatus.PROCESSED)


def handle(actor: Actor, account_id: uuid.UUID, event: CallbackEvent, clock: Clock) -> Outcome:
    """Apply one event of ``account_id``; raise on a failure worth retrying."""
    match event:
        case ExternalContactAdded() | ExternalContactHalfAdded():
            return _contact_added(actor, account_id, event, clock)
        case ExternalContactEdited():
            return _contact_edited(actor, account_id, event, clock)
        case ExternalContactDeleted():
            # the member deleted the customer, or an on-job transfer moved them away
            status = (
                RelationStatus.TRANSFERRED if event.by_transfer else RelationStatus.DELETED_BY_STAFF
            )
            return _ended(actor, account_id, event, status)
        case FollowUserDeleted():  # the customer deleted the member
            return _ended(actor, account_id, event, RelationStatus.DELETED_BY_CUSTOMER)
        case TransferFailed():
            return _transfer_failed(actor, account_id, event)
        case ExternalChatCreated() | ExternalChatUpdated():
            return _chat_changed(actor, account_id, event, clock)
        case ExternalChatDismissed():
            return _chat_dismissed(actor, account_id, event)
        case (
            ExternalTagCreated()
            | ExternalTagUpdated()
            | ExternalTagDeleted()
            | ExternalTagShuffled()
        ):
            return _tag_changed(actor, account_id, event, clock)
    return Outcome(
        CallbackStatus.IGNORED, f"siyu does not handle {event.event}/{event.change_type}"
    )
