"""``/transfers``: hand a member's customers to others (离职继承 / 在职继承); ``/transfers/{id}``.

The list page starts a transfer — the member handing over (for a resigned transfer: members
WeCom lists with unassigned customers, and staff marked inactive), all their customers or a
chosen subset, one receiver or several in turn, optionally their groups — and lists transfers
with their counts. The batch page shows counts per status and every item with its errcode and
detail, refreshes the outcome from WeCom and retries refused, limited or failed items to other
receivers. WeCom calls run off the event loop (``run.io_bound``), outside any transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from nicegui import run, ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.channels import service as channels
from siyu.channels.models import ChannelKind
from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import DASH, when
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.errors import AppError
from siyu.security.rbac import Perm, has
from siyu.tenancy import service as tenancy
from siyu.transfers import flows, jobs, service
from siyu.transfers.models import ItemStatus, TransferKind
from siyu.transfers.schemas import (
    SUCCESS_MSG_MAX,
    HandoverCustomerRead,
    TransferBatchRead,
    TransferCounts,
    TransferCreate,
    UnassignedMember,
)

PATH = "/transfers"
LIST_SIZE = 30
T = TypeVar("T")


async def off_loop(fn: Callable[[], T]) -> T:
    """Run a blocking flow (it opens its own units of work and calls WeCom) in a worker thread."""
    box: list[T] = []
    await run.io_bound(lambda: box.append(fn()))
    if not box:  # NiceGUI returns without running when the app stops
        raise asyncio.CancelledError("the console is shutting down")
    return box[0]


def status_label(value: str) -> str:
    return t(f"transfers.status.{value}")


def counts_text(counts: TransferCounts) -> str:
    shown = [
        f"{status_label(s.value)} {getattr(counts, s.value)}"
        for s in ItemStatus
        if getattr(counts, s.value)
    ]
    return " · ".join(shown) or DASH


# --- loading (inside a unit of work) ---------------------------------------------------


def load_batches(
    db: Session, actor: Actor, cursor: str | None
) -> tuple[list[TransferBatchRead], str | None]:
    page = service.list_batches(db, actor, limit=LIST_SIZE, cursor=cursor)
    return service.present(db, actor, page.items), page.next_cursor


def load_form(db: Session, actor: Actor) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Return WeCom accounts (id → name), active staff and inactive staff (userid → label)."""
    accounts = {
        str(a.id): a.name
        for a in channels.list_accounts(db, actor)
        if a.kind == ChannelKind.WECOM and a.is_active
    }
    active: dict[str, str] = {}
    inactive: dict[str, str] = {}
    for s in tenancy.list_staff(db, actor, include_inactive=True):
        if s.wecom_userid:
            (active if s.is_active else inactive)[s.wecom_userid] = f"{s.name} ({s.wecom_userid})"
    return accounts, active, inactive


def load_customers(
    db: Session, actor: Actor, account: str, userid: str
) -> list[HandoverCustomerRead]:
    return service.handover_customers(db, actor, account=account, handover_userid=userid)


# --- actions (blocking; run off the loop) -----------------------------------------------


def start(actor: Actor, data: TransferCreate) -> uuid.UUID:
    batch_id = flows.start_transfer(actor, data=data)
    jobs.send_transfer(str(actor.tenant_id), str(batch_id))
    return batch_id


def register() -> None:
    from siyu.console.pages import transfer_batch

    nav.add(NavItem("nav.transfers", PATH, "swap_horiz", permission=Perm.CUSTOMERS_READ, order=36))

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def transfers_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.transfers"), path=PATH):
            if not has(user.actor, Perm.CUSTOMERS_READ):
                no_permission()
            else:
                await build_list(user.actor)
        return None

    @ui.page(PATH + "/{transfer_id}", response_timeout=PAGE_TIMEOUT)
    async def transfer_page(request: Request, transfer_id: str) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("transfers.batch_title"), path=PATH + "/_"):
            if not has(user.actor, Perm.CUSTOMERS_READ):
                no_permission()
            else:
                await transfer_batch.build(user.actor, transfer_id)
        return None


