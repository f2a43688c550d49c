"""``/identity/merge-proposals``: the review queue of customers who are probably one person.

Proposals come from weak evidence on orders (``identity/proposals.py``). Each card shows both
customers side by side — masked by role through ``customers.present`` — with what matched and
the match probability. Roles with ``customers:write`` merge (undoable from the customer page),
reject, act on a selection, and run the model now; read-only roles only look.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import DASH, enum_label, money, rate_bp, text, when
from siyu.console.i18n import catalog, current_locale, t
from siyu.console.layout import PAGE_TIMEOUT, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.errors import AppError
from siyu.identity import proposals
from siyu.identity.models import ProposalStatus
from siyu.identity.proposals import ProposalParty, ProposalReview, ReviewQueue
from siyu.security.rbac import Perm, has

PATH = "/identity/merge-proposals"
PAGE_SIZE = 20
MIN_SCORES_BP = (0, 9000, 9500, 9900)
_ALL = "all"
PENDING = ProposalStatus.PENDING
_STRONG = {"exact", "last4"}
_DIFFERENT = {"else"}


def register() -> None:
    nav.add(
        NavItem("nav.merge_proposals", PATH, "call_merge", permission=Perm.CUSTOMERS_READ, order=23)
    )

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def merge_proposals_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.merge_proposals"), path=PATH):
            if not has(user.actor, Perm.CUSTOMERS_READ):
                no_permission()
            else:
                await build(user.actor)
        return None


def _label(prefix: str, value: str) -> str:
    """Return the translation of an evidence field or level, or the value itself if unknown."""
    key = f"{prefix}.{re.sub(r'[^0-9a-z]+', '_', value.lower()).strip('_')}"
    return t(key) if key in catalog(current_locale()) else value


def _name(party: ProposalParty) -> str:
    return party.customer.name or t("customers.unnamed")


def _tone(bp: int) -> str:
    return "positive" if bp >= 9900 else "primary" if bp >= 9500 else "warning"


def _evidence_chip(field: str, level: str) -> None:
    if level in _STRONG:
        icon, color = "check_circle", "positive"
    elif level in _DIFFERENT:
        icon, color = "cancel", "negative"
    else:
        icon, color = "check", "primary"  # close, not equal
    chip = ui.chip(
        f"{_label('proposals.field', field)}: {_label('proposals.level', level)}", icon=icon
    )
    chip.props(f"outline dense square color={color}").classes("q-ma-none")


def _party(actor: Actor, party: ProposalParty) -> None:
    c = party.customer
    target = party.merged_into_id or c.id
    with ui.column().classes("w-full gap-1 q-pa-sm rounded-borders bg-grey-1 min-w-0"):
        with ui.row().classes("items-center gap-2 no-wrap min-w-0"):
            ui.link(_name(party), f"/customers/{target}").classes(
                "text-subtitle1 text-weight-medium text-primary ellipsis"
            )
            if not party.is_active:
                ui.badge(t("proposals.merged_away"), color="grey-7").props("outline")
        ui.label(text(c.phone)).classes("text-body2 font-mono")
        region = (
            " ".join(dict.fromkeys(p for p in (c.province, c.city) if p)) or DASH
        )  # 上海市 once
        ui.label(f"{region} · {text(c.org_unit_name)}").classes("text-body2 text-grey-8")
        if party.order_count is not None and party.net_fen is not None:
            ui.label(
                t("proposals.orders", count=f"{party.order_count:,}", net=money(party.net_fen))
            ).classes("text-body2")
        ui.label(t("proposals.created", at=when(actor, c.created_at))).classes(
            "text-caption text-grey-7"
        )


def _decision(actor: Actor, item: ProposalReview) -> str:
    by = item.decided_by or DASH
    if by == "auto-accept":
        by = t("proposals.auto_accept")
    status = enum_label("proposal_status", item.status)
    return t("proposals.decided", status=status, by=by, at=when(actor, item.decided_at))


def _pair_names(item: ProposalReview) -> dict[str, str]:
    return {"left": _name(item.left), "right": _name(item.right)}


async def _confirm(message: str, action: str, *, color: str, mark: str) -> bool:
    with ui.dialog() as dialog, ui.card().classes("max-w-md").props("role=alertdialog"):
        ui.label(message).classes("text-body1")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
            ui.button(action, color=color, on_click=lambda: dialog.submit(True)).props(
                "unelevated no-caps"
            ).mark(mark)
    return bool(await dialog)


async def build(actor: Actor) -> None:
    can_write = has(actor, Perm.CUSTOMERS_WRITE)
    state: dict[str, Any] = {
        "status": PENDING.value,
        "min_bp": 0,
        "limit": PAGE_SIZE,
    }
    shown: dict[str, ProposalReview] = {}
    selected: set[str] = set()

    async def load() -> ReviewQueue | None:
        raw = state["status"]
        status = None if raw == _ALL else ProposalStatus(raw)
        min_bp, limit = int(state["min_bp"]), int(state["limit"])
        try:
            return await in_tenant(
                actor,
                lambda db: proposals.review_queue(
                    db, actor, status=status, min_probability_bp=min_bp, limit=limit
                ),
            )
        except AppError as exc:
            show_error(exc)
            return None

    async def refresh(*, reset: bool = False) -> None:
        if reset:
            state["limit"] = PAGE_SIZE
        queue = await load()
        if queue is None:
            return
        shown.clear()
        shown.update({str(i.id): i for i in queue.items})
        selected.intersection_update(k for k, i in shown.items() if i.status == PENDING)
        render(queue)

    async def decide(item: ProposalReview, *, accept: bool) -> None:
        names = _pair_names(item)
        if accept:
            ok = await _confirm(
                t("proposals.accept_confirm", **names),
                t("proposals.accept"),
                color="primary",
                mark="confirm-accept",
            )
        else:
            ok = await _confirm(
                t("proposals.reject_confirm", **names),
                t("proposals.reject"),
                color="negative",
                mark="confirm-reject",
            )
        if not ok:
            return
        try:
            if accept:
                record = await in_tenant(actor, lambda db: proposals.accept(db, actor, item.id))
                survivor = item.left if item.left.customer.id == record.survivor_id else item.right
                ui.notify(
                    t("proposals.accepted_notice", name=_name(survivor)),
                    type="positive",
                    multi_line=True,
                )
            else:
                await in_tenant(actor, lambda db: proposals.reject(db, actor, item.id))
                ui.notify(t("proposals.rejected_notice"), type="positive")
        except AppError as exc:
            show_error(exc)
        selected.discard(str(item.id))
        await refresh()

    async def decide_selected(*, accept: bool) -> None:
        ids = [uuid.UUID(k) for k in selected if k in shown]
        if not ids:
            return
        key = "proposals.bulk_accept_confirm" if accept else "proposals.bulk_reject_confirm"
        action = t("proposals.accept_selected" if accept else "proposals.reject_selected")
        color = "primary" if accept else "negative"
        if not await _confirm(t(key, n=len(ids)), action, color=color, mark="confirm-bulk"):
            return

        def decision(proposal_id: uuid.UUID) -> Callable[[Session], None]:
            def work(db: Session) -> None:
                if accept:
                    proposals.accept(db, actor, proposal_id)
                else:
                    proposals.reject(db, actor, proposal_id)

            return work

        done, errors = 0, []
        for pid in ids:  # one unit of work each: a pair that cannot be merged spoils no other
            try:
                await in_tenant(actor, decision(pid))
                done += 1
            except AppError as exc:
                errors.append(exc.detail)
        selected.clear()
        if errors:
            ui.notify(
                t("proposals.bulk_partial", ok=done, failed=len(errors), detail=errors[0]),
                type="warning",
                multi_line=True,
                close_button=t("common.close"),
                timeout=10_000,
            )
        else:
            ui.notify(t("proposals.bulk_done", ok=done), type="positive")
        await refresh()

    async def run_now() -> None:
        run_button.props("loading")
        try:
            result = await in_tenant(actor, lambda db: proposals.generate_proposals(db, actor))
        except AppError as exc:
            show_error(exc)
            return
        finally:
            run_button.props(remove="loading")
        ui.notify(
            t(
                "proposals.run_done",
                compared=f"{result.compared_records:,}",
                proposed=f"{result.proposed:,}",
                auto=f"{result.auto_accepted:,}",
            ),
            type="positive",
            multi_line=True,
        )
        await refresh(reset=True)

    async def show_more() -> None:
        state["limit"] = min(int(state["limit"]) + PAGE_SIZE, proposals.REVIEW_PAGE_MAX)
        await refresh()

    def toggle(key: str) -> Callable[[ValueChangeEventArguments[bool | None]], None]:
        def change(e: ValueChangeEventArguments[bool | None]) -> None:
            if e.value:
                selected.add(key)
            else:
                selected.discard(key)
            update_bulk()

        return change

    def update_bulk() -> None:
        pending = [k for k, i in shown.items() if i.status == PENDING]
        count_label.set_text(t("proposals.selected", n=len(selected)))
        accept_selected.set_enabled(bool(selected))
        reject_selected.set_enabled(bool(selected))
        select_all.set_value(bool(pending) and set(pending) <= selected)
        bulk_bar.set_visibility(can_write and bool(pending))

    def set_all(e: ValueChangeEventArguments[bool | None]) -> None:
        pending = [k for k, i in shown.items() if i.status == PENDING]
        if e.value:
            selected.update(pending)
        elif set(pending) <= selected:  # unticked by hand, not by update_bulk
            selected.difference_update(pending)
        render_selection()

    def render_selection() -> None:
        for key, box in boxes.items():
            box.set_value(key in selected)
        update_bulk()

    boxes: dict[str, ui.checkbox] = {}

    def card(item: ProposalReview) -> None:
        key = str(item.id)
        names = _pair_names(item)
        with ui.card().classes("w-full q-pa-md gap-3") as box:
            box.props["role"] = "article"
            box.props["aria-label"] = t("proposals.card", **names)  # data: no props string
            with ui.row().classes("w-full items-center gap-2"):
                if can_write and item.status == PENDING:
                    check = ui.checkbox(value=key in selected, on_change=toggle(key))
                    check.props["aria-label"] = t("proposals.select", **names)
                    boxes[key] = check
                ui.label(rate_bp(item.probability_bp)).classes(
                    f"text-h6 text-weight-bold text-{_tone(item.probability_bp)}"
                )
                ui.label(t("proposals.probability")).classes("text-caption text-grey-7")
                ui.space()
                if item.status != PENDING:
                    ui.label(_decision(actor, item)).classes("text-caption text-grey-8")
                else:
                    ui.label(t("proposals.proposed_at", at=when(actor, item.created_at))).classes(
                        "text-caption text-grey-7"
                    )
            with ui.grid().classes("w-full grid-cols-1 sm:grid-cols-2 gap-2"):
                _party(actor, item.left)
                _party(actor, item.right)
            with ui.row().classes("w-full items-center gap-1"):
                ui.label(t("proposals.evidence")).classes("text-caption text-grey-7 q-mr-xs")
                for field, level in item.evidence.items():
                    _evidence_chip(field, level)
                if not item.evidence:
                    ui.label(t("proposals.no_evidence")).classes("text-caption text-grey-7")
            if item.status == PENDING and not item.is_decidable:
                ui.label(t("proposals.stale")).classes("text-caption text-warning")
            if can_write and item.status == PENDING:
                with ui.row().classes("w-full justify-end gap-2"):
                    ui.button(
                        t("proposals.reject"),
                        icon="person_off",
                        on_click=lambda: decide(item, accept=False),
                    ).props("outline no-caps color=negative").mark("reject")
                    if item.is_decidable:
                        ui.button(
                            t("proposals.accept"),
                            icon="call_merge",
                            on_click=lambda: decide(item, accept=True),
                        ).props("unelevated no-caps").mark("accept")

    def render(queue: ReviewQueue) -> None:
        boxes.clear()
        cards.clear()
        with cards:
            if not queue.items:
                filtered = state["status"] != PENDING or int(state["min_bp"]) > 0
                with ui.card().classes("w-full items-center q-pa-lg gap-2").props("role=status"):
                    ui.icon("diversity_3", size="xl").classes("text-grey-5")
                    key = "proposals.empty_filtered" if filtered else "proposals.empty_pending"
                    ui.label(t(key)).classes("text-body1 text-center max-w-xl")
            for item in queue.items:
                card(item)
        total, count = queue.total, len(queue.items)
        summary.set_text(
            t("proposals.count", total=f"{total:,}")
            if count == total
            else t("proposals.count_partial", shown=f"{count:,}", total=f"{total:,}")
        )
        more.set_visibility(count < total and count < proposals.REVIEW_PAGE_MAX)
        update_bulk()

    async def filter_changed() -> None:
        state["status"] = status_select.value
        state["min_bp"] = score_select.value
        selected.clear()
        await refresh(reset=True)

    ui.label(t("proposals.intro")).classes("text-body2 text-grey-8")
    if not can_write:
        ui.label(t("proposals.read_only")).classes("text-caption text-grey-7")
    with ui.row().classes("w-full items-center gap-2"):
        statuses = {s.value: enum_label("proposal_status", s) for s in ProposalStatus}
        status_select = (
            ui.select(
                statuses | {_ALL: t("proposals.status_all")},
                value=state["status"],
                label=t("proposals.status"),
                on_change=filter_changed,
            )
            .props("outlined dense options-dense")
            .classes("min-w-36")
            .mark("status-filter")
        )
        scores = {
            bp: t("proposals.min_any") if bp == 0 else t("proposals.min_at_least", pct=rate_bp(bp))
            for bp in MIN_SCORES_BP
        }
        score_select = (
            ui.select(scores, value=0, label=t("proposals.min_score"), on_change=filter_changed)
            .props("outlined dense options-dense")
            .classes("min-w-36")
            .mark("score-filter")
        )
        ui.space()
        run_button = ui.button(t("proposals.run"), icon="play_arrow", on_click=run_now)
        run_button.props("outline no-caps").mark("run-proposals").set_visibility(can_write)
    summary = ui.label().classes("text-caption text-grey-7").props("role=status")
    with ui.row().classes("w-full items-center gap-2") as bulk_bar:
        select_all = ui.checkbox(t("proposals.select_all"), on_change=set_all)
        count_label = ui.label().classes("text-body2 text-grey-8")
        ui.space()
        with ui.row().classes("gap-2 no-wrap"):
            reject_selected = ui.button(
                t("proposals.reject_selected"), on_click=lambda: decide_selected(accept=False)
            ).props("outline no-caps color=negative")
            accept_selected = ui.button(
                t("proposals.accept_selected"), on_click=lambda: decide_selected(accept=True)
            ).props("unelevated no-caps")
    cards = ui.column().classes("w-full gap-3")
    more = ui.button(t("proposals.more"), icon="expand_more", on_click=show_more)
    more.props("flat no-caps").classes("self-center")
    await refresh()
