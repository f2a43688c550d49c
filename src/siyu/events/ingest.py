"""Batch event ingestion: validate, resolve each event's person, store idempotently."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from siyu.core import bulk
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import AppError
from siyu.customers import service as customers
from siyu.events import service as events
from siyu.events.models import Event
from siyu.events.schemas import EventBatchResult, EventIn, RejectedEvent
from siyu.identity import bulk as identity_batch
from siyu.identity.keys import IdentityKey, make_key
from siyu.security.rbac import Perm, require

# SQLSTATEs of collisions with a concurrent transaction that a fresh attempt resolves: unique and
# foreign-key violations (someone created the same identity, or deleted a customer, meanwhile),
# serialization failures and deadlocks.
_RETRYABLE_SQLSTATES = {"23505", "23503", "40001", "40P01"}


def is_concurrent_conflict(exc: BaseException) -> bool:
    """Return whether a batch failed only because a concurrent transaction got there first.

    Two batches naming the same new person both create their identity; the second one's insert
    waits for the first to commit and then violates the unique key. Deadlocks, serialization
    failures and a busy SQLite database are the same kind of collision. Running the whole batch
    again sees what the other transaction committed (the person now exists), so it succeeds.
    Errors come wrapped by SQLAlchemy or, from ``COPY``, straight from the driver.
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _RETRYABLE_SQLSTATES
    # SQLite: another connection holds the write lock past busy_timeout. (SQLite has no other
    # collisions: ``ingest_batch`` takes the write lock before it reads.)
    return isinstance(exc, DBAPIError) and "database is locked" in str(orig)


def ingest_batch(
    db: Session, actor: Actor, batch: Sequence[EventIn], *, clock: Clock = SYSTEM_CLOCK
) -> EventBatchResult:
    """Store a batch of events. Bad events are rejected one by one; the rest are stored.

    Each event names its customer by ``customer_id`` or by strong keys; keys resolve through
    OneID (unknown people become new customers). Re-sent idempotency keys are counted, not stored.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    bulk.lock_for_writing(db, Event)
    rejected: list[RejectedEvent] = []
    parsed: list[tuple[int, EventIn, tuple[IdentityKey, ...]]] = []
    for index, event in enumerate(batch):
        try:
            events.check_type(event.type)
            keys = tuple(make_key(k.kind, k.value, k.namespace) for k in event.keys)
        except AppError as exc:
            rejected.append(
                RejectedEvent(index=index, idempotency_key=event.idempotency_key, reason=str(exc))
            )
            continue
        parsed.append((index, event, keys))

    visible = customers.visible_ids(
        db, actor, [e.customer_id for _, e, _ in parsed if e.customer_id is not None]
    )
    people = _people(
        db,
        actor,
        [(keys, e.source) for _, e, keys in parsed if e.customer_id is None and keys],
        clock=clock,
    )
    rows = []
    recorded_at = clock.now()
    for index, event, keys in parsed:
        customer_id = event.customer_id
        if customer_id is not None and customer_id not in visible:
            rejected.append(
                RejectedEvent(
                    index=index,
                    idempotency_key=event.idempotency_key,
                    reason=f"customer {customer_id} not found (send keys to identify new people)",
                )
            )
            continue
        if customer_id is None and keys:
            customer_id = people[keys]
        rows.append(
            {
                "type": event.type,
                "occurred_at": event.occurred_at.astimezone(UTC),
                "recorded_at": recorded_at,
                "customer_id": customer_id,
                "source": event.source,
                "idempotency_key": event.idempotency_key,
                "data": event.data,
            }
        )
    accepted = events.record_many(db, actor, rows)
    return EventBatchResult(accepted=accepted, duplicates=len(rows) - accepted, rejected=rejected)


PersonKeys = tuple[IdentityKey, ...]


def _people(
    db: Session, actor: Actor, named: Sequence[tuple[PersonKeys, str]], *, clock: Clock
) -> dict[PersonKeys, uuid.UUID]:
    """Return the customer each set of keys names, creating and joining customers via OneID.

    ``named`` lists each event's keys with its source, in batch order. Keys all owned by one
    customer name that customer: one look-up for the whole batch, nothing written. The others
    (new people, new keys of known people, keys of several customers) go through batch OneID
    in batch order, one call per run of events from the same source (each new key records the
    source that sent it), with the outcome of resolving them one by one.
    """
    distinct = list(dict.fromkeys(k for keys, _ in named for k in keys))
    hashes = {k: k.hash(actor.tenant_id) for k in distinct}
    owners = identity_batch.owners_of(db, distinct, hashes)
    people: dict[PersonKeys, uuid.UUID] = {}
    run: dict[PersonKeys, None] = {}
    run_source = ""

    def resolve_run() -> None:
        resolution = identity_batch.resolve_batch(
            db,
            actor,
            [identity_batch.Record(keys=keys) for keys in run],
            source=run_source,
            clock=clock,
        )
        for keys, customer_id in zip(run, resolution.customer_ids, strict=True):
            people[keys] = customer_id
            owners.update(dict.fromkeys(keys, customer_id))
        run.clear()

    for keys, source in named:
        if keys in people or keys in run:
            continue
        if run and source != run_source:
            resolve_run()
            if keys in people:
                continue
        owner = _sole_owner(keys, owners)
        if owner is not None:
            people[keys] = owner
            continue
        run_source = source
        run[keys] = None
    if run:
        resolve_run()
    return people


def _sole_owner(keys: PersonKeys, owners: dict[IdentityKey, uuid.UUID]) -> uuid.UUID | None:
    """Return the customer owning every one of ``keys``, if one customer does."""
    found = {owners.get(k) for k in keys}
    return found.pop() if len(found) == 1 else None
