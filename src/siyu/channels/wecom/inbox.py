"""The WeCom callback inbox: store every verified event once, then process it outside the request.

The callback endpoint calls ``store`` in one unit of work (a retry of the same event by WeCom
finds its ``dedupe_key`` and stores nothing) and queues ``process`` as a job, so WeCom gets its
200 within its 5 seconds. ``process`` claims the row, reads what the event needs from WeCom
(never inside a transaction), applies it through the owning domain's service and marks the
row ``processed``, ``ignored`` (nothing to do, with the reason in ``error``) or ``failed`` (with
the error; retried with backoff up to ``MAX_ATTEMPTS`` by the job, then kept for an operator to
retry). What each event does, and why running it twice is safe, is in ``reactions``.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import reactions
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
    TagType,
    TransferFailed,
    UnknownEvent,
)
from siyu.channels.wecom.models import CallbackStatus, WeComCallback
from siyu.core import bulk
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import system_unit_of_work
from siyu.core.errors import Conflict, NotFound
from siyu.core.ids import new_id
from siyu.security.rbac import Perm, require

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(minutes=30)
LOST_AFTER = timedelta(minutes=2)  # a received callback no job picked up by then is re-queued
SWEEP_BATCH = 200

_EVENT_CLASSES: dict[str, type[CallbackEvent]] = {
    cls.__name__: cls
    for cls in (
        ExternalContactAdded,
        ExternalContactHalfAdded,
        ExternalContactEdited,
        ExternalContactDeleted,
        FollowUserDeleted,
        TransferFailed,
        ExternalChatCreated,
        ExternalChatUpdated,
        ExternalChatDismissed,
        ExternalTagCreated,
        ExternalTagUpdated,
        ExternalTagDeleted,
        ExternalTagShuffled,
        UnknownEvent,
    )
}


def event_payload(event: CallbackEvent) -> dict[str, Any]:
    """Return the event's fields as JSON (ids, state, welcome code; never ciphertext)."""
    data: dict[str, Any] = {"event_class": type(event).__name__}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        data[item.name] = value
    return data


def event_from(payload: dict[str, Any]) -> CallbackEvent:
    """Rebuild the typed event stored by ``event_payload``."""
    fields = dict(payload)
    cls = _EVENT_CLASSES[str(fields.pop("event_class"))]
    fields["create_time"] = datetime.fromisoformat(str(fields["create_time"]))
    if "mem_change_list" in fields:
        fields["mem_change_list"] = tuple(fields["mem_change_list"])
    if fields.get("tag_type"):
        fields["tag_type"] = TagType(fields["tag_type"])
    return cls(**fields)


@dataclass(frozen=True)
class Stored:
    """The inbox row of a callback; ``is_new`` is false for WeCom's retry of a stored event."""

    tenant_id: uuid.UUID
    account_id: uuid.UUID
    callback_id: uuid.UUID
    is_new: bool


def store(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    event: CallbackEvent,
    clock: Clock = SYSTEM_CLOCK,
) -> Stored:
    """Store a verified event once per ``dedupe_key`` and note the account's last callback.

    The caller proved the sender with the callback signature; there is no permission to check.
    """
    bulk.lock_for_writing(db, WeComCallback)
    now = clock.now()
    key = event.dedupe_key()[:300]
    values = {
        "tenant_id": actor.tenant_id,
        "id": new_id(),
        "account_id": account_id,
        "dedupe_key": key,
        "event": event.event[:64],
        "change_type": event.change_type[:64] or None,
        "payload": event_payload(event),
        "received_at": now,
        "status": CallbackStatus.RECEIVED.value,
        "attempts": 0,
    }
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    new_id_ = db.execute(
        insert(WeComCallback)
        .values(values)
        .on_conflict_do_nothing(index_elements=["tenant_id", "account_id", "dedupe_key"])
        .returning(WeComCallback.id)
    ).scalar_one_or_none()
    db.execute(
        update(ChannelAccount)
        .where(ChannelAccount.tenant_id == actor.tenant_id, ChannelAccount.id == account_id)
        .values(last_callback_at=now)
        .execution_options(synchronize_session=False)
    )
    if new_id_ is not None:
        return Stored(actor.tenant_id, account_id, new_id_, is_new=True)
    existing = db.scalar(
        select(WeComCallback.id).where(
            WeComCallback.account_id == account_id, WeComCallback.dedupe_key == key
        )
    )
    if existing is None:  # pragma: no cover - the conflicting row exists by definition
        raise Conflict(f"callback {key!r} conflicted but cannot be found")
    return Stored(actor.tenant_id, account_id, existing, is_new=False)


def list_callbacks(
    db: Session,
    actor: Actor,
    *,
    account_id: uuid.UUID,
    status: CallbackStatus | None = None,
    limit: int = 50,
) -> list[WeComCallback]:
    """Return an account's latest callbacks, newest first (admins)."""
    require(actor, Perm.CHANNELS_MANAGE)
    channels.get_account(db, actor, account_id)
    stmt = select(WeComCallback).where(WeComCallback.account_id == account_id)
    if status is not None:
        stmt = stmt.where(WeComCallback.status == status.value)
    stmt = stmt.order_by(WeComCallback.received_at.desc(), WeComCallback.id.desc()).limit(limit)
    return list(db.scalars(stmt))


def get_callback(
    db: Session, actor: Actor, *, account_id: uuid.UUID, callback_id: uuid.UUID
) -> WeComCallback:
    require(actor, Perm.CHANNELS_MANAGE)
    callback = db.get(WeComCallback, (actor.tenant_id, callback_id))
    if callback is None or callback.account_id != account_id:
        raise NotFound(
            f"callback {callback_id} of channel account {account_id} not found",
            hint="list the account's callbacks with GET "
            f"/api/v1/channel-accounts/{account_id}/callbacks or `siyu wecom callbacks`",
        )
    return callback


