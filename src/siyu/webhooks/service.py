"""Order webhook endpoints: register, list, rename, disable, rotate secrets; receive deliveries.

Admins manage endpoints (``tenant:admin``). A delivery is received in two steps: ``receiver``
finds the endpoint by id alone (a system session: the request carries no tenant, only the
signature), then, once the signature checks out, ``receive`` writes the orders in the endpoint's
tenant as ``receiver_actor`` — an operator-level actor labelled ``webhook:<name>`` whose code
path writes orders and their customers only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import Conflict, FieldError, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.orders import upsert
from siyu.orders.models import OrderSource
from siyu.orders.schemas import OrderBatch
from siyu.security import service as security
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy
from siyu.webhooks import signing
from siyu.webhooks.models import OrderWebhook, OrderWebhookDelivery
from siyu.webhooks.schemas import OrderWebhookReceipt

MAX_DELIVERY_ID = 200
_PREFIX_CHARS = len(signing.SECRET_PREFIX) + 4


@dataclass(frozen=True)
class IssuedSecret:
    """An endpoint with its new secret, which is shown this once."""

    webhook: OrderWebhook
    secret: str


def _not_found(endpoint_id: uuid.UUID | str) -> NotFound:
    return NotFound(
        f"order webhook endpoint {endpoint_id} not found",
        hint="list endpoints with GET /api/v1/order-webhooks or `siyu webhook list`",
    )


def _check_name_free(db: Session, name: str, *, except_id: uuid.UUID | None = None) -> None:
    other = db.scalar(select(OrderWebhook.id).where(OrderWebhook.name == name))
    if other is not None and other != except_id:
        raise Conflict(
            f"an order webhook endpoint named {name!r} exists",
            hint="names are unique per tenant; pick another or rotate that endpoint's secret",
            errors=[FieldError(field="name", reason="taken", value=name)],
        )


def create_webhook(
    db: Session, actor: Actor, *, name: str, source: OrderSource, clock: Clock = SYSTEM_CLOCK
) -> IssuedSecret:
    """Register an endpoint for one order system; its secret is returned this once."""
    require(actor, Perm.TENANT_ADMIN)
    name = name.strip()
    _check_name_free(db, name)
    secret = signing.new_secret()
    webhook = OrderWebhook(
        id=new_id(),
        name=name,
        source=source.value,
        secret=secret,
        secret_prefix=secret[:_PREFIX_CHARS],
        is_active=True,
        created_by=actor.label,
        created_at=clock.now(),
    )
    db.add(webhook)
    security.record_audit(
        db,
        actor,
        "order_webhook.create",
        subject_type="order_webhook",
        subject_id=webhook.id,
        detail={"name": name, "source": source.value},
    )
    db.flush()
    return IssuedSecret(webhook=webhook, secret=secret)


def list_webhooks(db: Session, actor: Actor) -> list[OrderWebhook]:
    require(actor, Perm.TENANT_ADMIN)
    return list(db.scalars(select(OrderWebhook).order_by(OrderWebhook.name)))


def get_webhook(db: Session, actor: Actor, endpoint_id: uuid.UUID) -> OrderWebhook:
    """Return an endpoint of the actor's tenant; anything else is ``NotFound``."""
    require(actor, Perm.TENANT_ADMIN)
    webhook = db.get(OrderWebhook, (actor.tenant_id, endpoint_id))
    if webhook is None:
        raise _not_found(endpoint_id)
    return webhook


def find_webhook(db: Session, actor: Actor, name_or_id: str) -> OrderWebhook:
    """Return the endpoint with this id or name (for the CLI)."""
    require(actor, Perm.TENANT_ADMIN)
    try:
        return get_webhook(db, actor, uuid.UUID(name_or_id))
    except ValueError:
        pass
    webhook = db.scalar(select(OrderWebhook).where(OrderWebhook.name == name_or_id.strip()))
    if webhook is None:
        raise _not_found(repr(name_or_id))
    return webhook


def update_webhook(
    db: Session,
    actor: Actor,
    endpoint_id: uuid.UUID,
    *,
    name: str | None = None,
    is_active: bool | None = None,
) -> OrderWebhook:
    """Rename an endpoint, or disable / re-enable it (a disabled endpoint answers 404)."""
    webhook = get_webhook(db, actor, endpoint_id)
    changes: dict[str, object] = {}
    if name is not None and name.strip() != webhook.name:
        _check_name_free(db, name.strip(), except_id=webhook.id)
        changes["name"] = webhook.name = name.strip()
    if is_active is not None and is_active != webhook.is_active:
        changes["is_active"] = webhook.is_active = is_active
    if changes:
        security.record_audit(
            db,
            actor,
            "order_webhook.update",
            subject_type="order_webhook",
            subject_id=webhook.id,
            detail=changes,
        )
    db.flush()
    return webhook


def rotate_secret(
    db: Session,
    actor: Actor,
    endpoint_id: uuid.UUID,
    *,
    keep_previous_hours: int = 0,
    clock: Clock = SYSTEM_CLOCK,
) -> IssuedSecret:
    """Give an endpoint a new secret; the old one stays valid ``keep_previous_hours`` more."""
    webhook = get_webhook(db, actor, endpoint_id)
    if not 0 <= keep_previous_hours <= 168:
        raise InvalidInput(
            f"keep_previous_hours is {keep_previous_hours}",
            hint="use 0 (the old secret stops at once) to 168 (one week)",
        )
    now = clock.now()
    secret = signing.new_secret()
    if keep_previous_hours:
        webhook.previous_secret = webhook.secret
        webhook.previous_secret_expires_at = now + timedelta(hours=keep_previous_hours)
    else:
        webhook.previous_secret = None
        webhook.previous_secret_expires_at = None
    webhook.secret = secret
    webhook.secret_prefix = secret[:_PREFIX_CHARS]
    webhook.secret_rotated_at = now
    security.record_audit(
        db,
        actor,
        "order_webhook.rotate_secret",
        subject_type="order_webhook",
        subject_id=webhook.id,
        detail={"keep_previous_hours": keep_previous_hours},
    )
    db.flush()
    return IssuedSecret(webhook=webhook, secret=secret)


