"""What to send: a batch's PENDING items as WeCom calls, and the pairs to poll for results."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.core.actor import Actor
from siyu.security.rbac import Perm, require
from siyu.transfers.listing import get_batch
from siyu.transfers.models import ItemStatus, TransferItem, TransferKind, TransferSubject

CHUNK = 100  # WeCom: ≤ 100 external_userids / chat ids per transfer call (spec §3.7)


@dataclass(frozen=True)
class Chunk:
    """One WeCom call: up to 100 customers (or groups) of one receiver."""

    subject: TransferSubject
    takeover_userid: str
    keys: list[str]


@dataclass(frozen=True)
class SendPlan:
    batch_id: uuid.UUID
    account: ChannelAccount
    kind: TransferKind
    handover_userid: str
    transfer_success_msg: str | None
    chunks: list[Chunk]


def send_plan(db: Session, actor: Actor, batch_id: uuid.UUID) -> SendPlan:
    """Return the WeCom calls that send a batch's PENDING items, 100 per call."""
    require(actor, Perm.TRANSFERS_WRITE)
    batch = get_batch(db, actor, batch_id)
    account = channels.get_account(db, actor, batch.account_id)
    by_receiver: dict[tuple[str, str], list[str]] = {}
    for subject, takeover, key in db.execute(
        select(TransferItem.subject, TransferItem.takeover_userid, TransferItem.subject_key)
        .where(
            TransferItem.batch_id == batch.id,
            TransferItem.status == ItemStatus.PENDING.value,
        )
        .order_by(TransferItem.id)
    ):
        by_receiver.setdefault((subject, takeover), []).append(key)
    chunks = [
        Chunk(TransferSubject(subject), takeover, keys[start : start + CHUNK])
        for (subject, takeover), keys in by_receiver.items()
        for start in range(0, len(keys), CHUNK)
    ]
    return SendPlan(
        batch_id=batch.id,
        account=account,
        kind=TransferKind(batch.kind),
        handover_userid=batch.handover_userid,
        transfer_success_msg=batch.transfer_success_msg,
        chunks=chunks,
    )


def waiting_pairs(db: Session, actor: Actor, batch_id: uuid.UUID) -> list[tuple[str, str]]:
    """Return the (handover, takeover) pairs with WAITING customers: one poll each."""
    batch = get_batch(db, actor, batch_id)
    rows = db.execute(
        select(TransferItem.handover_userid, TransferItem.takeover_userid)
        .where(
            TransferItem.batch_id == batch.id,
            TransferItem.subject == TransferSubject.CUSTOMER.value,
            TransferItem.status == ItemStatus.WAITING.value,
        )
        .distinct()
    )
    return sorted((h, t) for h, t in rows)
