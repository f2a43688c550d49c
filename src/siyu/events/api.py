"""Event ingestion and customer timeline routes."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from fastapi import APIRouter, Query

from siyu.core.db import unit_of_work
from siyu.customers import service as customers
from siyu.events import ingest, service
from siyu.events.schemas import EventBatch, EventBatchResult, EventRead
from siyu.security.deps import CurrentActor

log = structlog.get_logger(__name__)
router = APIRouter(tags=["events"])

ATTEMPTS = 4  # a batch that collides with concurrent batches runs again, up to this many times


@router.post("/events", operation_id="ingest_events")
def ingest_events(data: EventBatch, actor: CurrentActor) -> EventBatchResult:
    """Store up to 1,000 events, idempotent by key; bad events are listed, not stored."""
    attempt = 1
    while True:
        try:
            with unit_of_work(actor) as db:
                return ingest.ingest_batch(db, actor, data.events)
        except Exception as exc:
            # The batch was rolled back whole; a fresh attempt sees the other side's commit.
            if attempt >= ATTEMPTS or not ingest.is_concurrent_conflict(exc):
                raise
            log.info("event_batch_retried", attempt=attempt, error=type(exc).__name__)
            attempt += 1


@router.get("/customers/{customer_id}/events", operation_id="list_customer_events")
def customer_events(
    customer_id: uuid.UUID,
    actor: CurrentActor,
    limit: int = Query(default=100, ge=1, le=500),
    before: datetime | None = None,
) -> list[EventRead]:
    """The customer's timeline, newest first."""
    with unit_of_work(actor) as db:
        customers.get_customer(db, actor, customer_id)
        found = service.timeline(db, actor, customer_id, limit=limit, before=before)
        return [EventRead.model_validate(e) for e in found]
