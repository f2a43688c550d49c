"""Sync jobs: a requested full sync or reconciliation, and the reconciliation schedule.

``request_sync`` (API, console) marks a run as queued in the account's ``sync_state`` and queues
``wecom.sync_run`` once the unit of work commits. The periodic ``wecom.reconcile_due`` looks every
five minutes for active WeCom accounts whose reconciliation is due (each account's
``reconcile_every_minutes``, default 60) and queues one run per account; each run has units of
work of its own, so one account's failure is logged (and kept in its state) and the others still
run. Jobs take ids only and are safe to run twice: a run already live is not started again.
"""

from __future__ import annotations

import uuid

import structlog
from huey import crontab
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.channels.wecom import reconcile, sync, sync_state
from siyu.channels.wecom.sync import SyncReport
from siyu.channels.wecom.sync_state import SyncMode
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import after_commit, unit_of_work
from siyu.core.errors import AppError
from siyu.jobs.queue import huey

log = structlog.get_logger(__name__)


def request_sync(
    db: Session,
    actor: Actor,
    account_id: uuid.UUID,
    *,
    mode: SyncMode = SyncMode.FULL,
    clock: Clock = SYSTEM_CLOCK,
) -> str:
    """Queue a run of ``mode`` for the account and return its id (starts after the commit)."""
    run_id = sync_state.request_run(db, actor, account_id, mode=mode, clock=clock)
    tenant_id = actor.tenant_id
    after_commit(db, lambda: _queue(tenant_id, account_id, mode, run_id))
    return run_id


def _queue(tenant_id: uuid.UUID, account_id: uuid.UUID, mode: SyncMode, run_id: str) -> None:
    try:
        sync_run(str(tenant_id), str(account_id), mode.value, run_id)
    except Exception:
        log.exception("wecom_sync_queue_failed", account_id=str(account_id), run_id=run_id)


def run_requested(
    tenant_id: uuid.UUID,
    account_id: uuid.UUID,
    mode: SyncMode,
    run_id: str | None,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> SyncReport | None:
    """Run a queued sync as the account's channel actor; ``None`` when it did not complete.

    A failure is logged and kept in the account's ``sync_state``; it is not raised, so a
    schedule running many accounts goes on with the next.
    """
    target = channels.find_callback_account(account_id)
    if target is None or target.tenant_id != tenant_id:
        log.warning("wecom_sync_account_gone", account_id=str(account_id), run_id=run_id)
        return None
    actor = target.actor()
    bound = log.bind(account_id=str(account_id), mode=mode.value, run_id=run_id)
    try:
        if mode is SyncMode.FULL:
            return sync.run_full_sync(actor, account_id, clock=clock, run_id=run_id)
        return reconcile.reconcile_account(actor, account_id, clock=clock, run_id=run_id)
    except AppError as exc:  # known (WeCom refused, bad configuration): the state says why
        bound.warning("wecom_sync_job_failed", error=exc.code)
    except Exception:  # noqa: BLE001 - boundary: one account's failure must not stop others
        bound.exception("wecom_sync_job_failed")
    return None


@huey.task(name="wecom.sync_run")  # type: ignore[untyped-decorator]  # huey has no hints
def sync_run(tenant_id: str, account_id: str, mode: str, run_id: str | None) -> None:
    run_requested(uuid.UUID(tenant_id), uuid.UUID(account_id), SyncMode(mode), run_id)


def reconcile_due(*, clock: Clock = SYSTEM_CLOCK) -> int:
    """Queue a reconciliation of every account that is due; return how many were queued."""
    now = clock.now()
    queued = 0
    for tenant_id, account_id in sync_state.due_for_reconcile(now):
        try:
            target = channels.find_callback_account(account_id)
            if target is None:
                continue
            actor = target.actor()
            with unit_of_work(actor) as db:
                run_id = sync_state.mark_queued(
                    db, actor, account_id, mode=SyncMode.RECONCILE, now=now
                )
            if run_id is None:
                continue
            sync_run(str(tenant_id), str(account_id), SyncMode.RECONCILE.value, run_id)
            queued += 1
        except Exception:
            log.exception("wecom_reconcile_schedule_failed", account_id=str(account_id))
    return queued


@huey.periodic_task(crontab(minute="*/5"), name="wecom.reconcile_due")  # type: ignore[untyped-decorator]
def reconcile_due_job() -> None:
    reconcile_due()
