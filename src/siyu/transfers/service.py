"""Transfers: hand a member's customers (and groups) to other members and follow the outcome.

A batch names the handover member and its items name one customer (or group) and its receiver
each. Items start PENDING, become WAITING once WeCom accepted the request (the customer's 24-hour
window runs) and end ACCEPTED, REFUSED, LIMIT_REACHED or FAILED. A customer is never lost
silently: every item reaches a final state and the failed ones can be retried to someone else.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.events import service as events
from siyu.security.rbac import Perm, require
from siyu.transfers.models import (
    FINAL_STATUSES,
    ItemStatus,
    TransferBatch,
    TransferItem,
    TransferSubject,
)

FAIL_REASONS = {
    "customer_refused": ItemStatus.REFUSED,
    "customer_limit_exceed": ItemStatus.LIMIT_REACHED,
}

_EVENT_OF = {
    ItemStatus.ACCEPTED: "transfer.accepted",
    ItemStatus.REFUSED: "transfer.refused",
    ItemStatus.LIMIT_REACHED: "transfer.limit_reached",
    ItemStatus.FAILED: "transfer.failed",
}


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
) -> None:
    """Move an item to a final state and record the matching event (no-op if already final)."""
    if item.status in FINAL_STATUSES:
        return
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


def close_batch_if_done(db: Session, batch: TransferBatch, *, at: datetime) -> bool:
    """Set the batch's ``finished_at`` once every item is final; return whether it is finished."""
    if batch.finished_at is not None:
        return True
    db.flush()
    open_item = db.scalar(
        select(TransferItem.id)
        .where(
            TransferItem.batch_id == batch.id,
            TransferItem.status.not_in([s.value for s in FINAL_STATUSES]),
        )
        .limit(1)
    )
    if open_item is None:
        batch.finished_at = at
        return True
    return False


def apply_transfer_failed(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    handover_userid: str,
    takeover_userid: str,
    external_userid: str,
    reason: str,
    at: datetime,
) -> TransferItem | None:
    """Record WeCom's ``transfer_fail`` callback on the open item it concerns.

    ``reason`` is WeCom's ``FailReason``: ``customer_refused`` → REFUSED,
    ``customer_limit_exceed`` → LIMIT_REACHED. WeCom does not say whether the event's
    ``UserID`` is the handover or the takeover member, so either given userid may match either
    side of the item; an empty one is ignored. Returns the item, or ``None`` when no open
    transfer of that customer is known (a transfer started outside siyu, or already final).
    """
    require(actor, Perm.TRANSFERS_WRITE)
    status = FAIL_REASONS.get(reason, ItemStatus.FAILED)
    members = {u for u in (handover_userid, takeover_userid) if u}
    stmt = (
        select(TransferItem)
        .join(TransferBatch, TransferBatch.id == TransferItem.batch_id)
        .where(
            TransferBatch.account_id == account_id,
            TransferItem.subject == TransferSubject.CUSTOMER.value,
            TransferItem.subject_key == external_userid,
            TransferItem.status.in_([ItemStatus.WAITING.value, ItemStatus.PENDING.value]),
        )
        .order_by(TransferBatch.created_at.desc(), TransferItem.id.desc())
    )
    candidates = list(db.scalars(stmt))
    exact = [
        i
        for i in candidates
        if i.handover_userid == handover_userid and i.takeover_userid == takeover_userid
    ]
    loose = [i for i in candidates if {i.handover_userid, i.takeover_userid} & members]
    if not (exact or loose):
        return None
    item = (exact or loose)[0]
    detail = {
        ItemStatus.REFUSED: "the customer refused the transfer",
        ItemStatus.LIMIT_REACHED: "the receiver's customer limit was reached",
    }.get(status, f"transfer failed: {reason}")
    finish_item(db, actor, item, status=status, at=at, detail=detail)
    batch = db.get(TransferBatch, (actor.tenant_id, item.batch_id))
    if batch is not None:
        close_batch_if_done(db, batch, at=at)
    db.flush()
    return item
