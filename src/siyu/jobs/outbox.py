"""The outbox: calls to the outside world, committed with the change that asks for them.

A service that needs WeCom (or any channel) to do something calls ``enqueue`` inside its unit
of work. The row commits with the change; after the commit the delivery job is queued. The job
claims the row (moving ``due_at`` forward as a lease, so two workers never send it at once),
runs the kind's handler outside any transaction, and records the outcome: sent, retried later
with capped backoff, failed after the last attempt, or dropped once past ``expires_at`` (a
welcome code is worth nothing after 20 seconds). A sweep every minute queues rows whose job
was lost (a crashed worker, a queue that was down).

Handlers are registered per kind with ``@handler("wecom.welcome")`` and receive an
``OutboxCall``; they raise ``Retry`` for a transient failure, ``Drop`` for one not worth
retrying, and return a JSON-able result. Any other exception counts as a failed attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from huey import crontab
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.core import bulk
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import after_commit, system_unit_of_work
from siyu.core.ids import new_id
from siyu.jobs.models import OutboxMessage, OutboxStatus
from siyu.jobs.queue import huey

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=1)
SWEEP_BATCH = 500


class Retry(Exception):
    """A transient failure: try again later (``after`` overrides the backoff)."""

    def __init__(self, reason: str, *, after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.after = after


class Drop(Exception):
    """Not worth retrying: the message is dropped with this reason."""


@dataclass(frozen=True)
class OutboxCall:
    tenant_id: uuid.UUID
    message_id: uuid.UUID
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    attempt: int
    now: datetime


Handler = Callable[[OutboxCall], dict[str, Any] | None]
_handlers: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that delivers messages of ``kind``."""

    def register(fn: Handler) -> Handler:
        if kind in _handlers and _handlers[kind] is not fn:
            raise RuntimeError(f"outbox kind {kind!r} already has a handler")
        _handlers[kind] = fn
        return fn

    return register


def enqueue(
    db: Session,
    actor: Actor,
    *,
    kind: str,
    key: str,
    payload: dict[str, Any],
    due_at: datetime | None = None,
    expires_at: datetime | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> uuid.UUID | None:
    """Add a message unless one with ``key`` exists; return the new id (None if it existed).

    Delivery is queued after the unit of work commits.
    """
    now = clock.now()
    values = {
        "tenant_id": actor.tenant_id,
        "id": new_id(),
        "kind": kind,
        "idempotency_key": key,
        "payload": payload,
        "status": OutboxStatus.PENDING.value,
        "created_at": now,
        "due_at": due_at or now,
        "expires_at": expires_at,
        "attempts": 0,
        "result": {},
    }
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(OutboxMessage)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(OutboxMessage.id)
    )
    message_id = db.execute(statement).scalar_one_or_none()
    if message_id is None:
        return None
    tenant_id = actor.tenant_id
    after_commit(db, lambda: _queue(tenant_id, message_id, due_at))
    return message_id


def _queue(tenant_id: uuid.UUID, message_id: uuid.UUID, due_at: datetime | None) -> None:
    try:
        if due_at is not None and not huey.immediate:
            deliver.schedule((str(tenant_id), str(message_id)), eta=due_at)
        else:
            deliver(str(tenant_id), str(message_id))
    except Exception:
        log.exception("outbox_queue_failed", message_id=str(message_id))


