"""An order's own events, derived from the order row instead of stored beside it.

A new order is stored as its order row only (imports write a million of them at a time): the
events it stands for — ``order.paid`` (or ``order.cancelled``) when it was paid, and
``order.refunded``/``order.partially_refunded`` if it arrived refunded — are made from the row
when a timeline is read. What happens to an order later (a refund found by the next import) is
stored as an event carrying ``previous_status`` and ``previous_refunded_fen``, from which the
state the order arrived in is known. Orders whose arrival events were stored (before this was
derived) are left to those rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.events.models import Event, EventType
from siyu.orders.models import Order, OrderStatus

ORDER_EVENTS = (
    EventType.ORDER_PAID,
    EventType.ORDER_CANCELLED,
    EventType.ORDER_REFUNDED,
    EventType.ORDER_PARTIALLY_REFUNDED,
)


def _newest_first(event: Event) -> tuple[datetime, int, uuid.UUID]:
    """Sort key, newest first: at one instant an order's payment comes before what followed it
    (a refund whose time the export did not give is dated at the payment)."""
    return (event.occurred_at, 0 if event.type == EventType.ORDER_PAID else 1, event.id)


def arrival_events(
    db: Session, customer_id: uuid.UUID, *, limit: int, before: datetime | None = None
) -> list[Event]:
    """Return the newest ``limit`` derived order events of a customer before ``before``.

    The events are not in the session (nothing to flush); their ids are stable (derived from
    the order id and the event type), ``recorded_at`` is when the order was stored.
    """
    orders = _recent_orders(db, customer_id, limit=limit, before=before)
    if not orders:
        return []
    arrived, stored = _stored_order_events(db, customer_id)
    out = []
    for order in orders.values():
        if order.id in stored:
            continue
        status, refunded_fen = arrived.get(order.id, (order.status, order.refunded_fen))
        out.extend(_events_of(order, OrderStatus(status), refunded_fen))
    if before is not None:
        out = [e for e in out if e.occurred_at < before]
    out.sort(key=_newest_first, reverse=True)
    return out[:limit]


def _recent_orders(
    db: Session, customer_id: uuid.UUID, *, limit: int, before: datetime | None
) -> dict[uuid.UUID, Order]:
    """The orders whose derived events can be among the newest ``limit`` before ``before``."""
    paid = select(Order).where(Order.customer_id == customer_id)
    refunded = select(Order).where(
        Order.customer_id == customer_id,
        Order.refunded_fen > 0,
        Order.refunded_at.is_not(None),
    )
    if before is not None:
        paid = paid.where(Order.paid_at < before)
        refunded = refunded.where(Order.refunded_at < before)
    found = {
        o.id: o for o in db.scalars(paid.order_by(Order.paid_at.desc(), Order.id).limit(limit))
    }
    for o in db.scalars(refunded.order_by(Order.refunded_at.desc(), Order.id).limit(limit)):
        found.setdefault(o.id, o)
    return found


def _stored_order_events(
    db: Session, customer_id: uuid.UUID
) -> tuple[dict[uuid.UUID, tuple[str, int]], set[uuid.UUID]]:
    """Each changed order's state on arrival, and the orders whose arrival events are stored."""
    arrived: dict[uuid.UUID, tuple[str, int]] = {}
    stored: set[uuid.UUID] = set()
    rows = db.execute(
        select(Event.data)
        .where(Event.customer_id == customer_id, Event.type.in_([t.value for t in ORDER_EVENTS]))
        .order_by(Event.occurred_at.desc(), Event.id.desc())
    )
    for (data,) in rows:  # newest first: the earliest change of an order is seen last
        order_id = _order_id(data)
        if order_id is None:
            continue
        if "previous_status" in data:
            arrived[order_id] = (data["previous_status"], int(data["previous_refunded_fen"]))
        else:
            stored.add(order_id)
    return arrived, stored


def _order_id(data: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(data.get("order_id")))
    except ValueError:
        return None


def _events_of(order: Order, status: OrderStatus, refunded_fen: int) -> list[Event]:
    """What the order stood for when it arrived: paid (or cancelled), and refunded if it was."""
    data = {"order_id": str(order.id), "external_id": order.external_id, "source": order.source}

    def event(kind: EventType, occurred_at: datetime, extra: dict[str, Any]) -> Event:
        return Event(
            tenant_id=order.tenant_id,
            id=uuid.uuid5(order.id, kind.value),
            type=kind.value,
            occurred_at=occurred_at,
            recorded_at=order.created_at,
            customer_id=order.customer_id,
            source=str(order.source),
            idempotency_key=None,
            data={**data, **extra},
        )

    if status is OrderStatus.CANCELLED:
        return [event(EventType.ORDER_CANCELLED, order.paid_at, {})]
    out = [event(EventType.ORDER_PAID, order.paid_at, {"paid_fen": order.paid_fen})]
    if refunded_fen:
        kind = (
            EventType.ORDER_REFUNDED
            if status is OrderStatus.REFUNDED
            else EventType.ORDER_PARTIALLY_REFUNDED
        )
        refunded_at = order.refunded_at or order.paid_at
        out.append(event(kind, refunded_at, {"refunded_fen": refunded_fen}))
    return out


def merge_timeline(stored: Sequence[Event], derived: Sequence[Event], limit: int) -> list[Event]:
    """Stored and derived events together, newest first, at most ``limit``."""
    both = [*stored, *derived]
    both.sort(key=_newest_first, reverse=True)
    return both[:limit]
