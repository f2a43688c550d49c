"""What WeCom said about transfer items, turned into item states (and events).

Three sources move an item: the answer to the send (a per-customer ``errcode``, or a group's
entry in ``failed_chat_list``), the result poll (``transfer_result`` statuses 1–5) and the
``transfer_fail`` callback. Each writes in the caller's unit of work; none talks to WeCom.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels.wecom.schemas import CustomerTransferState, TransferStatus
from siyu.contacts import service as contacts
from siyu.core.actor import Actor
from siyu.core.errors import NotFound
from siyu.events import service as events
from siyu.groups import service as groups
from siyu.transfers.models import (
    FINAL_STATUSES,
    ItemStatus,
    TransferBatch,
    TransferItem,
    TransferSubject,
)

# A sent item WeCom still has no record of after this long is failed (it never started).
NO_RECORD_GRACE = timedelta(hours=48)

# Details siyu writes itself (the console translates them; WeCom's codes are in DETAILS).
NOT_SENT = "not sent yet: "  # prefix of the detail of items a transient error held back
REFUSED = "the customer refused the transfer"
LIMIT_AT_TAKEOVER = "the receiver reached WeCom's customer limit before taking over"
IN_OTHER_TRANSFER = "the customer is in another transfer (started elsewhere); retry later"
NO_RECORD = "WeCom has no record of this transfer"
NOT_SYNCED = "not synced to siyu yet: no customer record (WeCom lists it as unassigned)"
ACCOUNT_DISABLED = "the channel account is disabled"
RETRIED = " → retried in transfer "  # then the new transfer's id
LIMIT_CODES = frozenset({40099, 40128})  # receiver full; customer transferred too often
IN_TRANSFER_CODES = frozenset({40100, 40129})  # the customer is already in a transfer

DETAILS: dict[int, str] = {
    40096: "WeCom does not know this external_userid",
    40097: "the handover member has not resigned in WeCom; use an in-service transfer",
    40098: "the receiver has not completed real-name verification in WeCom",
    40099: "the receiver has reached WeCom's customer limit",
    40100: "the customer is already in a transfer; following its result",
    40128: "WeCom allows at most 2 transfers of a customer within 90 days",
    40129: "the customer is already in a transfer; following its result",
    40130: "the receiver is the handover member",
    40131: "the handover member is no longer this customer's contact",
    90500: "the group owner has not resigned; use an in-service transfer",
    90501: "not a customer group, or it was dismissed",
    90502: "the group owner has resigned; use a resigned transfer",
    90504: "the receiver already owns this group",
    90507: "the group is already being transferred",
    90508: "the group was already transferred",
}

_EVENT_OF = {
    ItemStatus.ACCEPTED: "transfer.accepted",
    ItemStatus.REFUSED: "transfer.refused",
    ItemStatus.LIMIT_REACHED: "transfer.limit_reached",
    ItemStatus.FAILED: "transfer.failed",
}


@dataclass(frozen=True)
class Outcome:
    """What one item's send answer means: its next status, errcode and detail."""

    status: ItemStatus
    errcode: int | None
    detail: str


def send_outcome(errcode: int, errmsg: str = "") -> Outcome:
    """Return the item state a per-item ``errcode`` of a send leads to."""
    if errcode == 0:
        return Outcome(ItemStatus.WAITING, None, "")
    detail = DETAILS.get(errcode) or f"WeCom refused the item: {errmsg or errcode}"
    if errcode in LIMIT_CODES:
        return Outcome(ItemStatus.LIMIT_REACHED, errcode, detail)
    if errcode in IN_TRANSFER_CODES:
        # Maybe our own earlier send whose answer was lost: the result poll tells.
        return Outcome(ItemStatus.WAITING, errcode, detail)
    return Outcome(ItemStatus.FAILED, errcode, detail)


def finish_item(
    db: Session,
    actor: Actor,
    item: TransferItem,
    *,
    status: ItemStatus,
    at: datetime,
    errcode: int | None = None,
    detail: str = "",
    takeover_at: datetime | None = None,
) -> bool:
    """Move an item to a final state and record its event; return False if it was final."""
    if item.status in FINAL_STATUSES:
        return False
    item.status = status
    item.finished_at = at
    if errcode is not None:
        item.errcode = errcode
    if detail:
        item.detail = detail[:300]
    if takeover_at is not None:
        item.takeover_at = takeover_at
    if item.subject == TransferSubject.CUSTOMER:
        events.record(
            db,
            actor,
            _EVENT_OF[status],
            customer_id=item.customer_id,
            occurred_at=at,
            source="wecom",
            idempotency_key=f"transfer:{item.id}:{status.value}",
            data={
                "batch_id": str(item.batch_id),
                "item_id": str(item.id),
                "external_userid": item.subject_key,
                "handover_userid": item.handover_userid,
                "takeover_userid": item.takeover_userid,
                "errcode": item.errcode,
            },
        )
    return True