# --- the list page ----------------------------------------------------------------------


def _batch_row(actor: Actor, b: TransferBatchRead) -> dict[str, Any]:
    return {
        "id": str(b.id),
        "kind": t(f"transfers.kind.{b.kind.value}"),
        "handover": b.handover_userid,
        "receivers": ", ".join(b.receivers),
        "state": t(f"transfers.state.{b.state.value}"),
        "counts": counts_text(b.counts),
        "created": when(actor, b.created_at),
    }


async def build_list(actor: Actor) -> None:
    ui.label(t("transfers.intro")).classes("text-body2 text-grey-8")
    if has(actor, Perm.TRANSFERS_WRITE):
        await _start_form(actor)
    names = ("kind", "handover", "receivers", "state", "counts", "created")
    columns = [
        {"name": n, "label": t(f"transfers.col.{n}"), "field": n, "align": "left"} for n in names
    ]
    ui.label(t("transfers.list_heading")).classes("text-h6 q-mt-sm").props(
        "role=heading aria-level=2"
    )
    table = data_table(columns, label=t("transfers.list_heading"), empty=t("transfers.empty"))
    table.mark("transfer-table")
    table.add_slot(
        "body-cell-kind",
        '<q-td :props="props"><a :href="\'/transfers/\' + props.row.id" '
        'class="text-primary text-weight-medium">{{ props.value }}</a></q-td>',
    )
    state: dict[str, str | None] = {"next": None}

    async def more(reset: bool = False) -> None:
        cursor = None if reset else state["next"]
        try:
            found, state["next"] = await in_tenant(
                actor, lambda db: load_batches(db, actor, cursor)
            )
        except AppError as exc:
            show_error(exc)
            return
        rows = [_batch_row(actor, b) for b in found]
        table.rows = rows if reset else [*table.rows, *rows]
        table.update()
        more_button.set_visibility(state["next"] is not None)

    more_button = ui.button(t("transfers.more"), on_click=lambda: more()).props("outline no-caps")
    await more(reset=True)


