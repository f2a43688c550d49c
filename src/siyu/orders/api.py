"""Order routes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from siyu.core.db import unit_of_work
from siyu.customers.schemas import OrderSummary
from siyu.orders import service, upsert
from siyu.orders.schemas import OrderBatch, OrderBatchResult, OrderCreate, OrderDetail, OrderRead
from siyu.security.deps import CurrentActor

router = APIRouter(tags=["orders"])


@router.post("/orders", status_code=201, operation_id="create_order")
def create_order(data: OrderCreate, actor: CurrentActor) -> OrderRead:
    """Record one order (bulk imports come through the importers)."""
    with unit_of_work(actor) as db:
        return service.create_order(db, actor, data=data)


@router.post("/orders/batch", operation_id="upsert_orders")
def upsert_orders(data: OrderBatch, actor: CurrentActor) -> OrderBatchResult:
    """Create or update up to 1,000 orders, idempotent by (source, external_id).

    Each order is checked on its own: bad ones are listed in ``rejected`` (index, fields,
    reasons), the rest are written. Re-sending changes nothing; a changed status or refund
    updates the order and records an event.
    """
    with unit_of_work(actor) as db:
        return upsert.upsert_orders(db, actor, data.orders, source=data.source)


@router.get("/orders/{order_id}", operation_id="get_order")
def get_order(order_id: uuid.UUID, actor: CurrentActor) -> OrderDetail:
    with unit_of_work(actor) as db:
        return service.get_order(db, actor, order_id)


@router.get("/customers/{customer_id}/orders", operation_id="list_customer_orders")
def list_customer_orders(customer_id: uuid.UUID, actor: CurrentActor) -> list[OrderRead]:
    with unit_of_work(actor) as db:
        orders = service.list_customer_orders(db, actor, customer_id)
        return [OrderRead.model_validate(o) for o in orders]


@router.get("/customers/{customer_id}/order-summary", operation_id="get_customer_order_summary")
def customer_order_summary(customer_id: uuid.UUID, actor: CurrentActor) -> OrderSummary:
    """Order count, paid, refunded and net GMV (fen) of one customer."""
    with unit_of_work(actor) as db:
        return service.customer_summary(db, actor, customer_id)
