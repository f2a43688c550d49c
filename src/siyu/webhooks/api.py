"""Order webhook routes: endpoint management (admins) and the signed receiving endpoint."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from siyu.core.batches import field_errors
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.core.errors import AppError, InvalidInput
from siyu.orders.schemas import OrderBatch
from siyu.security.deps import CurrentActor
from siyu.webhooks import service, signing
from siyu.webhooks.schemas import (
    DeliveryRead,
    OrderWebhookCreate,
    OrderWebhookRead,
    OrderWebhookReceipt,
    OrderWebhookSecret,
    OrderWebhookUpdate,
    SecretRotation,
)

router = APIRouter(tags=["order webhooks"])

MAX_BODY_BYTES = 8 * 1024 * 1024


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


def _secret(issued: service.IssuedSecret) -> OrderWebhookSecret:
    read = OrderWebhookRead.model_validate(issued.webhook)
    return OrderWebhookSecret(**read.model_dump(exclude={"path"}), secret=issued.secret)


@router.get("/order-webhooks", operation_id="list_order_webhooks")
def list_webhooks(actor: CurrentActor) -> list[OrderWebhookRead]:
    """Endpoints order systems post signed orders to (admins)."""
    with unit_of_work(actor) as db:
        return [OrderWebhookRead.model_validate(w) for w in service.list_webhooks(db, actor)]


@router.post("/order-webhooks", status_code=201, operation_id="create_order_webhook")
def create_webhook(data: OrderWebhookCreate, actor: CurrentActor) -> OrderWebhookSecret:
    """Register an endpoint for one order system; the signing secret is in this response only."""
    with unit_of_work(actor) as db:
        return _secret(service.create_webhook(db, actor, name=data.name, source=data.source))


@router.get("/order-webhooks/{endpoint_id}", operation_id="get_order_webhook")
def get_webhook(endpoint_id: uuid.UUID, actor: CurrentActor) -> OrderWebhookRead:
    with unit_of_work(actor) as db:
        return OrderWebhookRead.model_validate(service.get_webhook(db, actor, endpoint_id))


@router.patch("/order-webhooks/{endpoint_id}", operation_id="update_order_webhook")
def update_webhook(
    endpoint_id: uuid.UUID, data: OrderWebhookUpdate, actor: CurrentActor
) -> OrderWebhookRead:
    """Rename an endpoint, or disable (``is_active: false``) / re-enable it."""
    with unit_of_work(actor) as db:
        webhook = service.update_webhook(
            db, actor, endpoint_id, name=data.name, is_active=data.is_active
        )
        return OrderWebhookRead.model_validate(webhook)


@router.delete(
    "/order-webhooks/{endpoint_id}", status_code=204, operation_id="delete_order_webhook"
)
def delete_webhook(endpoint_id: uuid.UUID, actor: CurrentActor) -> None:
    """Delete an endpoint and its delivery log; the orders it brought stay."""
    with unit_of_work(actor) as db:
        service.delete_webhook(db, actor, endpoint_id)


@router.post(
    "/order-webhooks/{endpoint_id}/rotate-secret", operation_id="rotate_order_webhook_secret"
)
def rotate_secret(
    endpoint_id: uuid.UUID, actor: CurrentActor, data: SecretRotation | None = None
) -> OrderWebhookSecret:
    """Issue a new signing secret (shown once); optionally keep the old one valid a while."""
    keep = data.keep_previous_hours if data else 0
    with unit_of_work(actor) as db:
        return _secret(service.rotate_secret(db, actor, endpoint_id, keep_previous_hours=keep))


@router.get(
    "/order-webhooks/{endpoint_id}/deliveries", operation_id="list_order_webhook_deliveries"
)
def list_deliveries(
    endpoint_id: uuid.UUID, actor: CurrentActor, limit: int = Query(default=50, ge=1, le=500)
) -> list[DeliveryRead]:
    """The endpoint's latest deliveries with their counts, newest first."""
    with unit_of_work(actor) as db:
        found = service.list_deliveries(db, actor, endpoint_id, limit=limit)
        return [DeliveryRead.of(d) for d in found]


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB",
        hint="send at most 1,000 orders per delivery",
    )


def _batch(body: bytes) -> OrderBatch:
    try:
        return OrderBatch.model_validate_json(body)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise InvalidInput(
            "the body is not an order batch: "
            + "; ".join(f"{e.field or 'body'}: {e.reason}" for e in errors[:5]),
            hint='send JSON {"orders": [...]}, the body of POST /api/v1/orders/batch',
            errors=errors,
        ) from exc


def _receive(
    endpoint_id: uuid.UUID,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    delivery_id: str | None,
) -> OrderWebhookReceipt:
    with system_unit_of_work(reason="order webhook: find the endpoint of a delivery") as db:
        found = service.receiver(db, endpoint_id)
    signing.verify(
        found.secrets,
        body=body,
        timestamp=timestamp,
        signature=signature,
        now=SYSTEM_CLOCK.now(),
    )
    batch = _batch(body)
    actor = service.receiver_actor(found)
    with unit_of_work(actor) as db:
        return service.receive(
            db,
            actor,
            found,
            batch,
            body_sha256=hashlib.sha256(body).hexdigest(),
            delivery_id=delivery_id,
        )


@router.post(
    "/hooks/orders/{endpoint_id}",
    operation_id="receive_order_webhook",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/OrderBatch"}}
            },
        }
    },
)
async def receive_order_webhook(
    endpoint_id: uuid.UUID,
    request: Request,
    x_siyu_timestamp: Annotated[
        str | None, Header(description="Unix seconds when the request was signed")
    ] = None,
    x_siyu_signature: Annotated[
        str | None,
        Header(description="sha256=<hex HMAC-SHA256(secret, timestamp + '.' + raw body)>"),
    ] = None,
    x_siyu_delivery: Annotated[
        str | None, Header(description="Optional delivery id; a repeat is not processed again")
    ] = None,
) -> OrderWebhookReceipt:
    """Receive orders from an order system, signed with the endpoint's secret (no bearer token).

    Same body and answer as ``POST /orders/batch``. A bad or stale signature is a 401; an
    unknown or disabled endpoint a 404. See docs/api.md, "Signed order webhooks".
    """
    body = await _body(request)
    return await run_in_threadpool(
        _receive, endpoint_id, body, x_siyu_timestamp, x_siyu_signature, x_siyu_delivery
    )
