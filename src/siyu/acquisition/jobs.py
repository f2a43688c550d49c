"""Jobs of channel codes: keep rotating codes' member lists in WeCom to those under their cap.

``wecom.update_contact_way`` (outbox) sends the member list a code's contact way should have
when the message is delivered. ``acquisition.restore_rotations`` runs hourly and, on the first
run of each tenant's day, queues the full list of every code that had a member capped the day
before.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import structlog
from huey import crontab
from sqlalchemy import select

from siyu.acquisition import service
from siyu.acquisition.models import ChannelCode
from siyu.channels import service as channels
from siyu.channels.wecom import errors as wecom_errors
from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.jobs import outbox
from siyu.jobs.queue import huey
from siyu.tenancy import service as tenancy

log = structlog.get_logger(__name__)

INVALID_CONFIG_ID = 41044


def job_actor(tenant_id: uuid.UUID, timezone: str = "Asia/Shanghai") -> Actor:
    """Return the actor acquisition jobs act as in a tenant."""
    return Actor(
        tenant_id=tenant_id, user_id=None, role=Role.OPERATOR, timezone=timezone, label="job:codes"
    )


@outbox.handler(service.UPDATE_CONTACT_WAY)
def update_contact_way(call: outbox.OutboxCall) -> dict[str, Any]:
    """Set a code's contact way to the members it should offer now."""
    actor = job_actor(call.tenant_id)
    with unit_of_work(actor) as db:
        actor = dataclasses.replace(actor, timezone=tenancy.get_tenant(db, call.tenant_id).timezone)
        target = service.rotation_users(
            db,
            actor,
            uuid.UUID(str(call.payload["code_id"])),
            now=call.now,
            queued=[str(u) for u in call.payload.get("users") or []],
        )
        if target is None:
            raise outbox.Drop("the code is disabled or gone")
        client = channels.client_for(target.account)
    with client:
        try:
            client.update_contact_way(target.config_id, user=target.users)
        except wecom_errors.RateLimited as exc:
            raise outbox.Retry(str(exc)) from exc
        except wecom_errors.WeComApiError as exc:
            if exc.errcode == INVALID_CONFIG_ID:
                raise outbox.Drop("WeCom no longer knows the contact way") from exc
            raise
    return {"users": target.users}


def restore_all(*, clock: Clock = SYSTEM_CLOCK) -> int:
    """Queue restores in every tenant with capped codes; one unit of work per tenant."""
    now = clock.now()
    with system_unit_of_work(reason="find tenants with capped rotating channel codes") as db:
        tenant_ids = list(
            db.scalars(
                select(ChannelCode.tenant_id)
                .where(
                    ChannelCode.is_active.is_(True),
                    ChannelCode.is_rotating.is_(True),
                    ChannelCode.daily_cap_per_staff.is_not(None),
                )
                .distinct()
            )
        )
        timezones = {t: tenancy.get_tenant(db, t).timezone for t in tenant_ids}
    queued = 0
    for tenant_id, timezone in timezones.items():
        actor = job_actor(tenant_id, timezone)
        try:
            with unit_of_work(actor) as db:
                queued += service.restore_rotations(db, actor, now=now)
        except Exception:
            log.exception("restore_rotations_failed", tenant_id=str(tenant_id))
    return queued


@huey.periodic_task(crontab(minute="5"), name="acquisition.restore_rotations")  # type: ignore[untyped-decorator]  # huey has no hints
def restore_rotations_job() -> None:
    restore_all()
