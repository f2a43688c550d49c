"""Orders: read within the customer data scope, record single orders, sum net GMV."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.append import append_frame, append_rows, one_of
from siyu.core.clock import SYSTEM_CLOCK, Clock, utcnow
from siyu.core.errors import Conflict, NotFound
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.schemas import OrderSummary
from siyu.events import service as events
from siyu.events.models import EventType
from siyu.orders.models import Order, OrderLine, OrderSource, OrderStatus
from siyu.orders.schemas import OrderCreate, OrderDetail, OrderLineRead, OrderRead, SalesOverview
from siyu.security.rbac import Perm, require


def status_for(paid_fen: int, refunded_fen: int) -> OrderStatus:
    """Return the status implied by the amounts: refunded, partially refunded or paid."""
    if refunded_fen <= 0:
        return OrderStatus.PAID
    return OrderStatus.REFUNDED if refunded_fen >= paid_fen else OrderStatus.PARTIALLY_REFUNDED


def get_order(db: Session, actor: Actor, order_id: uuid.UUID) -> OrderDetail:
    """Return an order whose customer is in the actor's scope, with its lines."""
    require(actor, Perm.ORDERS_READ)
    order = db.scalar(
        select(Order).where(
            Order.id == order_id, Order.customer_id.in_(customers.visible_customers(actor))
        )
    )
    if order is None:
        raise NotFound(f"order {order_id} not found")
    lines = db.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    detail = OrderDetail.model_validate(order)
    detail.lines = [OrderLineRead.model_validate(line) for line in lines]
    return detail


def list_customer_orders(
    db: Session, actor: Actor, customer_id: uuid.UUID, *, limit: int = 100
) -> Sequence[Order]:
    require(actor, Perm.ORDERS_READ)
    customers.get_customer(db, actor, customer_id)
    return list(
        db.scalars(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.paid_at.desc())
            .limit(limit)
        )
    )


def customer_summary(db: Session, actor: Actor, customer_id: uuid.UUID) -> OrderSummary:
    require(actor, Perm.ORDERS_READ)
    customers.get_customer(db, actor, customer_id)
    row = db.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Order.paid_fen), 0),
            func.coalesce(func.sum(Order.refunded_fen), 0),
            func.min(Order.paid_at),
            func.max(Order.paid_at),
        ).where(Order.customer_id == customer_id)
    ).one()
    count, paid, refunded, first, last = row
    return OrderSummary(
        order_count=count,
        paid_fen=paid,
        refunded_fen=refunded,
        net_fen=paid - refunded,
        first_paid_at=first,
        last_paid_at=last,
    )


def create_order(db: Session, actor: Actor, *, data: OrderCreate) -> OrderRead:
    """Record one order for a customer in scope; (source, external id) must be new."""
    require(actor, Perm.ORDERS_WRITE)
    customers.get_customer(db, actor, data.customer_id)
    exists = db.scalar(
        select(Order.id).where(Order.source == data.source, Order.external_id == data.external_id)
    )
    if exists is not None:
        raise Conflict(
            f"order {data.source}:{data.external_id} exists",
            hint="orders are unique per source and external id; update refunds through imports",
        )
    order = Order(
        id=new_id(),
        customer_id=data.customer_id,
        source=data.source,
        external_id=data.external_id,
        status=status_for(data.paid_fen, data.refunded_fen),
        paid_fen=data.paid_fen,
        refunded_fen=data.refunded_fen,
        paid_at=data.paid_at,
        refunded_at=data.refunded_at,
        org_unit_id=data.org_unit_id,
        staff_id=data.staff_id,
    )
    db.add(order)
    for line in data.lines:
        db.add(
            OrderLine(
                id=new_id(),
                order_id=order.id,
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                amount_fen=line.quantity * line.unit_price_fen,
            )
        )
    db.flush()
    return OrderRead.model_validate(order)


