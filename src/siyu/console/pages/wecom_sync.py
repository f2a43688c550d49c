"""``/wecom-sync``: where each WeCom account's full sync and reconciliation stand.

Per account: the last full sync and reconciliation (status, stage, a progress bar that follows a
running job, counts, the error and its hint), the WeCom members no staff record maps, what the
last reconciliation repaired, and the reconciliation schedule. Admins (``channels:manage``)
start a sync or reconciliation and change the schedule; others with ``acquisition:read`` look.
"""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.channels import service as channels
from siyu.channels.models import ChannelKind
from siyu.channels.sync_schemas import SyncRunRead, SyncStatusRead
from siyu.channels.wecom import sync_jobs, sync_state
from siyu.channels.wecom.sync_state import RunStatus, SyncMode
from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import DASH, when
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.errors import AppError
from siyu.security.rbac import Perm, has

PATH = "/wecom-sync"
POLL_SECONDS = 2.0
SHOWN_COUNTS = (
    "members",
    "contacts",
    "customers_created",
    "relations_started",
    "relations_updated",
    "relations_ended",
    "groups",
    "groups_dismissed",
)
ALWAYS_SHOWN = ("members", "contacts")  # other counts only when not 0
SHOWN_REPAIRS = 20
LIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def load(db: Session, actor: Actor) -> list[SyncStatusRead]:
    return [
        SyncStatusRead.of(a)
        for a in channels.list_accounts(db, actor)
        if a.kind == ChannelKind.WECOM
    ]


def start(db: Session, actor: Actor, account_id: uuid.UUID, mode: SyncMode) -> None:
    sync_jobs.request_sync(db, actor, account_id, mode=mode)


def schedule(db: Session, actor: Actor, account_id: uuid.UUID, minutes: int) -> None:
    sync_state.set_reconcile_period(db, actor, account_id, minutes=minutes)


def register() -> None:
    nav.add(NavItem("nav.wecom_sync", PATH, "sync", permission=Perm.ACQUISITION_READ, order=79))

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def sync_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.wecom_sync"), path=PATH):
            if not has(user.actor, Perm.ACQUISITION_READ):
                no_permission()
            else:
                await build(user.actor)
        return None


def _live(statuses: list[SyncStatusRead]) -> bool:
    return any(
        run is not None and run.status in LIVE for s in statuses for run in (s.full, s.reconcile)
    )


async def build(actor: Actor) -> None:
    manage = has(actor, Perm.CHANNELS_MANAGE)
    state: dict[str, Any] = {"statuses": []}

    async def reload() -> None:
        try:
            state["statuses"] = await in_tenant(actor, lambda db: load(db, actor))
        except AppError as exc:
            show_error(exc)
            return
        cards.refresh()
        poller.active = _live(state["statuses"])

    async def run_now(account_id: uuid.UUID, mode: SyncMode) -> None:
        try:
            await in_tenant(actor, lambda db: start(db, actor, account_id, mode))
        except AppError as exc:
            show_error(exc)
            return
        ui.notify(t(f"sync.started.{mode.value}"), type="positive")
        await reload()

    async def save_schedule(account_id: uuid.UUID, minutes: float | None) -> None:
        if minutes is None:
            ui.notify(t("sync.minutes_required"), type="warning")
            return
        try:
            await in_tenant(actor, lambda db: schedule(db, actor, account_id, int(minutes)))
        except AppError as exc:
            show_error(exc)
            return
        ui.notify(t("sync.schedule_saved"), type="positive")
        await reload()

    @ui.refreshable
    def cards() -> None:
        statuses: list[SyncStatusRead] = state["statuses"]
        if not statuses:
            with ui.card().classes("w-full"):
                ui.label(t("sync.no_accounts"))
            return
        for status in statuses:
            _account_card(actor, status, manage, run_now, save_schedule)

    ui.label(t("sync.intro")).classes("text-body2 text-grey-8")
    cards()
    poller = ui.timer(POLL_SECONDS, reload, active=False)
    await reload()


