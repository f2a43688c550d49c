"""Batch event ingestion: validate, resolve each event's person, store idempotently."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC

from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import AppError
from siyu.customers import service as customers
from siyu.events import service as events
from siyu.events.schemas import EventBatchResult, EventIn, RejectedEvent
from siyu.identity import service as identity
from siyu.identity.keys import IdentityKey, make_key
from siyu.security.rbac import Perm, require


def ingest_batch(
    db: Session, actor: Actor, batch: Sequence[EventIn], *, clock: Clock = SYSTEM_CLOCK
) -> EventBatchResult:
    """Store a batch of events. Bad events are rejected one by one; the rest are stored.

    Each event names its customer by ``customer_id`` or by strong keys; keys resolve through
    OneID (unknown people become new customers). Re-sent idempotency keys are counted, not stored.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
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
    all_keys = list({k for _, _, keys in parsed for k in keys})
    owners = identity.customers_with_keys(db, actor, all_keys)
    resolved: dict[tuple[IdentityKey, ...], uuid.UUID] = {}
    rows = []
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
            known = {owners.get(k) for k in keys}
            if len(known) == 1 and None not in known:
                customer_id = known.pop()
            else:
                if keys not in resolved:
                    resolved[keys] = identity.resolve(
                        db, actor, keys=list(keys), source=event.source, clock=clock
                    ).customer_id
                    owners.update(dict.fromkeys(keys, resolved[keys]))
                customer_id = resolved[keys]
        rows.append(
            {
                "type": event.type,
                "occurred_at": event.occurred_at.astimezone(UTC),
                "recorded_at": clock.now(),
                "customer_id": customer_id,
                "source": event.source,
                "idempotency_key": event.idempotency_key,
                "data": event.data,
            }
        )
    accepted = events.record_many(db, actor, rows)
    return EventBatchResult(accepted=accepted, duplicates=len(rows) - accepted, rejected=rejected)
