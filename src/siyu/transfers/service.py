"""Transfers: hand a member's customers (and groups) to other members and follow the outcome.

A batch names the handover member; its items name one customer (or group) and its receiver
each. Items start PENDING, become WAITING once WeCom accepted the request (the customer's 24-hour
window runs) and end ACCEPTED, REFUSED, LIMIT_REACHED or FAILED. A customer is never lost
silently: every item reaches a final state, and the refused, limited and failed ones can be
retried to other receivers in a new batch.

This module is the façade entry points call: it creates and retries batches and records the
``transfer_fail`` callback, and re-exports the pieces it is built from (``selection``: whom to
hand over and to whom; ``listing``: reading; ``sending``: what to send; ``outcomes``: what
WeCom answered). Talking to WeCom happens in ``flows``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import check_rows_tenant
from siyu.core.errors import InvalidInput
from siyu.core.ids import new_id
from siyu.security import service as security
from siyu.security.rbac import Perm, require
from siyu.transfers import outcomes
from siyu.transfers.listing import (
    MAX_PAGE,
    OPEN,
    BatchList,
    ItemList,
    detail,
    get_batch,
    list_batches,
    list_items,
    open_batches,
    present,
)
from siyu.transfers.models import (
    ItemStatus,
    TransferBatch,
    TransferItem,
    TransferKind,
    TransferSubject,
)
from siyu.transfers.schemas import TransferCreate, TransferRetry
from siyu.transfers.selection import (
    Candidate,
    check_handover,
    check_receivers,
    customer_candidates,
    group_candidates,
    handover_customers,
    in_flight_keys,
)
from siyu.transfers.sending import Chunk, SendPlan, send_plan, waiting_pairs

__all__ = [
    "MAX_PAGE",
    "BatchList",
    "Chunk",
    "ItemList",
    "SendPlan",
    "apply_transfer_failed",
    "check_receivers",
    "create_transfer",
    "detail",
    "get_batch",
    "handover_customers",
    "list_batches",
    "list_items",
    "open_batches",
    "present",
    "retry_transfer",
    "send_plan",
    "waiting_pairs",
]


def _insert_batch(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    kind: TransferKind,
    handover_userid: str,
    receivers: Sequence[str],
    candidates: Sequence[Candidate],
    success_msg: str | None,
    clock: Clock,
) -> TransferBatch:
    now = clock.now()
    batch = TransferBatch(
        id=new_id(),
        account_id=account_id,
        kind=kind,
        handover_userid=handover_userid,
        transfer_success_msg=success_msg if kind is TransferKind.IN_SERVICE else None,
        created_by=actor.label[:200],
        created_at=now,
    )
    db.add(batch)
    db.flush()
    turn = {TransferSubject.CUSTOMER: 0, TransferSubject.GROUP: 0}
    rows = []
    for c in candidates:
        takeover = receivers[turn[c.subject] % len(receivers)]
        turn[c.subject] += 1
        rows.append(
            {
                "tenant_id": actor.tenant_id,
                "id": new_id(),
                "batch_id": batch.id,
                "subject": c.subject.value,
                "subject_key": c.key,
                "customer_id": c.customer_id,
                "handover_userid": handover_userid,
                "takeover_userid": takeover,
                "status": ItemStatus.PENDING.value,
                "detail": c.detail,
            }
        )
    table = TransferItem.__table__
    check_rows_tenant(db, table, rows)  # type: ignore[arg-type]  # a Table, as mapped
    for start in range(0, len(rows), 5_000):
        db.execute(insert(TransferItem), rows[start : start + 5_000])
    return batch


def create_transfer(
    db: Session,
    actor: Actor,
    *,
    data: TransferCreate,
    unassigned: Sequence[str] = (),
    clock: Clock = SYSTEM_CLOCK,
) -> TransferBatch:
    """Choose the customers (and groups) and create the batch with PENDING items.

    ``unassigned`` is what WeCom's ``get_unassigned_list`` says the handover member left
    behind (resigned transfers: the caller fetched it before the unit of work). With no
    ``customer_ids`` every active customer of the member is taken, except those already in an
    open transfer, plus unassigned ones siyu has not synced yet.
    """
    require(actor, Perm.TRANSFERS_WRITE)
    account = channels.find_account(db, actor, data.account)
    handover = data.handover_userid.strip()
    check_handover(db, actor, kind=data.kind, userid=handover, unassigned=unassigned)
    receivers = check_receivers(db, actor, handover_userid=handover, receivers=data.receivers)
    candidates = customer_candidates(
        db,
        actor,
        account=account,
        handover_userid=handover,
        customer_ids=data.customer_ids,
        unassigned=unassigned,
    )
    if data.include_groups:
        candidates += group_candidates(db, actor, account_id=account.id, handover_userid=handover)
    if not candidates:
        raise InvalidInput(
            f"member {handover!r} has no customers{' or groups' if data.include_groups else ''} "
            f"to hand over in account {account.name}",
            hint="check the userid, sync the account's contacts (`siyu wecom sync`), or look "
            "at open transfers (`siyu transfer list`): customers in one are left out",
        )
    message = (data.transfer_success_msg or "").strip() or None
    if message and data.kind is TransferKind.RESIGNED:
        raise InvalidInput(
            "a success message is for in-service transfers only",
            hint="leave transfer_success_msg out of a resigned transfer",
        )
    batch = _insert_batch(
        db,
        actor,
        account_id=account.id,
        kind=data.kind,
        handover_userid=handover,
        receivers=receivers,
        candidates=candidates,
        success_msg=message,
        clock=clock,
    )
    security.record_audit(
        db,
        actor,
        "transfer.create",
        subject_type="transfer_batch",
        subject_id=batch.id,
        detail={
            "kind": data.kind.value,
            "account": account.name,
            "handover_userid": handover,
            "receivers": receivers,
            "customers": sum(c.subject is TransferSubject.CUSTOMER for c in candidates),
            "groups": sum(c.subject is TransferSubject.GROUP for c in candidates),
        },
    )
    db.flush()
    return batch


def retry_transfer(
    db: Session,
    actor: Actor,
    batch_id: uuid.UUID,
    *,
    data: TransferRetry,
    clock: Clock = SYSTEM_CLOCK,
) -> TransferBatch:
    """Start a new batch with a batch's refused / limited / failed items, to ``receivers``.

    Items whose customer is in another open transfer are left out; the old items keep their
    status and their detail says which batch retried them.
    """
    require(actor, Perm.TRANSFERS_WRITE)
    old = get_batch(db, actor, batch_id)
    receivers = check_receivers(
        db, actor, handover_userid=old.handover_userid, receivers=data.receivers
    )
    items = list(
        db.scalars(
            select(TransferItem)
            .where(
                TransferItem.batch_id == old.id,
                TransferItem.status.in_([s.value for s in data.statuses]),
            )
            .order_by(TransferItem.id)
        )
    )
    busy = {
        subject: in_flight_keys(
            db,
            account_id=old.account_id,
            subject=subject,
            keys=[i.subject_key for i in items if i.subject == subject],
        )
        for subject in TransferSubject
    }
    retried = [i for i in items if i.subject_key not in busy[TransferSubject(i.subject)]]
    if not retried:
        raise InvalidInput(
            f"transfer {batch_id} has no {'/'.join(s.value for s in data.statuses)} items to retry",
            hint="only refused, limit_reached and failed items can be retried, once each "
            "(an item already retried is in the newer batch)",
        )
    message = (data.transfer_success_msg or "").strip() or old.transfer_success_msg
    batch = _insert_batch(
        db,
        actor,
        account_id=old.account_id,
        kind=TransferKind(old.kind),
        handover_userid=old.handover_userid,
        receivers=receivers,
        candidates=[
            Candidate(TransferSubject(i.subject), i.subject_key, i.customer_id) for i in retried
        ],
        success_msg=message,
        clock=clock,
    )
    for item in retried:
        note = f"{outcomes.RETRIED}{batch.id}"
        item.detail = (item.detail[: 300 - len(note)] + note) if item.detail else note.lstrip()
    security.record_audit(
        db,
        actor,
        "transfer.retry",
        subject_type="transfer_batch",
        subject_id=batch.id,
        detail={"retry_of": str(old.id), "receivers": receivers, "items": len(retried)},
    )
    db.flush()
    return batch


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
    members = {u for u in (handover_userid, takeover_userid) if u}
    stmt = (
        select(TransferItem)
        .join(TransferBatch, TransferBatch.id == TransferItem.batch_id)
        .where(
            TransferBatch.account_id == account_id,
            TransferItem.subject == TransferSubject.CUSTOMER.value,
            TransferItem.subject_key == external_userid,
            TransferItem.status.in_(OPEN),
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
    outcomes.apply_fail_reason(db, actor, item, reason=reason, at=at)
    return item
