"""``/transfers/{id}``: one transfer — counts per status, every item, refresh and retry.

Items show WeCom's errcode and what it means; refresh sends what is still pending and asks
WeCom about the customers whose 24-hour window runs; retry hands the refused, limited and
failed items to other receivers in a new transfer (so no customer is left behind unseen).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session

from siyu.console.calls import in_tenant, show_error
from siyu.console.display import DASH, text, when
from siyu.console.i18n import catalog, current_locale, t
from siyu.console.layout import data_table, not_found
from siyu.console.pages.transfers import PATH, counts_text, off_loop, status_label
from siyu.core.actor import Actor
from siyu.core.errors import AppError, NotFound
from siyu.security.rbac import Perm, has
from siyu.tenancy import service as tenancy
from siyu.transfers import flows, jobs, outcomes, service
from siyu.transfers.models import ItemStatus
from siyu.transfers.schemas import TransferDetail, TransferItemRead, TransferRetry

ITEMS_PAGE = 100
NO_WRAP = ("subject", "receiver", "status", "errcode")
CHIP_COLORS = {
    ItemStatus.ACCEPTED: "positive",
    ItemStatus.WAITING: "primary",
    ItemStatus.REFUSED: "negative",
    ItemStatus.LIMIT_REACHED: "negative",
    ItemStatus.FAILED: "negative",
}


_OWN_DETAILS = {
    outcomes.REFUSED: "transfers.detail.refused",
    outcomes.LIMIT_AT_TAKEOVER: "transfers.detail.limit_at_takeover",
    outcomes.IN_OTHER_TRANSFER: "transfers.detail.in_other_transfer",
    outcomes.NO_RECORD: "transfers.detail.no_record",
    outcomes.NOT_SYNCED: "transfers.detail.not_synced",
    outcomes.ACCOUNT_DISABLED: "transfers.detail.account_disabled",
}
_RETRIED = re.compile(r"\s*" + re.escape(outcomes.RETRIED.strip()) + r" ([0-9a-f-]{36})$")


def detail_text(errcode: int | None, detail: str) -> str:
    """Return an item's detail in the user's language.

    WeCom's errcodes and the details siyu writes itself have translations; anything else (an
    errmsg WeCom sent, say) is shown as stored.
    """
    retried = _RETRIED.search(detail)
    if retried:
        detail = detail[: retried.start()]
    key = f"transfers.errcode.{errcode}"
    if errcode is not None and key in catalog(current_locale()):
        shown = t(key)
    elif detail in _OWN_DETAILS:
        shown = t(_OWN_DETAILS[detail])
    elif detail.startswith(outcomes.NOT_SENT):
        shown = t("transfers.detail.not_sent", reason=detail.removeprefix(outcomes.NOT_SENT))
    else:
        shown = detail
    if retried:
        note = t("transfers.detail.retried", id=retried.group(1)[:8])
        shown = f"{shown} · {note}" if shown else note
    return shown or DASH


def load_detail(
    db: Session, actor: Actor, batch_id: uuid.UUID, status: str | None, cursor: str | None
) -> TransferDetail:
    return service.detail(
        db,
        actor,
        batch_id,
        status=ItemStatus(status) if status else None,
        limit=ITEMS_PAGE,
        cursor=cursor,
    )


def load_receivers(db: Session, actor: Actor) -> dict[str, str]:
    return {
        s.wecom_userid: f"{s.name} ({s.wecom_userid})"
        for s in tenancy.list_staff(db, actor)
        if s.wecom_userid
    }


def retry(actor: Actor, batch_id: uuid.UUID, receivers: list[str]) -> uuid.UUID:
    new_id = flows.retry_transfer(actor, batch_id, data=TransferRetry(receivers=receivers))
    jobs.send_transfer(str(actor.tenant_id), str(new_id))
    return new_id


def _item_row(actor: Actor, item: TransferItemRead) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "customer_id": str(item.customer_id) if item.customer_id else "",
        "subject": t(f"transfers.subject.{item.subject.value}"),
        "who": item.customer_name or item.subject_key,
        "key": item.subject_key,
        "receiver": item.takeover_userid,
        "status": status_label(item.status.value),
        "status_value": item.status.value,
        "errcode": "" if item.errcode is None else str(item.errcode),
        "detail": detail_text(item.errcode, item.detail),
        "sent": when(actor, item.sent_at),
        "takeover": when(actor, item.takeover_at),
    }


async def build(actor: Actor, raw_id: str) -> None:
    back = ui.link(t("transfers.back"), PATH).classes("text-primary")
    try:
        batch_id = uuid.UUID(raw_id)
        detail = await in_tenant(actor, lambda db: load_detail(db, actor, batch_id, None, None))
    except (ValueError, NotFound):
        back.delete()
        not_found(t("transfers.not_found"), back=PATH, back_label=t("transfers.back"))
        return
    except AppError as exc:
        show_error(exc)
        return
    can_write = has(actor, Perm.TRANSFERS_WRITE)
    state: dict[str, Any] = {"status": None, "next": None}

    summary = ui.card().classes("w-full").props(f'aria-label="{t("transfers.summary")}"')
    names = ("subject", "who", "key", "receiver", "status", "errcode", "detail", "sent", "takeover")
    columns = [
        {"name": n, "label": t(f"transfers.icol.{n}"), "field": n, "align": "left"}
        | ({"classes": "gt-xs", "headerClasses": "gt-xs"} if n in ("key", "sent") else {})
        | ({"style": "white-space: nowrap"} if n in NO_WRAP else {})
        for n in names
    ]
    with ui.row().classes("w-full items-center gap-2"):
        ui.label(t("transfers.items_heading")).classes("text-h6").props("role=heading aria-level=2")
        ui.space()
        refresh_button = ui.button(t("transfers.refresh"), icon="refresh")
        refresh_button.props("unelevated no-caps").mark("refresh-transfer")
        refresh_button.set_visibility(can_write)
        status_filter = (
            ui.select(
                {"": t("transfers.all_statuses")}
                | {s.value: status_label(s.value) for s in ItemStatus},
                value="",
                label=t("transfers.filter"),
            )
            .props("outlined dense")
            .classes("min-w-40")
            .mark("item-status-filter")
        )
    items = data_table(columns, label=t("transfers.items_heading"), empty=t("transfers.no_items"))
    items.mark("transfer-items")
    items.add_slot(
        "body-cell-who",
        '<q-td :props="props"><a v-if="props.row.customer_id" '
        ':href="\'/customers/\' + props.row.customer_id" class="text-primary">'
        "{{ props.value }}</a><span v-else>{{ props.value }}</span></q-td>",
    )
    more_button = ui.button(t("transfers.more")).props("outline no-caps")

    def render_summary(d: TransferDetail) -> None:
        summary.clear()
        with summary:
            ui.label(
                t(
                    "transfers.headline",
                    kind=t(f"transfers.kind.{d.kind.value}"),
                    handover=d.handover_userid,
                    receivers=", ".join(d.receivers),
                )
            ).classes("text-subtitle1 text-weight-medium")
            ui.label(
                t(
                    "transfers.meta",
                    state=t(f"transfers.state.{d.state.value}"),
                    by=text(d.created_by),
                    at=when(actor, d.created_at),
                )
            ).classes("text-body2 text-grey-8").mark("transfer-state")
            if d.transfer_success_msg:
                ui.label(t("transfers.message_sent", message=d.transfer_success_msg)).classes(
                    "text-body2"
                )
            with ui.row().classes("gap-2").props(f'aria-label="{t("transfers.counts")}"'):
                for s in ItemStatus:
                    n = getattr(d.counts, s.value)
                    color = CHIP_COLORS.get(s, "grey-8") if n else "grey-6"
                    chip = ui.chip(f"{status_label(s.value)} {n}").props(
                        f"outline dense square color={color}"
                    )
                    chip.mark(f"count-{s.value}")
            if d.group_counts.total:
                ui.label(t("transfers.group_counts", counts=counts_text(d.group_counts))).classes(
                    "text-body2"
                )
            if d.counts.waiting:
                ui.label(t("transfers.waiting_note")).classes("text-caption text-grey-7")
            failed = d.counts.refused + d.counts.limit_reached + d.counts.failed
            failed += d.group_counts.failed
            if failed:
                ui.label(t("transfers.failed_note", n=failed)).classes(
                    "text-body2 text-negative"
                ).props("role=status")

    async def show_items(reset: bool) -> None:
        cursor = None if reset else state["next"]
        status = state["status"] or None
        try:
            found = await in_tenant(
                actor, lambda db: load_detail(db, actor, batch_id, status, cursor)
            )
        except AppError as exc:
            show_error(exc)
            return
        state["next"] = found.next_cursor
        rows = [_item_row(actor, i) for i in found.items]
        items.rows = rows if reset else [*items.rows, *rows]
        items.update()
        more_button.set_visibility(found.next_cursor is not None)
        render_summary(found)

    async def change_filter() -> None:
        state["status"] = status_filter.value or None
        await show_items(reset=True)

    async def refresh() -> None:
        refresh_button.props("loading")
        try:
            await off_loop(lambda: flows.refresh(actor, batch_id))
        except AppError as exc:
            show_error(exc)
            return
        finally:
            refresh_button.props(remove="loading")
        await show_items(reset=True)
        ui.notify(t("transfers.refreshed"), type="positive")

    status_filter.on_value_change(change_filter)
    more_button.on_click(lambda: show_items(reset=False))
    refresh_button.on_click(refresh)
    render_summary(detail)
    state["next"] = detail.next_cursor
    items.rows = [_item_row(actor, i) for i in detail.items]
    items.update()
    more_button.set_visibility(detail.next_cursor is not None)
    if can_write:
        await _retry_card(actor, batch_id)


async def _retry_card(actor: Actor, batch_id: uuid.UUID) -> None:
    try:
        staff = await in_tenant(actor, lambda db: load_receivers(db, actor))
    except AppError as exc:
        show_error(exc)
        return
    with ui.card().classes("w-full").props(f'aria-label="{t("transfers.retry_heading")}"'):
        ui.label(t("transfers.retry_heading")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        ui.label(t("transfers.retry_intro")).classes("text-body2 text-grey-8")
        with ui.row().classes("w-full items-center gap-2"):
            receivers = (
                ui.select(staff, multiple=True, label=t("transfers.receivers"), with_input=True)
                .props("outlined dense use-chips")
                .classes("grow")
                .mark("retry-receivers")
            )

            async def submit() -> None:
                chosen = [str(r) for r in receivers.value or []]
                if not chosen:
                    ui.notify(t("transfers.receivers_required"), type="warning")
                    return
                try:
                    new_id = await off_loop(lambda: retry(actor, batch_id, chosen))
                except AppError as exc:
                    show_error(exc)
                    return
                ui.navigate.to(f"{PATH}/{new_id}")

            ui.button(t("transfers.retry"), icon="replay", on_click=submit).props(
                "outline no-caps"
            ).mark("retry-transfer")