def close_batch_if_done(db: Session, batch: TransferBatch, *, at: datetime) -> bool:
    """Set the batch's ``finished_at`` once every item is final; return whether it is."""
    if batch.finished_at is not None:
        return True
    db.flush()
    open_item = db.scalar(
        select(TransferItem.id)
        .where(
            TransferItem.batch_id == batch.id,
            TransferItem.status.in_([ItemStatus.PENDING.value, ItemStatus.WAITING.value]),
        )
        .limit(1)
    )
    if open_item is None:
        batch.finished_at = at
        return True
    return False


def _accept(
    db: Session, actor: Actor, batch: TransferBatch, item: TransferItem, *, at: datetime
) -> None:
    """The receiver took over: the relation (or the group) follows."""
    takeover_at = item.takeover_at or at
    if item.subject == TransferSubject.CUSTOMER:
        if item.customer_id is None:  # never synced: no relation to move yet
            finish_item(db, actor, item, status=ItemStatus.ACCEPTED, at=at, takeover_at=takeover_at)
            return
        contacts.move_relation(
            db,
            actor,
            account_id=batch.account_id,
            external_userid=item.subject_key,
            from_userid=item.handover_userid,
            to_userid=item.takeover_userid,
            at=takeover_at,
        )
    else:
        groups.change_owner(
            db,
            actor,
            account_id=batch.account_id,
            chat_id=item.subject_key,
            new_owner_userid=item.takeover_userid,
            at=takeover_at,
        )
    finish_item(db, actor, item, status=ItemStatus.ACCEPTED, at=at, takeover_at=takeover_at)


def _batch(db: Session, actor: Actor, batch_id: uuid.UUID) -> TransferBatch:
    batch = db.get(TransferBatch, (actor.tenant_id, batch_id))
    if batch is None:  # deleted with its channel account meanwhile
        raise NotFound(f"transfer {batch_id} not found")
    return batch


def record_sent(
    db: Session,
    actor: Actor,
    *,
    batch_id: uuid.UUID,
    subject: TransferSubject,
    takeover_userid: str,
    answers: Mapping[str, tuple[int, str]],
    at: datetime,
) -> int:
    """Write WeCom's answer to one send call: ``answers`` maps key → (errcode, errmsg).

    Only PENDING items move (a second send of the same items never overwrites the first
    answer). A group transfer takes effect at once, so errcode 0 accepts a group. Keys WeCom
    did not answer for are failed. Returns how many items moved.
    """
    batch = _batch(db, actor, batch_id)
    items = list(
        db.scalars(
            select(TransferItem).where(
                TransferItem.batch_id == batch_id,
                TransferItem.subject == subject.value,
                TransferItem.takeover_userid == takeover_userid,
                TransferItem.subject_key.in_(list(answers)),
                TransferItem.status == ItemStatus.PENDING.value,
            )
        )
    )
    for item in items:
        errcode, errmsg = answers[item.subject_key]
        outcome = send_outcome(errcode, errmsg)
        if outcome.status is ItemStatus.WAITING:
            item.sent_at = at
            if subject is TransferSubject.GROUP:
                item.takeover_at = at
                _accept(db, actor, batch, item, at=at)
                continue
            item.status = ItemStatus.WAITING
            item.errcode = outcome.errcode
            if outcome.detail or item.detail.startswith(NOT_SENT):
                item.detail = outcome.detail
            continue
        item.sent_at = at
        finish_item(
            db, actor, item, status=outcome.status, at=at, errcode=errcode, detail=outcome.detail
        )
    close_batch_if_done(db, batch, at=at)
    db.flush()
    return len(items)


