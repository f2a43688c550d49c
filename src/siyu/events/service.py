"""Record events and read a customer's timeline."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import bulk
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import InvalidInput
from siyu.core.ids import new_id
from siyu.events.models import Event
from siyu.orders import timeline as order_timeline
from siyu.security.rbac import Perm, require

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


def check_type(event_type: str) -> str:
    if len(event_type) > 64 or not EVENT_TYPE.match(event_type):
        raise InvalidInput(
            f"event type {event_type!r} is not valid",
            hint="use lowercase dotted names such as page.viewed or coupon.redeemed (≤ 64 chars)",
        )
    return event_type


def record(
    db: Session,
    actor: Actor,
    event_type: str,
    *,
    customer_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    data: dict[str, Any] | None = None,
    source: str = "siyu",
    idempotency_key: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Event:
    """Append one event in the actor's tenant (same transaction as the change it describes)."""
    now = clock.now()
    event = Event(
        id=new_id(),
        type=check_type(event_type),
        occurred_at=occurred_at or now,
        recorded_at=now,
        customer_id=customer_id,
        source=source,
        idempotency_key=idempotency_key,
        data=data or {},
    )
    db.add(event)
    return event


def record_many(db: Session, actor: Actor, rows: Sequence[dict[str, Any]]) -> int:
    """Bulk-append events (dicts of Event columns); duplicates by idempotency key are skipped.

    Returns how many were new.
    """
    if not rows:
        return 0
    full = [{"tenant_id": actor.tenant_id, "id": new_id(), "data": {}, **row} for row in rows]
    return bulk.insert_ignore_columns(db, Event, full, conflict=["tenant_id", "idempotency_key"])


def timeline(
    db: Session,
    actor: Actor,
    customer_id: uuid.UUID,
    *,
    limit: int = 100,
    before: datetime | None = None,
) -> list[Event]:
    """Return a customer's events, newest first (the caller checks the customer is in scope).

    Stored events and the ones derived from the customer's orders (``orders.timeline``).
    """
    require(actor, Perm.CUSTOMERS_READ)
    stmt = select(Event).where(Event.customer_id == customer_id)
    if before is not None:
        stmt = stmt.where(Event.occurred_at < before)
    stored = db.scalars(stmt.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit))
    derived = order_timeline.arrival_events(db, customer_id, limit=limit, before=before)
    return order_timeline.merge_timeline(list(stored), derived, limit)