def reopen_callback(
    db: Session, actor: Actor, *, account_id: uuid.UUID, callback_id: uuid.UUID
) -> WeComCallback:
    """Put a failed or ignored callback back to ``received`` with fresh attempts (queue it next)."""
    callback = get_callback(db, actor, account_id=account_id, callback_id=callback_id)
    if callback.status == CallbackStatus.PROCESSED:
        raise Conflict(
            f"callback {callback_id} was processed at {callback.processed_at}",
            hint="only failed or ignored callbacks can be processed again",
        )
    callback.status = CallbackStatus.RECEIVED
    callback.attempts = 0
    callback.error = None
    db.flush()
    return callback


# --- processing (a job; WeCom is called between units of work) -----------------------------


@dataclass(frozen=True)
class Processed:
    """What ``process`` did with one callback; ``retry_in`` is set when it should run again."""

    status: CallbackStatus
    attempts: int
    retry_in: timedelta | None = None


@dataclass(frozen=True)
class _Claim:
    tenant_id: uuid.UUID
    account_id: uuid.UUID
    callback_id: uuid.UUID
    event: CallbackEvent
    attempt: int


def _claim(tenant_id: uuid.UUID, callback_id: uuid.UUID) -> _Claim | None:
    with system_unit_of_work(reason="wecom callback processing claims a callback") as db:
        bulk.lock_for_writing(db, WeComCallback)  # SQLite: read and claim under one lock
        callback = db.scalar(
            select(WeComCallback).where(
                WeComCallback.tenant_id == tenant_id, WeComCallback.id == callback_id
            )
        )
        if callback is None or callback.status not in (
            CallbackStatus.RECEIVED,
            CallbackStatus.FAILED,
        ):
            return None
        if callback.attempts >= MAX_ATTEMPTS:
            return None
        claimed = db.execute(
            update(WeComCallback)
            .where(
                WeComCallback.tenant_id == tenant_id,
                WeComCallback.id == callback_id,
                WeComCallback.attempts == callback.attempts,
                WeComCallback.status.in_(
                    [CallbackStatus.RECEIVED.value, CallbackStatus.FAILED.value]
                ),
            )
            .values(attempts=callback.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
            return None
        return _Claim(
            tenant_id=tenant_id,
            account_id=callback.account_id,
            callback_id=callback_id,
            event=event_from(callback.payload),
            attempt=callback.attempts + 1,
        )


def _finish(claim: _Claim, now: datetime, status: CallbackStatus, error: str | None) -> None:
    with system_unit_of_work(reason="wecom callback processing records its outcome") as db:
        db.execute(
            update(WeComCallback)
            .where(
                WeComCallback.tenant_id == claim.tenant_id,
                WeComCallback.id == claim.callback_id,
            )
            .values(status=status.value, error=error[:500] if error else None, processed_at=now)
            .execution_options(synchronize_session=False)
        )


def backoff(attempt: int) -> timedelta:
    delay: timedelta = min(RETRY_CAP, RETRY_BASE * 2 ** (attempt - 1))
    return delay


def process(
    tenant_id: uuid.UUID, callback_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK
) -> Processed | None:
    """Process one stored callback if it is waiting; ``None`` when there was nothing to do."""
    claim = _claim(tenant_id, callback_id)
    if claim is None:
        return None
    bound = log.bind(
        callback_id=str(callback_id),
        wecom_event=claim.event.event,
        change_type=claim.event.change_type,
        attempt=claim.attempt,
    )
    target = channels.find_callback_account(claim.account_id)
    if target is None:
        _finish(claim, clock.now(), CallbackStatus.IGNORED, "the channel account is disabled")
        bound.info("wecom_callback_ignored", reason="account disabled")
        return Processed(CallbackStatus.IGNORED, claim.attempt)
    try:
        outcome = reactions.handle(target.actor(), claim.account_id, claim.event, clock)
    except Exception as exc:  # noqa: BLE001 - boundary: every failure is recorded and retried
        reason = f"{type(exc).__name__}: {exc}"
        _finish(claim, clock.now(), CallbackStatus.FAILED, reason)
        retry = backoff(claim.attempt) if claim.attempt < MAX_ATTEMPTS else None
        bound.warning("wecom_callback_failed", error=type(exc).__name__, will_retry=bool(retry))
        return Processed(CallbackStatus.FAILED, claim.attempt, retry_in=retry)
    _finish(claim, clock.now(), outcome.status, outcome.note)
    bound.info("wecom_callback_processed", status=outcome.status.value)
    return Processed(outcome.status, claim.attempt)


def due_callbacks(now: datetime, *, limit: int = SWEEP_BATCH) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Return (tenant, callback) ids waiting for a job: lost ones and failed ones due a retry."""
    with system_unit_of_work(reason="wecom callback sweep finds waiting callbacks") as db:
        rows = db.execute(
            select(
                WeComCallback.tenant_id,
                WeComCallback.id,
                WeComCallback.status,
                WeComCallback.attempts,
                WeComCallback.processed_at,
            )
            .where(
                or_(
                    (WeComCallback.status == CallbackStatus.RECEIVED.value)
                    & (WeComCallback.received_at <= now - LOST_AFTER),
                    (WeComCallback.status == CallbackStatus.FAILED.value)
                    & (WeComCallback.attempts < MAX_ATTEMPTS),
                )
            )
            .order_by(WeComCallback.received_at)
            .limit(limit)
        ).all()
    due = []
    for row in rows:
        waiting = row.status == CallbackStatus.FAILED and row.processed_at is not None
        if waiting and row.processed_at + backoff(row.attempts) > now:
            continue
        due.append((row.tenant_id, row.id))
    return due
