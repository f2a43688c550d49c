"""Jobs of transfers: send a new batch, and poll every open batch until it is finished.

``transfers.send`` runs right after a batch is created (the entry point queues it once the
batch committed). ``transfers.poll`` runs every ten minutes: for each unfinished batch it sends
items still PENDING (a lost job, a rate limit) and asks WeCom about the WAITING ones, so every
item reaches a final state even when no one presses refresh and a callback is lost. One
tenant's or batch's failure is logged and the others still run.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from huey import crontab

from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import system_unit_of_work
from siyu.jobs.queue import huey
from siyu.transfers import flows, service

log = structlog.get_logger(__name__)

# A batch younger than this is left to its own send job (no double send while it runs).
SEND_GRACE = timedelta(minutes=5)


@huey.task(name="transfers.send")  # type: ignore[untyped-decorator]  # huey has no hints
def send_transfer(tenant_id: str, batch_id: str) -> None:
    """Send a batch's PENDING items (safe to run twice: only PENDING items are sent)."""
    try:
        actor = flows.job_actor(uuid.UUID(tenant_id))
        flows.send(actor, uuid.UUID(batch_id))
    except Exception:  # boundary: the poll retries what is left
        log.exception("transfer_send_failed", batch_id=batch_id)


def poll(*, clock: Clock = SYSTEM_CLOCK) -> int:
    """Send and refresh every unfinished batch of every tenant; return how many were tried."""
    with system_unit_of_work(reason="transfer poll finds open batches in every tenant") as db:
        found = service.open_batches(db, created_before=clock.now() - SEND_GRACE)
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, batch_id in found:
        by_tenant.setdefault(tenant_id, []).append(batch_id)
    for tenant_id, batch_ids in by_tenant.items():
        try:
            actor = flows.job_actor(tenant_id)
        except Exception:  # boundary: one tenant's failure does not stop the others
            log.exception("transfer_poll_tenant_failed", tenant_id=str(tenant_id))
            continue
        for batch_id in batch_ids:
            try:
                flows.refresh(actor, batch_id, clock=clock)
            except Exception:  # boundary: the next poll tries again
                log.exception("transfer_poll_failed", batch_id=str(batch_id))
    return len(found)


@huey.periodic_task(crontab(minute="*/10"), name="transfers.poll")  # type: ignore[untyped-decorator]
def poll_job() -> None:
    poll()
