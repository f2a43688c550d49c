"""Reconciliation: find and repair drift between WeCom and siyu (issue #6).

Callbacks keep siyu current, but one can be lost (siyu down longer than WeCom's three retries,
a network fault). Reconciliation reads WeCom's view — members, each member's customers with
remark, description and tags, corp tags, groups — and writes only what differs: a relation
WeCom has and siyu lacks (a lost ``add``) is created as the callback would have, one siyu holds
that WeCom no longer lists (a lost ``delete``) ends as ``gone``, changed remarks and tags (a
lost ``edit``) are corrected, groups are brought in line. Every repair is in the run's state
(``sync_state.reconcile.repairs``, counts in ``counts``), on the customer's timeline as the
event the callback would have recorded, and summed up in one ``wecom.reconciled`` event.

The schedule (``sync_jobs``) reconciles each active account every ``reconcile_every_minutes``
(default 60), so a lost callback leaves a customer wrong for at most one period (plus the five
minutes between schedule checks).
"""

from __future__ import annotations

import uuid

from siyu.channels.wecom.sync import REPAIR_COUNTS, SyncReport, run_pipeline
from siyu.channels.wecom.sync_state import Progress, SyncMode
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import unit_of_work
from siyu.events import service as events

RECONCILED_EVENT = "wecom.reconciled"
EVENT_REPAIRS = 50  # repairs listed in the summary event; the counts are complete


def reconcile_account(
    actor: Actor,
    account_id: uuid.UUID,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> SyncReport:
    """Compare WeCom with siyu for one account and repair what differs."""
    report = run_pipeline(
        actor, account_id, SyncMode.RECONCILE, clock=clock, progress=progress, run_id=run_id
    )
    if report.repaired:
        with unit_of_work(actor) as db:
            events.record(
                db,
                actor,
                RECONCILED_EVENT,
                occurred_at=clock.now(),
                source="wecom",
                data={
                    "account_id": str(account_id),
                    "run_id": report.run_id,
                    "counts": {k: report.counts.get(k, 0) for k in REPAIR_COUNTS},
                    "repairs": report.repairs[:EVENT_REPAIRS],
                },
                clock=clock,
            )
    return report
