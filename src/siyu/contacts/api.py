"""Contact relation routes: a customer's WeCom friendships, and relations by account or staff."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from siyu.contacts import service
from siyu.contacts.models import RelationStatus
from siyu.contacts.schemas import ContactRelationRead
from siyu.core.db import unit_of_work
from siyu.security.deps import CurrentActor

router = APIRouter(tags=["contact relations"])
MAX_PAGE = 1000


@router.get("/customers/{customer_id}/relations", operation_id="list_customer_relations")
def customer_relations(customer_id: uuid.UUID, actor: CurrentActor) -> list[ContactRelationRead]:
    """Which staff have the customer as a WeCom contact: since when, through which channel code,
    with which remark and tags, and whether the customer or the staff member ended it."""
    with unit_of_work(actor) as db:
        return service.present(db, actor, service.relations_of_customer(db, actor, customer_id))


@router.get("/contact-relations", operation_id="list_contact_relations")
def list_relations(
    actor: CurrentActor,
    account_id: uuid.UUID | None = None,
    wecom_userid: str | None = Query(default=None, description="A staff member's WeCom userid"),
    customer_id: uuid.UUID | None = None,
    status: RelationStatus | None = None,
    limit: int = Query(default=100, ge=1, le=MAX_PAGE),
) -> list[ContactRelationRead]:
    """Relations in your data scope (a guide sees their own), latest added first."""
    with unit_of_work(actor) as db:
        found = service.list_relations(
            db,
            actor,
            account_id=account_id,
            wecom_userid=wecom_userid,
            customer_id=customer_id,
            status=status,
            limit=limit,
        )
        return service.present(db, actor, found)
