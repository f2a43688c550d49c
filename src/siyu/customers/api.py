"""Customer routes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from siyu.core.db import unit_of_work
from siyu.customers import service, upsert
from siyu.customers.schemas import CustomerCreate, CustomerPage, CustomerRead, CustomerUpdate
from siyu.customers.upsert import CustomerBatch, CustomerBatchResult
from siyu.identity import service as identity
from siyu.security.deps import CurrentActor

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("", operation_id="list_customers")
def list_customers(
    actor: CurrentActor,
    q: str | None = Query(default=None, description="Phone, email, member number or name"),
    org_unit_id: uuid.UUID | None = None,
    owner_staff_id: uuid.UUID | None = None,
    limit: int = Query(default=50, ge=1, le=service.MAX_PAGE),
    cursor: str | None = None,
) -> CustomerPage:
    """Customers in your data scope, newest first, masked by role."""
    with unit_of_work(actor) as db:
        page = service.list_customers(
            db,
            actor,
            q=q,
            org_unit_id=org_unit_id,
            owner_staff_id=owner_staff_id,
            limit=limit,
            cursor=cursor,
        )
        return CustomerPage(
            items=service.present(db, actor, page.items), next_cursor=page.next_cursor
        )


@router.post("", status_code=201, operation_id="create_customer")
def create_customer(data: CustomerCreate, actor: CurrentActor) -> CustomerRead:
    with unit_of_work(actor) as db:
        return service.present(db, actor, [identity.register_customer(db, actor, data=data)])[0]


@router.post("/batch", operation_id="upsert_customers")
def upsert_customers(data: CustomerBatch, actor: CurrentActor) -> CustomerBatchResult:
    """Create or update up to 1,000 customers identified by strong keys (OneID).

    Keys known to several customers merge them. With ``update_mode=overwrite`` (default) the
    fields you send replace stored values; ``fill_gaps`` only fills empty ones. Bad customers
    are listed in ``rejected`` with their index; the others are stored.
    """
    with unit_of_work(actor) as db:
        return upsert.upsert_customers(
            db, actor, data.customers, source=data.source, update_mode=data.update_mode
        )


@router.get("/{customer_id}", operation_id="get_customer")
def get_customer(customer_id: uuid.UUID, actor: CurrentActor) -> CustomerRead:
    with unit_of_work(actor) as db:
        return service.present(db, actor, [service.get_customer(db, actor, customer_id)])[0]


@router.patch("/{customer_id}", operation_id="update_customer")
def update_customer(
    customer_id: uuid.UUID, data: CustomerUpdate, actor: CurrentActor
) -> CustomerRead:
    with unit_of_work(actor) as db:
        customer = identity.change_customer(db, actor, customer_id, data=data)
        return service.present(db, actor, [customer])[0]
