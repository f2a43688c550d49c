"""Sync routes of a WeCom account: start a full sync or reconciliation, follow it, schedule it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from siyu.channels.sync_schemas import SyncRequest, SyncSchedule, SyncStatusRead
from siyu.channels.wecom import sync_jobs, sync_state
from siyu.core.db import unit_of_work
from siyu.security.deps import CurrentActor

router = APIRouter(tags=["channel accounts"])


@router.post(
    "/channel-accounts/{account_id}/sync", status_code=202, operation_id="start_channel_sync"
)
def start_sync(
    account_id: uuid.UUID, actor: CurrentActor, data: SyncRequest | None = None
) -> SyncStatusRead:
    """Start a full sync (default) or a reconciliation in the background (admins).

    The answer shows the run as queued; follow it with ``GET …/sync``. 409 while another run of
    the account is live.
    """
    mode = (data or SyncRequest()).mode
    with unit_of_work(actor) as db:
        sync_jobs.request_sync(db, actor, account_id, mode=mode)
    with unit_of_work(actor) as db:
        return SyncStatusRead.of(sync_state.get_state(db, actor, account_id))


@router.get("/channel-accounts/{account_id}/sync", operation_id="get_channel_sync")
def get_sync(account_id: uuid.UUID, actor: CurrentActor) -> SyncStatusRead:
    """The account's last full sync and reconciliation (stage, progress, counts, errors)."""
    with unit_of_work(actor) as db:
        return SyncStatusRead.of(sync_state.get_state(db, actor, account_id))


@router.patch("/channel-accounts/{account_id}/sync", operation_id="update_channel_sync")
def update_sync(account_id: uuid.UUID, data: SyncSchedule, actor: CurrentActor) -> SyncStatusRead:
    """Set how often the account is reconciled with WeCom (admins)."""
    with unit_of_work(actor) as db:
        account = sync_state.set_reconcile_period(
            db, actor, account_id, minutes=data.reconcile_every_minutes
        )
        return SyncStatusRead.of(account)