def sales_overview(db: Session, actor: Actor, *, since: datetime, until: datetime) -> SalesOverview:
    """Return order totals for customers in scope, paid in ``[since, until)``."""
    require(actor, Perm.ORDERS_READ)
    row = db.execute(
        select(
            func.count(),
            func.count(func.distinct(Order.customer_id)),
            func.coalesce(func.sum(Order.paid_fen), 0),
            func.coalesce(func.sum(Order.refunded_fen), 0),
        ).where(
            Order.paid_at >= since,
            Order.paid_at < until,
            Order.customer_id.in_(customers.visible_customers(actor)),
        )
    ).one()
    count, buyers, paid, refunded = row
    return SalesOverview(
        order_count=count,
        buyer_count=buyers,
        paid_fen=paid,
        refunded_fen=refunded,
        net_fen=paid - refunded,
        refund_rate_bp=(refunded * 10_000 // paid) if paid else 0,
    )


# --- bulk paths for importers ---------------------------------------------------------------


@dataclass(frozen=True)
class OrderState:
    """What an import compares to decide inserted / updated / unchanged."""

    id: uuid.UUID
    customer_id: uuid.UUID | None
    status: str
    paid_fen: int
    refunded_fen: int

    def same_as(self, row: dict[str, Any]) -> bool:
        return (self.status, self.paid_fen, self.refunded_fen) == (
            row["status"],
            row["paid_fen"],
            row["refunded_fen"],
        )


def states_by_external_id(
    db: Session, source: OrderSource, external_ids: Sequence[str]
) -> dict[str, OrderState]:
    """Return the stored state of the orders of ``source`` with these external ids."""
    rows = db.execute(
        select(
            Order.external_id,
            Order.id,
            Order.customer_id,
            Order.status,
            Order.paid_fen,
            Order.refunded_fen,
        ).where(Order.source == source, one_of(db, Order.external_id, external_ids))
    )
    return {
        r.external_id: OrderState(r.id, r.customer_id, r.status, r.paid_fen, r.refunded_fen)
        for r in rows
    }


def apply_update(
    db: Session,
    actor: Actor,
    order_id: uuid.UUID,
    row: dict[str, Any],
    *,
    source: str,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    """Bring a stored order to a later export's status and amounts, recording the change."""
    require(actor, Perm.ORDERS_WRITE)
    order = db.get(Order, (actor.tenant_id, order_id))
    if order is None:
        raise NotFound(f"order {order_id} not found")
    before = (order.status, order.refunded_fen)
    order.status = OrderStatus(row["status"])
    order.paid_fen = row["paid_fen"]
    order.refunded_fen = row["refunded_fen"]
    order.refunded_at = row.get("refunded_at") or order.refunded_at
    event_type = {
        OrderStatus.REFUNDED: EventType.ORDER_REFUNDED,
        OrderStatus.PARTIALLY_REFUNDED: EventType.ORDER_PARTIALLY_REFUNDED,
        OrderStatus.CANCELLED: EventType.ORDER_CANCELLED,
        OrderStatus.PAID: EventType.ORDER_PAID,
    }[order.status]
    events.record(
        db,
        actor,
        event_type,
        customer_id=order.customer_id,
        occurred_at=order.refunded_at or clock.now(),
        source=source,
        data={
            "order_id": str(order.id),
            "external_id": order.external_id,
            "previous_status": str(before[0]),
            "previous_refunded_fen": before[1],
            "refunded_fen": order.refunded_fen,
        },
    )


def new_order_row(
    orders_out: list[dict[str, Any]],
    lines_out: list[dict[str, Any]],
    row: dict[str, Any],
    lines: Sequence[dict[str, Any]],
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    source: OrderSource,
    org_unit_id: uuid.UUID | None,
    staff_id: uuid.UUID | None,
) -> uuid.UUID:
    """Append the rows for one new order (and its lines) to the bulk-insert lists."""
    order_id = new_id()
    orders_out.append(
        {
            "tenant_id": tenant_id,
            "id": order_id,
            "customer_id": customer_id,
            "source": source.value,
            "external_id": row["external_id"],
            "status": row["status"],
            "org_unit_id": org_unit_id,
            "staff_id": staff_id,
            "paid_fen": row["paid_fen"],
            "refunded_fen": row["refunded_fen"],
            "paid_at": row["paid_at"],
            "refunded_at": row.get("refunded_at"),
            "created_at": utcnow(),
        }
    )
    for line in lines:
        lines_out.append(
            {
                "tenant_id": tenant_id,
                "id": new_id(),
                "order_id": order_id,
                "sku": line["sku"] or "",
                "title": line["title"] or "",
                "quantity": line["quantity"],
                "unit_price_fen": line["unit_price_fen"],
                "amount_fen": line["amount_fen"],
            }
        )
    return order_id


def insert_rows(
    db: Session, order_rows: Sequence[dict[str, Any]], line_rows: Sequence[dict[str, Any]]
) -> None:
    """Append prepared new order and line rows (``COPY`` on PostgreSQL)."""
    append_rows(db, Order, order_rows)
    append_rows(db, OrderLine, line_rows)


def append_frames(db: Session, order_rows: pl.DataFrame, line_rows: pl.DataFrame) -> None:
    """Append new order and line rows given as frames of their columns (``append_frame``); the
    ``COPY`` of the lines may still run when this returns (``wait=False``)."""
    append_frame(db, Order, order_rows, wait=False)
    append_frame(db, OrderLine, line_rows, wait=False)
