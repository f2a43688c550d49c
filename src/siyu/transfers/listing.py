"""Reading transfers: one batch, lists of batches and items, and their per-status counts."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, select, tuple_
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.errors import InvalidInput, NotFound
from siyu.customers import service as customers
from siyu.security.rbac import Perm, require
from siyu.transfers.models import (
    ItemStatus,
    TransferBatch,
    TransferItem,
    TransferKind,
    TransferSubject,
)
from siyu.transfers.schemas import (
    BatchState,
    TransferBatchRead,
    TransferCounts,
    TransferDetail,
    TransferItemRead,
)

MAX_PAGE = 500
OPEN = (ItemStatus.PENDING.value, ItemStatus.WAITING.value)


def _not_found(batch_id: object) -> NotFound:
    return NotFound(
        f"transfer {batch_id} not found",
        hint="list transfers with GET /api/v1/transfers or `siyu transfer list`",
    )


@dataclass(frozen=True)
class BatchList:
    items: list[TransferBatch]
    next_cursor: str | None


@dataclass(frozen=True)
class ItemList:
    items: list[TransferItem]
    next_cursor: str | None


def get_batch(db: Session, actor: Actor, batch_id: uuid.UUID) -> TransferBatch:
    """Return a batch of the actor's tenant; anything else is ``NotFound``."""
    require(actor, Perm.CUSTOMERS_READ)
    batch = db.get(TransferBatch, (actor.tenant_id, batch_id))
    if batch is None:
        raise _not_found(batch_id)
    return batch


def _encode(at: datetime, batch_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{batch_id}".encode()).decode()


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, batch_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(batch_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "cursor is not valid", hint="pass the next_cursor of the previous page unchanged"
        ) from exc


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit is {limit}", hint=f"use 1 to {MAX_PAGE}")


def list_batches(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID | None = None,
    handover_userid: str | None = None,
    open_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> BatchList:
    """Return batches, newest first."""
    require(actor, Perm.CUSTOMERS_READ)
    _check_limit(limit)
    stmt = select(TransferBatch)
    if account_id is not None:
        stmt = stmt.where(TransferBatch.account_id == account_id)
    if handover_userid:
        stmt = stmt.where(TransferBatch.handover_userid == handover_userid.strip())
    if open_only:
        stmt = stmt.where(TransferBatch.finished_at.is_(None))
    if cursor:
        at, last = _decode(cursor)
        stmt = stmt.where(tuple_(TransferBatch.created_at, TransferBatch.id) < tuple_(at, last))
    rows = list(
        db.scalars(
            stmt.order_by(TransferBatch.created_at.desc(), TransferBatch.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode(rows[-1].created_at, rows[-1].id)
    return BatchList(rows, next_cursor)


def list_items(
    db: Session,
    actor: Actor,
    batch_id: uuid.UUID,
    *,
    status: ItemStatus | None = None,
    subject: TransferSubject | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> ItemList:
    """Return a batch's items in the order they were chosen."""
    batch = get_batch(db, actor, batch_id)
    _check_limit(limit)
    stmt = select(TransferItem).where(TransferItem.batch_id == batch.id)
    if status is not None:
        stmt = stmt.where(TransferItem.status == status.value)
    if subject is not None:
        stmt = stmt.where(TransferItem.subject == subject.value)
    if cursor:
        try:
            last = uuid.UUID(cursor)
        except ValueError as exc:
            raise InvalidInput(
                "cursor is not valid", hint="pass the next_cursor of the previous page unchanged"
            ) from exc
        stmt = stmt.where(TransferItem.id > last)
    rows = list(db.scalars(stmt.order_by(TransferItem.id).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = str(rows[-1].id)
    return ItemList(rows, next_cursor)


def present(db: Session, actor: Actor, batches: Sequence[TransferBatch]) -> list[TransferBatchRead]:
    """Return batches with their counts and receivers (two queries for any number)."""
    ids = [b.id for b in batches]
    counts: dict[tuple[uuid.UUID, str], dict[str, int]] = {}
    receivers: dict[uuid.UUID, list[tuple[str, str]]] = {}
    if ids:
        for batch_id, subject, status, n in db.execute(
            select(
                TransferItem.batch_id,
                TransferItem.subject,
                TransferItem.status,
                func.count(),
            )
            .where(TransferItem.batch_id.in_(ids))
            .group_by(TransferItem.batch_id, TransferItem.subject, TransferItem.status)
        ):
            counts.setdefault((batch_id, subject), {})[status] = n
        for batch_id, takeover, first in db.execute(
            select(
                TransferItem.batch_id,
                TransferItem.takeover_userid,
                func.min(cast(TransferItem.id, String)),  # PostgreSQL has no min(uuid)
            )
            .where(TransferItem.batch_id.in_(ids))
            .group_by(TransferItem.batch_id, TransferItem.takeover_userid)
        ):
            receivers.setdefault(batch_id, []).append((first, takeover))
    out = []
    for b in batches:
        customers = TransferCounts.of(counts.get((b.id, TransferSubject.CUSTOMER.value), {}))
        group_counts = TransferCounts.of(counts.get((b.id, TransferSubject.GROUP.value), {}))
        if b.finished_at is not None:
            state = BatchState.FINISHED
        elif customers.pending or group_counts.pending:
            state = BatchState.SENDING
        else:
            state = BatchState.WAITING
        out.append(
            TransferBatchRead(
                id=b.id,
                account_id=b.account_id,
                kind=TransferKind(b.kind),
                handover_userid=b.handover_userid,
                receivers=[u for _, u in sorted(receivers.get(b.id, []))],
                transfer_success_msg=b.transfer_success_msg,
                created_by=b.created_by,
                created_at=b.created_at,
                finished_at=b.finished_at,
                state=state,
                counts=customers,
                group_counts=group_counts,
            )
        )
    return out


def detail(
    db: Session,
    actor: Actor,
    batch_id: uuid.UUID,
    *,
    status: ItemStatus | None = None,
    subject: TransferSubject | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> TransferDetail:
    """Return a batch with its counts and one page of its items."""
    batch = get_batch(db, actor, batch_id)
    page = list_items(
        db, actor, batch.id, status=status, subject=subject, limit=limit, cursor=cursor
    )
    (read,) = present(db, actor, [batch])
    names = customer_names(db, actor, [i.customer_id for i in page.items])
    return TransferDetail(
        **read.model_dump(),
        items=[
            TransferItemRead.model_validate(i).model_copy(
                update={"customer_name": names.get(i.customer_id) if i.customer_id else None}
            )
            for i in page.items
        ],
        next_cursor=page.next_cursor,
    )


def customer_names(
    db: Session, actor: Actor, ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    """Return the names of the customers the actor may see among ``ids``."""
    wanted = [i for i in set(ids) if i is not None]
    return {c.id: c.name or "" for c in customers.get_many(db, actor, wanted)}


def open_batches(db: Session, *, created_before: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Return (tenant, batch) ids of unfinished batches in every tenant (system session)."""
    rows = db.execute(
        select(TransferBatch.tenant_id, TransferBatch.id)
        .where(TransferBatch.finished_at.is_(None), TransferBatch.created_at <= created_before)
        .order_by(TransferBatch.tenant_id, TransferBatch.created_at)
    )
    return [(t, b) for t, b in rows]
