"""Where a full sync or reconciliation of a WeCom account stands: ``channel_account.sync_state``.

The JSON holds one record per mode (``full``, ``reconcile``) and the reconciliation period::

    {"full": {run}, "reconcile": {run}, "reconcile_every_minutes": 60}

A run record has ``run_id``, ``status`` (queued, running, done, failed), ``stage`` and per-stage
``{done, total}``, ``counts``, ``heartbeat_at``, the members WeCom lists that no staff record
maps (``unmapped_members``), a sample of what a reconciliation repaired (``repairs``) and, when
it failed, ``error`` (detail and hint). ``Run`` keeps it up to date: stage changes and progress
are written at most every ``SAVE_EVERY`` seconds in a short unit of work of their own, or in the
unit of work of a chunk being written (progress then commits with the data it describes).

One run per account at a time, full or reconcile: a run whose heartbeat is older than
``STALE_AFTER`` is considered dead (a killed worker) and may be replaced.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels.models import ChannelAccount, ChannelKind
from siyu.core.actor import Actor
from siyu.core.bulk import lock_for_writing
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.core.errors import AppError, Conflict, FieldError, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.security import service as security
from siyu.security.rbac import Perm, require

log = structlog.get_logger(__name__)

DEFAULT_RECONCILE_MINUTES = 60
MIN_RECONCILE_MINUTES = 5
MAX_RECONCILE_MINUTES = 7 * 24 * 60
STALE_AFTER = timedelta(minutes=15)
SAVE_EVERY = 2.0  # seconds between progress writes outside chunk writes
LIST_CAP = 200  # members / repairs kept by name in the state; counts are always complete

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as a run moves; ``total`` 0 means not known yet."""


class SyncMode(StrEnum):
    FULL = "full"
    RECONCILE = "reconcile"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


STAGES: dict[SyncMode, tuple[str, ...]] = {
    SyncMode.FULL: ("members", "tags", "contacts", "relations", "groups"),
    SyncMode.RECONCILE: ("members", "tags", "contacts", "relations", "groups"),
}