def delete_webhook(db: Session, actor: Actor, endpoint_id: uuid.UUID) -> None:
    """Delete an endpoint and its delivery log (the orders it brought stay)."""
    webhook = get_webhook(db, actor, endpoint_id)
    security.record_audit(
        db,
        actor,
        "order_webhook.delete",
        subject_type="order_webhook",
        subject_id=webhook.id,
        detail={"name": webhook.name},
    )
    db.delete(webhook)
    db.flush()


def list_deliveries(
    db: Session, actor: Actor, endpoint_id: uuid.UUID, *, limit: int = 50
) -> list[OrderWebhookDelivery]:
    """Return the endpoint's latest deliveries, newest first."""
    webhook = get_webhook(db, actor, endpoint_id)
    return list(
        db.scalars(
            select(OrderWebhookDelivery)
            .where(OrderWebhookDelivery.webhook_id == webhook.id)
            .order_by(OrderWebhookDelivery.received_at.desc(), OrderWebhookDelivery.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Receiver:
    """What receiving a delivery needs to know about its endpoint, read before any tenant."""

    tenant_id: uuid.UUID
    webhook_id: uuid.UUID
    name: str
    source: OrderSource
    secrets: tuple[str, ...]
    timezone: str


def receiver(db: Session, endpoint_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK) -> Receiver:
    """Return the active endpoint with this id, in any tenant (``db``: a system session).

    Unknown and disabled endpoints, and those of a disabled tenant, are ``NotFound``.
    """
    webhook = db.scalar(select(OrderWebhook).where(OrderWebhook.id == endpoint_id))
    if webhook is None or not webhook.is_active:
        raise NotFound(
            f"no active order webhook endpoint {endpoint_id}",
            hint="check the URL; an admin lists endpoints with `siyu webhook list` "
            "and re-enables a disabled one in the console",
        )
    tenant = tenancy.get_tenant(db, webhook.tenant_id)
    if not tenant.is_active:
        raise NotFound(f"no active order webhook endpoint {endpoint_id}")
    now = clock.now()
    secrets = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires > now:
        secrets.append(webhook.previous_secret)
    return Receiver(
        tenant_id=webhook.tenant_id,
        webhook_id=webhook.id,
        name=webhook.name,
        source=OrderSource(webhook.source),
        secrets=tuple(secrets),
        timezone=tenant.timezone,
    )


def receiver_actor(found: Receiver) -> Actor:
    """Return the actor deliveries to this endpoint write as."""
    return Actor(
        tenant_id=found.tenant_id,
        user_id=None,
        role=Role.OPERATOR,
        timezone=found.timezone,
        label=f"webhook:{found.name}"[:200],
    )


def receive(
    db: Session,
    actor: Actor,
    found: Receiver,
    batch: OrderBatch,
    *,
    body_sha256: str,
    delivery_id: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> OrderWebhookReceipt:
    """Write a verified delivery's orders; a delivery id seen before returns its first answer."""
    require(actor, Perm.ORDERS_WRITE)
    webhook = db.get(OrderWebhook, (actor.tenant_id, found.webhook_id))
    if webhook is None or not webhook.is_active:
        raise _not_found(found.webhook_id)
    delivery_id = (delivery_id or "").strip() or None
    if delivery_id is not None and len(delivery_id) > MAX_DELIVERY_ID:
        raise InvalidInput(
            f"{signing.DELIVERY_HEADER} has {len(delivery_id)} characters",
            hint=f"use at most {MAX_DELIVERY_ID}, e.g. a UUID",
        )
    now = clock.now()
    delivery = OrderWebhookDelivery(
        id=new_id(),
        webhook_id=webhook.id,
        delivery_id=delivery_id,
        body_sha256=body_sha256,
        received_at=now,
        order_count=len(batch.orders),
        result={},
    )
    if delivery_id is not None:
        prior = db.scalar(
            select(OrderWebhookDelivery).where(
                OrderWebhookDelivery.webhook_id == webhook.id,
                OrderWebhookDelivery.delivery_id == delivery_id,
            )
        )
        if prior is not None:
            return _repeat(prior, body_sha256)
        try:
            with db.begin_nested():
                db.add(delivery)
                db.flush()
        except IntegrityError as exc:
            raise Conflict(
                f"delivery {delivery_id!r} is being processed by another request",
                hint="retry in a few seconds: you will get the first request's answer",
            ) from exc
    else:
        db.add(delivery)
    result = upsert.upsert_orders(
        db, actor, batch.orders, source=batch.source, only_source=found.source, clock=clock
    )
    delivery.result = result.model_dump(mode="json")
    webhook.last_received_at = now
    db.flush()
    return OrderWebhookReceipt(**result.model_dump(), delivery_id=delivery_id)


def _repeat(prior: OrderWebhookDelivery, body_sha256: str) -> OrderWebhookReceipt:
    if prior.body_sha256 != body_sha256:
        raise Conflict(
            f"delivery {prior.delivery_id!r} was received before with a different body",
            hint="a delivery id names one payload: retry it unchanged, or send new data under "
            "a new id",
        )
    return OrderWebhookReceipt.model_validate(
        {**prior.result, "delivery_id": prior.delivery_id, "duplicate": True}
    )