def fail_pending(
    db: Session,
    actor: Actor,
    *,
    batch_id: uuid.UUID,
    errcode: int | None,
    detail: str,
    at: datetime,
) -> int:
    """Fail every PENDING item of a batch (the account is gone or disabled, say)."""
    batch = _batch(db, actor, batch_id)
    items = list(
        db.scalars(
            select(TransferItem).where(
                TransferItem.batch_id == batch_id,
                TransferItem.status == ItemStatus.PENDING.value,
            )
        )
    )
    for item in items:
        finish_item(
            db, actor, item, status=ItemStatus.FAILED, at=at, errcode=errcode, detail=detail
        )
    close_batch_if_done(db, batch, at=at)
    db.flush()
    return len(items)


def note_pending(db: Session, actor: Actor, *, batch_id: uuid.UUID, detail: str) -> None:
    """Say on every PENDING item of a batch why it is not sent yet (it stays PENDING)."""
    for item in db.scalars(
        select(TransferItem).where(
            TransferItem.batch_id == batch_id,
            TransferItem.status == ItemStatus.PENDING.value,
        )
    ):
        item.detail = detail[:300]
    db.flush()


def _when(unix: int) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix > 0 else None


def apply_results(
    db: Session,
    actor: Actor,
    *,
    batch_id: uuid.UUID,
    results: Mapping[tuple[str, str], Mapping[str, CustomerTransferState]],
    at: datetime,
) -> int:
    """Apply ``transfer_result`` answers, keyed by (handover, takeover) then external_userid.

    Status 1 accepts (the relation moves to the receiver), 3 refuses, 4 is the receiver's limit,
    2 keeps waiting (``takeover_at`` is then WeCom's scheduled switch). No record for an item
    that got 40129 means another transfer holds the customer: failed. No record for an item
    sent more than ``NO_RECORD_GRACE`` ago means the transfer never started: failed. Only the
    pairs present in ``results`` are looked at. Returns how many items became final.
    """
    batch = _batch(db, actor, batch_id)
    items = list(
        db.scalars(
            select(TransferItem).where(
                TransferItem.batch_id == batch_id,
                TransferItem.subject == TransferSubject.CUSTOMER.value,
                TransferItem.status == ItemStatus.WAITING.value,
            )
        )
    )
    moved = 0
    for item in items:
        pair = (item.handover_userid, item.takeover_userid)
        if pair not in results:
            continue
        state = results[pair].get(item.subject_key)
        status = state.status if state is not None else TransferStatus.NO_RECORD
        when = _when(state.takeover_time) if state is not None else None
        if status is TransferStatus.WAITING:
            item.takeover_at = when
            if item.errcode in IN_TRANSFER_CODES:  # it was our own send after all
                item.errcode, item.detail = None, ""
        elif status is TransferStatus.DONE:
            item.takeover_at = when or at
            _accept(db, actor, batch, item, at=at)
            moved += 1
        elif status is TransferStatus.REFUSED:
            moved += finish_item(
                db,
                actor,
                item,
                status=ItemStatus.REFUSED,
                at=at,
                detail=REFUSED,
            )
        elif status is TransferStatus.TAKEOVER_FULL:
            moved += finish_item(
                db,
                actor,
                item,
                status=ItemStatus.LIMIT_REACHED,
                at=at,
                detail=LIMIT_AT_TAKEOVER,
            )
        elif item.errcode in IN_TRANSFER_CODES:
            moved += finish_item(
                db,
                actor,
                item,
                status=ItemStatus.FAILED,
                at=at,
                detail=IN_OTHER_TRANSFER,
            )
        elif item.sent_at is not None and at - item.sent_at > NO_RECORD_GRACE:
            moved += finish_item(
                db,
                actor,
                item,
                status=ItemStatus.FAILED,
                at=at,
                detail=NO_RECORD,
            )
    close_batch_if_done(db, batch, at=at)
    db.flush()
    return moved


FAIL_REASONS = {
    "customer_refused": (ItemStatus.REFUSED, REFUSED),
    "customer_limit_exceed": (ItemStatus.LIMIT_REACHED, LIMIT_AT_TAKEOVER),
}


def apply_fail_reason(
    db: Session, actor: Actor, item: TransferItem, *, reason: str, at: datetime
) -> None:
    """Apply a ``transfer_fail`` callback's ``FailReason`` to an open item."""
    status, detail = FAIL_REASONS.get(reason, (ItemStatus.FAILED, f"transfer failed: {reason}"))
    finish_item(db, actor, item, status=status, at=at, detail=detail)
    close_batch_if_done(db, _batch(db, actor, item.batch_id), at=at)
    db.flush()
