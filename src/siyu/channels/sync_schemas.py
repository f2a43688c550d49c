"""API shapes of a WeCom account's sync: the runs in ``sync_state`` and the schedule."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import sync_state
from siyu.channels.wecom.sync_state import RunStatus, SyncMode


class StageProgress(BaseModel):
    done: int
    total: int


class SyncError(BaseModel):
    code: str
    detail: str
    hint: str | None = None


class SyncRunRead(BaseModel):
    """One full sync or reconciliation: where it is, what it counted, what needs an admin."""

    run_id: str
    status: RunStatus
    requested_at: datetime | None = None
    requested_by: str | None = None
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    finished_at: datetime | None = None
    stage: str | None = Field(
        default=None, description="members, tags, contacts, relations, groups"
    )
    stages: dict[str, StageProgress] = Field(default_factory=dict)
    percent: int = Field(description="Overall progress, 0-100, over the five stages")
    counts: dict[str, int] = Field(default_factory=dict)
    unmapped_members: list[str] = Field(
        default_factory=list,
        description="WeCom members no staff record has as wecom_userid (map them on staff)",
    )
    unlisted_members: list[str] = Field(
        default_factory=list,
        description="Members with active relations that WeCom no longer lists (left as they are)",
    )
    skipped_members: list[dict[str, Any]] = Field(
        default_factory=list, description="Members WeCom refused to read, with the errcode"
    )
    repairs: list[dict[str, str]] = Field(
        default_factory=list, description="What a reconciliation repaired (first 200)"
    )
    error: SyncError | None = None

    @classmethod
    def of(cls, mode: SyncMode, record: dict[str, Any]) -> SyncRunRead:
        stages = sync_state.STAGES[mode]
        progress = record.get("stages") or {}
        if record.get("status") == RunStatus.DONE:
            percent = 100
        else:
            share = 0.0
            for stage in stages:
                p = progress.get(stage) or {}
                if p.get("total"):
                    share += min(1.0, p.get("done", 0) / p["total"])
                elif stage in progress:
                    share += 1.0 if stage != record.get("stage") else 0.0
            percent = int(100 * share / len(stages))
        return cls.model_validate({**record, "percent": percent})


class SyncStatusRead(BaseModel):
    """A WeCom account's last full sync, last reconciliation and reconciliation schedule."""

    account_id: uuid.UUID
    account_name: str
    is_active: bool
    full: SyncRunRead | None
    reconcile: SyncRunRead | None
    last_synced_at: datetime | None
    last_reconciled_at: datetime | None
    reconcile_every_minutes: int
    next_reconcile_at: datetime | None

    @classmethod
    def of(cls, account: ChannelAccount) -> SyncStatusRead:
        runs = {
            mode: SyncRunRead.of(mode, record)
            for mode in SyncMode
            if (record := sync_state.run_record(account, mode)) is not None
        }
        return cls(
            account_id=account.id,
            account_name=account.name,
            is_active=account.is_active,
            full=runs.get(SyncMode.FULL),
            reconcile=runs.get(SyncMode.RECONCILE),
            last_synced_at=account.last_synced_at,
            last_reconciled_at=account.last_reconciled_at,
            reconcile_every_minutes=sync_state.reconcile_minutes(account),
            next_reconcile_at=sync_state.next_reconcile_at(account),
        )


class SyncRequest(BaseModel):
    mode: SyncMode = Field(
        default=SyncMode.FULL,
        description="full: read and write everything; reconcile: write only what differs",
    )


class SyncSchedule(BaseModel):
    reconcile_every_minutes: int = Field(
        ge=sync_state.MIN_RECONCILE_MINUTES,
        le=sync_state.MAX_RECONCILE_MINUTES,
        description="How often the account is reconciled with WeCom (checked every 5 minutes)",
    )