def _account_card(
    actor: Actor, status: SyncStatusRead, manage: bool, run_now: Any, save_schedule: Any
) -> None:
    busy = any(r is not None and r.status in LIVE for r in (status.full, status.reconcile))
    card = ui.card().classes("w-full gap-3").props(f'aria-label="{status.account_name}"')
    with card.mark(f"sync-{status.account_name}"):
        with ui.row().classes("w-full items-center justify-between"):
            ui.label(status.account_name).classes("text-h6").props("role=heading aria-level=2")
            if manage:
                with ui.row().classes("gap-2"):
                    full = ui.button(
                        t("sync.sync_now"),
                        icon="sync",
                        on_click=lambda: run_now(status.account_id, SyncMode.FULL),
                    ).props("unelevated no-caps")
                    again = ui.button(
                        t("sync.reconcile_now"),
                        icon="fact_check",
                        on_click=lambda: run_now(status.account_id, SyncMode.RECONCILE),
                    ).props("outline no-caps")
                    for button in (full, again):
                        button.set_enabled(status.is_active and not busy)
        if not status.is_active:
            ui.label(t("sync.disabled")).classes("text-warning")
        _run_section(actor, t("sync.full"), status.full)
        _run_section(actor, t("sync.reconcile"), status.reconcile)
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(
                t(
                    "sync.schedule",
                    minutes=status.reconcile_every_minutes,
                    next=when(actor, status.next_reconcile_at),
                )
            ).classes("text-body2")
            if manage:
                minutes = (
                    ui.number(
                        t("sync.every_minutes"),
                        value=status.reconcile_every_minutes,
                        min=sync_state.MIN_RECONCILE_MINUTES,
                        max=sync_state.MAX_RECONCILE_MINUTES,
                        step=5,
                        precision=0,
                    )
                    .props("outlined dense")
                    .classes("w-40")
                )
                ui.button(
                    t("sync.save_schedule"),
                    on_click=lambda: save_schedule(status.account_id, minutes.value),
                ).props("flat no-caps")


def _run_section(actor: Actor, title: str, run: SyncRunRead | None) -> None:
    with ui.column().classes("w-full gap-1"):
        ui.label(title).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=3"
        )
        if run is None:
            ui.label(t("sync.never")).classes("text-grey-7")
            return
        stage = t(f"sync.stage.{run.stage}") if run.stage else DASH
        ui.label(
            t(
                "sync.line",
                status=t(f"sync.status.{run.status.value}"),
                stage=stage,
                started=when(actor, run.started_at or run.requested_at),
                finished=when(actor, run.finished_at),
            )
        ).classes("text-body2")
        ui.linear_progress(value=run.percent / 100, show_value=False).props(
            f'rounded size=10px aria-label="{title} {run.percent}%" '
            f"color={'negative' if run.status is RunStatus.FAILED else 'primary'}"
        )
        counts = [
            t(f"sync.count.{name}", n=run.counts[name])
            for name in SHOWN_COUNTS
            if run.counts.get(name) or (name in ALWAYS_SHOWN and name in run.counts)
        ]
        if counts:
            ui.label(t("common.list_separator").join(counts)).classes("text-caption text-grey-8")
        if run.error is not None:
            with ui.column().classes("gap-0").props("role=alert"):
                ui.label(run.error.detail).classes("text-negative")
                if run.error.hint:
                    ui.label(run.error.hint).classes("text-caption text-grey-8")
        if run.unmapped_members:
            ui.label(t("sync.unmapped", n=len(run.unmapped_members))).classes(
                "text-body2 text-warning"
            )
            with ui.row().classes("gap-1"):
                for userid in run.unmapped_members[:50]:
                    ui.chip(userid).props("dense outline")
        if run.repairs:
            ui.label(t("sync.repairs", n=len(run.repairs))).classes("text-body2")
            for repair in run.repairs[:SHOWN_REPAIRS]:
                subject = (
                    repair.get("external_userid") or repair.get("chat_id") or repair.get("count")
                )
                who = repair.get("userid", "")
                ui.label(
                    f"{t('sync.repair.' + repair['kind'])} {who} {subject or ''}".strip()
                ).classes("text-caption")