def _claim(tenant_id: uuid.UUID, message_id: uuid.UUID, clock: Clock) -> OutboxCall | None:
    now = clock.now()
    with system_unit_of_work(reason="outbox delivery claims a message") as db:
        bulk.lock_for_writing(db, OutboxMessage)  # SQLite: read and claim under one lock
        message = db.scalar(
            select(OutboxMessage).where(
                OutboxMessage.tenant_id == tenant_id, OutboxMessage.id == message_id
            )
        )
        if message is None or message.status != OutboxStatus.PENDING or message.due_at > now:
            return None
        if message.expires_at is not None and message.expires_at <= now:
            message.status = OutboxStatus.DROPPED
            message.last_error = "expired before it could be sent"
            log.warning("outbox_expired", kind=message.kind, message_id=str(message_id))
            return None
        claimed = db.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.id == message_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.due_at == message.due_at,
            )
            .values(due_at=now + LEASE, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
            return None
        return OutboxCall(
            tenant_id=tenant_id,
            message_id=message_id,
            kind=message.kind,
            idempotency_key=message.idempotency_key,
            payload=dict(message.payload),
            attempt=message.attempts + 1,
            now=now,
        )


def _finish(call: OutboxCall, clock: Clock, **values: Any) -> None:
    with system_unit_of_work(reason="outbox delivery records its outcome") as db:
        db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.tenant_id == call.tenant_id, OutboxMessage.id == call.message_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _backoff(attempt: int) -> timedelta:
    delay: timedelta = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return delay


def deliver_now(
    tenant_id: uuid.UUID, message_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK
) -> OutboxStatus | None:
    """Deliver one message if it is due and unclaimed; return its status afterwards."""
    call = _claim(tenant_id, message_id, clock)
    if call is None:
        return None
    fn = _handlers.get(call.kind)
    bound = log.bind(kind=call.kind, message_id=str(message_id), attempt=call.attempt)
    if fn is None:
        _finish(call, clock, status=OutboxStatus.FAILED.value, last_error="no handler")
        bound.error("outbox_no_handler")
        return OutboxStatus.FAILED
    try:
        result = fn(call) or {}
    except Drop as exc:
        _finish(call, clock, status=OutboxStatus.DROPPED.value, last_error=str(exc)[:500])
        bound.warning("outbox_dropped", reason=str(exc))
        return OutboxStatus.DROPPED
    except Exception as exc:  # noqa: BLE001 - boundary: every failure is an attempt
        reason = f"{type(exc).__name__}: {exc}"[:500]
        if call.attempt >= MAX_ATTEMPTS:
            _finish(call, clock, status=OutboxStatus.FAILED.value, last_error=reason)
            bound.error("outbox_failed", reason=reason)
            return OutboxStatus.FAILED
        after = exc.after if isinstance(exc, Retry) and exc.after else _backoff(call.attempt)
        due = clock.now() + after
        _finish(call, clock, last_error=reason, due_at=due)
        bound.warning("outbox_retry", reason=reason, retry_in_s=after.total_seconds())
        if not huey.immediate:
            deliver.schedule((str(tenant_id), str(message_id)), eta=due)
        return OutboxStatus.PENDING
    _finish(
        call,
        clock,
        status=OutboxStatus.SENT.value,
        sent_at=clock.now(),
        result=result,
        last_error=None,
    )
    bound.info("outbox_sent")
    return OutboxStatus.SENT


@huey.task(name="outbox.deliver")  # type: ignore[untyped-decorator]  # huey has no hints
def deliver(tenant_id: str, message_id: str) -> None:
    deliver_now(uuid.UUID(tenant_id), uuid.UUID(message_id))


def due_messages(now: datetime, *, limit: int = SWEEP_BATCH) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Return (tenant, message) ids of pending messages that are due, oldest first."""
    with system_unit_of_work(reason="outbox sweep finds due messages in every tenant") as db:
        rows = db.execute(
            select(OutboxMessage.tenant_id, OutboxMessage.id)
            .where(OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.due_at <= now)
            .order_by(OutboxMessage.due_at)
            .limit(limit)
        ).all()
    return [(row.tenant_id, row.id) for row in rows]


def sweep(*, clock: Clock = SYSTEM_CLOCK) -> int:
    """Deliver every due message whose job was lost; return how many were tried."""
    due = due_messages(clock.now())
    for tenant_id, message_id in due:
        try:
            deliver_now(tenant_id, message_id, clock=clock)
        except Exception:
            log.exception("outbox_sweep_failed", message_id=str(message_id))
    return len(due)


@huey.periodic_task(crontab(minute="*"), name="outbox.sweep")  # type: ignore[untyped-decorator]
def sweep_job() -> None:
    sweep()
