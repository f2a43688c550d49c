"""Event ingestion and customer timeline routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from siyu.core.db import unit_of_work
from siyu.customers import service as customers
from siyu.events import ingest, service
from siyu.events.schemas import EventBatch, EventBatchResult, EventRead
from siyu.security.deps import CurrentActor

log = structlog.get_logger(__name__)
router = APIRouter(tags=["events"])

ATTEMPTS = 4  # a batch that collides with concurrent batches runs again, up to this many times


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Return a JSON schema with its ``$defs`` written in place (for ``openapi_extra``)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return dict(resolve(schema))


async def event_batch(request: Request) -> EventBatch:
    """The body as an ``EventBatch``, parsed and validated in one pass by pydantic.

    FastAPI would decode the JSON with the standard library and then validate the objects: for
    a batch of events that is about four times the work. Errors are the usual 422 problem.
    """
    body = await request.body()
    try:
        return EventBatch.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from exc


@router.post(
    "/events",
    operation_id="ingest_events",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_refs(EventBatch.model_json_schema())}
            },
        }
    },
)
def ingest_events(
    actor: CurrentActor,  # first: strangers get a 401 before their body is parsed
    data: Annotated[EventBatch, Depends(event_batch)],
) -> EventBatchResult:
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
