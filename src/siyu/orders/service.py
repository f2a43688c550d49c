"""Orders: read within the customer data scope, record single orders, sum net GMV."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.errors import Conflict, NotFound
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.schemas import OrderSummary
from siyu.orders.models import Order, OrderLine, OrderStatus
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