@contextmanager
def writing(actor: Actor) -> Iterator[Session]:
    """A unit of work that writes: on SQLite it takes the write lock before it reads anything.

    Sync writes read first (what exists?) and write after; SQLite refuses such a transaction at
    once when another writer got in between, instead of waiting. Writers of this process also
    queue fairly (see ``core.bulk.lock_for_writing``).
    """
    with unit_of_work(actor) as db:
        lock_for_writing(db, ChannelAccount)
        yield db


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _parse(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def reconcile_minutes(account: ChannelAccount) -> int:
    value = (account.sync_state or {}).get("reconcile_every_minutes")
    return value if isinstance(value, int) else DEFAULT_RECONCILE_MINUTES


def run_record(account: ChannelAccount, mode: SyncMode) -> dict[str, Any] | None:
    record = (account.sync_state or {}).get(mode.value)
    return record if isinstance(record, dict) else None


def is_live(record: dict[str, Any] | None, now: datetime) -> bool:
    """Whether a run is queued or running and was heard from within ``STALE_AFTER``."""
    if not record or record.get("status") not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return False
    heard = _parse(record.get("heartbeat_at")) or _parse(record.get("requested_at"))
    return heard is not None and now - heard < STALE_AFTER


def _write(account: ChannelAccount, mode: SyncMode, record: dict[str, Any]) -> None:
    account.sync_state = {**(account.sync_state or {}), mode.value: record}


def _wecom_account(db: Session, actor: Actor, account_id: uuid.UUID) -> ChannelAccount:
    account = db.get(ChannelAccount, (actor.tenant_id, account_id))
    if account is None or account.kind != ChannelKind.WECOM:
        raise NotFound(
            f"WeCom account {account_id} not found",
            hint="list accounts with GET /api/v1/channel-accounts or `siyu wecom accounts`",
        )
    return account


def _refuse_if_busy(account: ChannelAccount, now: datetime, *, run_id: str | None) -> None:
    for mode in SyncMode:
        record = run_record(account, mode)
        if is_live(record, now) and (record or {}).get("run_id") != run_id:
            raise Conflict(
                f"a {mode.value} sync of account {account.name!r} is already "
                f"{(record or {}).get('status')} (run {(record or {}).get('run_id')})",
                hint="wait for it to finish (GET /api/v1/channel-accounts/{id}/sync shows it); "
                f"a run silent for {int(STALE_AFTER.total_seconds() // 60)} minutes is "
                "considered dead and can be replaced",
            )


def request_run(
    db: Session, actor: Actor, account_id: uuid.UUID, *, mode: SyncMode, clock: Clock
) -> str:
    """Mark a run of ``mode`` as queued and return its id (the caller queues the job)."""
    require(actor, Perm.CHANNELS_MANAGE)
    account = _wecom_account(db, actor, account_id)
    if not account.is_active:
        raise Conflict(
            f"account {account.name!r} is disabled",
            hint="enable it first (PATCH /api/v1/channel-accounts/{id} with is_active true)",
        )
    now = clock.now()
    _refuse_if_busy(account, now, run_id=None)
    run_id = str(new_id())
    _write(
        account,
        mode,
        {
            "run_id": run_id,
            "status": RunStatus.QUEUED.value,
            "requested_at": _iso(now),
            "requested_by": actor.label,
            "heartbeat_at": _iso(now),
            "stage": None,
            "stages": {},
            "counts": {},
        },
    )
    security.record_audit(
        db,
        actor,
        f"channel_account.{mode.value}_sync",
        subject_type="channel_account",
        subject_id=account.id,
        detail={"run_id": run_id},
    )
    db.flush()
    return run_id


def mark_queued(
    db: Session, actor: Actor, account_id: uuid.UUID, *, mode: SyncMode, now: datetime
) -> str | None:
    """Queue a scheduled run unless one is live; return its id or ``None`` (no permission check:
    the scheduler runs as the account's channel actor)."""
    account = _wecom_account(db, actor, account_id)
    if not account.is_active or any(is_live(run_record(account, m), now) for m in SyncMode):
        return None
    run_id = str(new_id())
    _write(account, mode, {"run_id": run_id, "status": RunStatus.QUEUED.value,
                           "requested_at": _iso(now), "requested_by": "schedule",
                           "heartbeat_at": _iso(now), "stage": None, "stages": {},
                           "counts": {}})  # fmt: skip
    db.flush()
    return run_id


def set_reconcile_period(
    db: Session, actor: Actor, account_id: uuid.UUID, *, minutes: int
) -> ChannelAccount:
    """Set how often the account is reconciled (minutes; checked every five minutes)."""
    require(actor, Perm.CHANNELS_MANAGE)
    if not MIN_RECONCILE_MINUTES <= minutes <= MAX_RECONCILE_MINUTES:
        raise InvalidInput(
            f"reconcile period {minutes} minutes is out of range",
            hint=f"use {MIN_RECONCILE_MINUTES} to {MAX_RECONCILE_MINUTES} minutes (a week)",
            errors=[FieldError(field="reconcile_every_minutes", reason="out of range",
                               value=str(minutes))],
        )  # fmt: skip
    account = _wecom_account(db, actor, account_id)
    before = reconcile_minutes(account)
    account.sync_state = {**(account.sync_state or {}), "reconcile_every_minutes": minutes}
    if before != minutes:
        security.record_audit(
            db,
            actor,
            "channel_account.reconcile_period",
            subject_type="channel_account",
            subject_id=account.id,
            detail={"from": before, "to": minutes},
        )
    db.flush()
    return account


def get_state(db: Session, actor: Actor, account_id: uuid.UUID) -> ChannelAccount:
    """Return the account whose ``sync_state`` the caller reads (any reader of acquisition)."""
    require(actor, Perm.ACQUISITION_READ)
    return _wecom_account(db, actor, account_id)


def next_reconcile_at(account: ChannelAccount) -> datetime | None:
    """When the scheduler will next reconcile the account (``None``: disabled account)."""
    if not account.is_active:
        return None
    record = run_record(account, SyncMode.RECONCILE) or {}
    tried = [t for t in (account.last_reconciled_at, _parse(record.get("finished_at"))) if t]
    if not tried:
        return account.created_at
    return max(tried) + timedelta(minutes=reconcile_minutes(account))


def due_for_reconcile(now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Return (tenant, account) of every active WeCom account whose reconciliation is due."""
    with system_unit_of_work(reason="find WeCom accounts due for reconciliation") as db:
        accounts = db.scalars(
            select(ChannelAccount).where(
                ChannelAccount.kind == ChannelKind.WECOM, ChannelAccount.is_active.is_(True)
            )
        )
        due = []
        for account in accounts:
            at = next_reconcile_at(account)
            live = any(is_live(run_record(account, m), now) for m in SyncMode)
            if at is not None and at <= now and not live:
                due.append((account.tenant_id, account.id))
        return due


@dataclass
class Run:
    """One sync or reconciliation in progress, mirrored into ``sync_state`` as it goes."""

    actor: Actor
    account_id: uuid.UUID
    mode: SyncMode
    clock: Clock = SYSTEM_CLOCK
    progress: Progress | None = None
    run_id: str = ""
    started_at: datetime | None = None
    stage: str | None = None
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)
    _saved_at: float = 0.0

    def start(self, run_id: str | None = None) -> None:
        """Mark the run as running (``run_id``: the queued run this is), or refuse if busy."""
        now = self.clock.now()
        with writing(self.actor) as db:
            account = _wecom_account(db, self.actor, self.account_id)
            if not account.is_active:
                raise Conflict(
                    f"account {account.name!r} is disabled",
                    hint="enable the account before syncing it",
                )
            _refuse_if_busy(account, now, run_id=run_id)
            self.run_id = run_id or str(new_id())
            self.started_at = now
            previous = run_record(account, self.mode) or {}
            _write(account, self.mode, self._record(RunStatus.RUNNING, previous, now))
        log.info("wecom_sync_started", mode=self.mode.value, account_id=str(self.account_id),
                 run_id=self.run_id)  # fmt: skip

    def _record(self, status: RunStatus, previous: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": status.value,
            "requested_at": previous.get("requested_at") or _iso(self.started_at),
            "requested_by": previous.get("requested_by") or self.actor.label,
            "started_at": _iso(self.started_at),
            "heartbeat_at": _iso(now),
            "finished_at": _iso(now) if status in (RunStatus.DONE, RunStatus.FAILED) else None,
            "stage": self.stage,
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "counts": dict(self.counts),
            **{k: list(v[:LIST_CAP]) for k, v in self.lists.items()},
        }

    def step(self, stage: str, done: int, total: int) -> None:
        """Report progress; saved now and then (``save`` in a chunk's unit of work saves too)."""
        self.stage = stage
        self.stages[stage] = {"done": done, "total": max(total, done)}
        if self.progress is not None:
            self.progress(stage, done, max(total, done))
        if self.clock.now().timestamp() - self._saved_at >= SAVE_EVERY:
            with writing(self.actor) as db:
                self.save(db)

    def add(self, **counts: int) -> None:
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value

    def note(self, name: str, items: list[Any]) -> None:
        """Keep a list in the state (members unmapped, repairs…), first ``LIST_CAP`` entries."""
        self.lists.setdefault(name, []).extend(items)

    def save(self, db: Session, status: RunStatus = RunStatus.RUNNING) -> ChannelAccount:
        now = self.clock.now()
        account = _wecom_account(db, self.actor, self.account_id)
        _write(account, self.mode, self._record(status, run_record(account, self.mode) or {}, now))
        self._saved_at = now.timestamp()
        return account

    def finish(self) -> None:
        now = self.clock.now()
        with writing(self.actor) as db:
            account = self.save(db, RunStatus.DONE)
            account.last_reconciled_at = now
            if self.mode is SyncMode.FULL:
                account.last_synced_at = now
        log.info("wecom_sync_finished", mode=self.mode.value, account_id=str(self.account_id),
                 run_id=self.run_id, **self.counts)  # fmt: skip

    def fail(self, exc: BaseException) -> None:
        """Record why the run stopped (what was committed before stays)."""
        if isinstance(exc, AppError):
            error = {"code": exc.code, "detail": exc.detail, "hint": exc.hint}
        else:
            error = {"code": "internal", "detail": type(exc).__name__, "hint": None}
        try:
            with writing(self.actor) as db:
                account = self.save(db, RunStatus.FAILED)
                record = run_record(account, self.mode) or {}
                _write(account, self.mode, {**record, "error": error})
        except Exception:
            log.exception("wecom_sync_state_unsaved", run_id=self.run_id)
        log.warning("wecom_sync_failed", mode=self.mode.value, account_id=str(self.account_id),
                    run_id=self.run_id, stage=self.stage, error=error["code"])  # fmt: skip