async def _start_form(actor: Actor) -> None:
    try:
        accounts, active, inactive = await in_tenant(actor, lambda db: load_form(db, actor))
    except AppError as exc:
        show_error(exc)
        return
    card = ui.card().classes("w-full").props(f'aria-label="{t("transfers.start_heading")}"')
    with card:
        ui.label(t("transfers.start_heading")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        if not accounts:
            ui.label(t("transfers.no_account")).classes("text-body2 text-warning")
            return
        with ui.row().classes("w-full items-center gap-4"):
            account = ui.select(accounts, value=next(iter(accounts)), label=t("transfers.account"))
            account.props("outlined dense").classes("min-w-48").mark("transfer-account")
            kind = (
                ui.toggle(
                    {
                        TransferKind.RESIGNED.value: t("transfers.kind.resigned"),
                        TransferKind.IN_SERVICE.value: t("transfers.kind.in_service"),
                    },
                    value=TransferKind.RESIGNED.value,
                )
                .props(f'no-caps aria-label="{t("transfers.kind")}"')
                .mark("transfer-kind")
            )
        handover = ui.select({}, label=t("transfers.handover"), with_input=True)
        handover.props("outlined dense").classes("w-full").mark("transfer-handover")
        scope = (
            ui.radio(
                {"all": t("transfers.scope.all"), "chosen": t("transfers.scope.chosen")},
                value="all",
            )
            .props("inline")
            .mark("transfer-scope")
        )
        count_label = ui.label().classes("text-caption text-grey-7")
        names = ("name", "external_userid", "added", "busy")
        customers = (
            ui.table(
                columns=[
                    {"name": n, "label": t(f"transfers.ccol.{n}"), "field": n, "align": "left"}
                    for n in names
                ],
                rows=[],
                row_key="id",
                selection="multiple",
                pagination=20,
            )
            .props(
                f'flat bordered dense no-data-label="{t("transfers.no_customers")}" role=region '
                f'aria-label="{t("transfers.customers_table")}"'
            )
            .classes("w-full")
        )
        customers.mark("handover-customers")
        receivers = ui.select(
            active, multiple=True, label=t("transfers.receivers"), with_input=True
        ).props(f'outlined dense use-chips hint="{t("transfers.receivers_hint")}"')
        receivers.classes("w-full").mark("transfer-receivers")
        include_groups = ui.checkbox(t("transfers.include_groups")).mark("transfer-groups")
        message = ui.textarea(t("transfers.message"), placeholder=t("transfers.message_hint"))
        message.props(f"outlined dense counter maxlength={SUCCESS_MSG_MAX} autogrow")
        message.classes("w-full").mark("transfer-message")
        submit = ui.button(t("transfers.start"), icon="send").props("unelevated no-caps")
        submit.mark("start-transfer")

    def render_scope() -> None:
        customers.set_visibility(scope.value == "chosen")
        message.set_visibility(kind.value == TransferKind.IN_SERVICE.value)

    async def load_handovers() -> None:
        handover.set_value(None)
        customers.rows = []
        customers.update()
        count_label.set_text("")
        if kind.value == TransferKind.IN_SERVICE.value:
            handover.set_options(active)
            render_scope()
            return
        chosen_account = str(account.value)
        try:
            members: list[UnassignedMember] = await off_loop(
                lambda: flows.unassigned_members(actor, account=chosen_account)
            )
        except AppError as exc:
            show_error(exc)
            members = []
        options = {
            m.userid: t(
                "transfers.left_member",
                name=m.staff_name or m.userid,
                userid=m.userid,
                n=m.customer_count,
            )
            for m in members
        }
        options.update({u: label for u, label in inactive.items() if u not in options})
        handover.set_options(options)
        render_scope()

    async def load_handover_customers() -> None:
        userid = handover.value
        receivers.set_options({u: label for u, label in active.items() if u != userid})
        if not userid:
            return
        chosen_account = str(account.value)
        try:
            found = await in_tenant(
                actor, lambda db: load_customers(db, actor, chosen_account, str(userid))
            )
        except AppError as exc:
            show_error(exc)
            return
        customers.rows = [
            {
                "id": str(c.customer_id),
                "name": c.customer_name or t("transfers.unnamed"),
                "external_userid": c.external_userid,
                "added": when(actor, c.added_at),
                "busy": t("transfers.in_transfer") if c.in_transfer else "",
            }
            for c in found
        ]
        customers.selected = []
        customers.update()
        free = sum(not c.in_transfer for c in found)
        count_label.set_text(t("transfers.customer_count", n=len(found), free=free))

    async def submit_transfer() -> None:
        if not handover.value:
            ui.notify(t("transfers.handover_required"), type="warning")
            return
        chosen = None
        if scope.value == "chosen":
            chosen = [uuid.UUID(str(r["id"])) for r in customers.selected]
            if not chosen:
                ui.notify(t("transfers.choose_customers"), type="warning")
                return
        try:
            data = TransferCreate(
                kind=TransferKind(kind.value),
                account=str(account.value),
                handover_userid=str(handover.value),
                receivers=[str(r) for r in receivers.value or []],
                customer_ids=chosen,
                include_groups=bool(include_groups.value),
                transfer_success_msg=(message.value or None)
                if kind.value == TransferKind.IN_SERVICE.value
                else None,
            )
        except ValueError as exc:
            ui.notify(str(exc), type="warning", multi_line=True)
            return
        submit.props("loading")
        try:
            batch_id = await off_loop(lambda: start(actor, data))
        except AppError as exc:
            show_error(exc)
            return
        finally:
            submit.props(remove="loading")
        ui.navigate.to(f"{PATH}/{batch_id}")

    account.on_value_change(load_handovers)
    kind.on_value_change(load_handovers)
    handover.on_value_change(load_handover_customers)
    scope.on_value_change(render_scope)
    submit.on_click(submit_transfer)
    await load_handovers()
