"""``/order-webhooks``: endpoints that order systems (POS, mall, ERP) push signed orders to.

Admins add an endpoint per order system (its secret is shown once, with the URL to configure),
rotate a secret (optionally keeping the old one valid while the sender switches), disable or
re-enable an endpoint, and look at its latest deliveries.
"""

from __future__ import annotations

import uuid
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.config import get_settings
from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import enum_label, text, when
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.errors import AppError
from siyu.orders.models import OrderSource
from siyu.security.rbac import Perm, has
from siyu.webhooks import service as webhooks
from siyu.webhooks.schemas import DeliveryRead, OrderWebhookRead

PATH = "/order-webhooks"
KEEP_HOURS = (0, 1, 24, 168)
SOURCES = (
    OrderSource.POS,
    OrderSource.MINIPROGRAM,
    OrderSource.TMALL,
    OrderSource.JD,
    OrderSource.PDD,
    OrderSource.DOUYIN,
    OrderSource.OTHER,
)


def load(db: Session, actor: Actor) -> list[OrderWebhookRead]:
    return [OrderWebhookRead.model_validate(w) for w in webhooks.list_webhooks(db, actor)]


def create(
    db: Session, actor: Actor, name: str, source: OrderSource
) -> tuple[OrderWebhookRead, str, list[OrderWebhookRead]]:
    issued = webhooks.create_webhook(db, actor, name=name, source=source)
    return OrderWebhookRead.model_validate(issued.webhook), issued.secret, load(db, actor)


def rotate(
    db: Session, actor: Actor, endpoint_id: uuid.UUID, keep_hours: int
) -> tuple[OrderWebhookRead, str, list[OrderWebhookRead]]:
    issued = webhooks.rotate_secret(db, actor, endpoint_id, keep_previous_hours=keep_hours)
    return OrderWebhookRead.model_validate(issued.webhook), issued.secret, load(db, actor)


def set_active(
    db: Session, actor: Actor, endpoint_id: uuid.UUID, active: bool
) -> list[OrderWebhookRead]:
    webhooks.update_webhook(db, actor, endpoint_id, is_active=active)
    return load(db, actor)


def deliveries(db: Session, actor: Actor, endpoint_id: uuid.UUID) -> list[DeliveryRead]:
    return [DeliveryRead.of(d) for d in webhooks.list_deliveries(db, actor, endpoint_id, limit=20)]


def register() -> None:
    nav.add(NavItem("nav.webhooks", PATH, "webhook", permission=Perm.TENANT_ADMIN, order=85))

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def webhooks_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        base = get_settings().server.public_url or str(request.base_url)
        with shell(user, title=t("nav.webhooks"), path=PATH):
            if not has(user.actor, Perm.TENANT_ADMIN):
                no_permission()
            else:
                await build(user.actor, base.rstrip("/"))
        return None


def _columns() -> list[dict[str, Any]]:
    hidden = {"classes": "gt-xs", "headerClasses": "gt-xs"}
    names = ("name", "source", "status", "secret", "last_received")
    columns = [
        {"name": n, "label": t(f"webhooks.col.{n}"), "field": n, "align": "left"}
        | (hidden if n in ("secret", "last_received") else {})
        for n in names
    ]
    columns.append(
        {"name": "actions", "label": t("webhooks.col.actions"), "field": "id", "align": "right"}
    )
    return columns


def _action(event: str, label: str, *, show_if: str = "true", color: str = "primary") -> str:
    return (
        f'<q-btn v-if="{show_if}" flat dense no-caps color="{color}" label="{label}" '
        f":aria-label=\"'{label} ' + props.row.name\" "
        f"@click=\"() => $parent.$emit('{event}', props.row)\" />"
    )


async def build(actor: Actor, base_url: str) -> None:
    def show(found: list[OrderWebhookRead]) -> None:
        table.rows = [
            {
                "id": str(w.id),
                "name": w.name,
                "source": enum_label("source", w.source),
                "status": t(
                    "webhooks.status.active" if w.is_active else "webhooks.status.disabled"
                ),
                "active": w.is_active,
                "secret": f"{w.secret_prefix}…",
                "last_received": when(actor, w.last_received_at)
                if w.last_received_at
                else t("webhooks.never"),
            }
            for w in found
        ]
        table.update()

    async def add() -> None:
        endpoint_name = (name.value or "").strip()
        if not endpoint_name:
            ui.notify(t("webhooks.name_required"), type="warning")
            return
        chosen = OrderSource(source.value)
        try:
            made, secret, found = await in_tenant(
                actor, lambda db: create(db, actor, endpoint_name, chosen)
            )
        except AppError as exc:
            show_error(exc)
            return
        name.set_value("")
        show(found)
        _secret_dialog(made, secret, base_url)

    async def ask_rotate(e: GenericEventArguments) -> None:
        row = e.args if isinstance(e.args, dict) else {}
        endpoint_id = uuid.UUID(str(row.get("id")))
        with ui.dialog() as dialog, ui.card().props("role=alertdialog"):
            ui.label(t("webhooks.rotate_confirm", name=row.get("name", ""))).classes("text-body1")
            keep = (
                ui.select(
                    {
                        str(h): t("webhooks.keep_hours", n=h) if h else t("webhooks.keep_none")
                        for h in KEEP_HOURS
                    },
                    value="0",
                    label=t("webhooks.keep_previous"),
                )
                .props("outlined dense")
                .classes("w-full")
            )
            with ui.row().classes("w-full justify-end"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(t("webhooks.rotate"), on_click=lambda: dialog.submit(True)).props(
                    "unelevated no-caps"
                ).mark("confirm-rotate")
        if not await dialog:
            return
        hours = int(keep.value or 0)
        try:
            done, secret, found = await in_tenant(
                actor, lambda db: rotate(db, actor, endpoint_id, hours)
            )
        except AppError as exc:
            show_error(exc)
            return
        show(found)
        _secret_dialog(done, secret, base_url)

    async def toggle(e: GenericEventArguments) -> None:
        row = e.args if isinstance(e.args, dict) else {}
        endpoint_id = uuid.UUID(str(row.get("id")))
        active = not row.get("active")
        if not active:
            with ui.dialog() as dialog, ui.card().props("role=alertdialog"):
                ui.label(t("webhooks.disable_confirm", name=row.get("name", ""))).classes(
                    "text-body1"
                )
                with ui.row().classes("w-full justify-end"):
                    ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                    ui.button(
                        t("webhooks.disable"),
                        color="negative",
                        on_click=lambda: dialog.submit(True),
                    ).props("unelevated no-caps").mark("confirm-disable")
            if not await dialog:
                return
        try:
            found = await in_tenant(actor, lambda db: set_active(db, actor, endpoint_id, active))
        except AppError as exc:
            show_error(exc)
            return
        show(found)
        notice = "webhooks.enabled_notice" if active else "webhooks.disabled_notice"
        ui.notify(t(notice), type="positive")

    async def open_deliveries(e: GenericEventArguments) -> None:
        row = e.args if isinstance(e.args, dict) else {}
        endpoint_id = uuid.UUID(str(row.get("id")))
        try:
            found = await in_tenant(actor, lambda db: deliveries(db, actor, endpoint_id))
        except AppError as exc:
            show_error(exc)
            return
        _deliveries_dialog(actor, str(row.get("name", "")), found)

    ui.label(t("webhooks.intro")).classes("text-body2 text-grey-8")
    with ui.card().classes("w-full"):
        ui.label(t("webhooks.create_heading")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        with ui.row().classes("w-full items-center gap-2"):
            name = ui.input(t("webhooks.name"), placeholder=t("webhooks.name_hint"))
            name.props("outlined dense").classes("grow").mark("webhook-name")
            name.on("keydown.enter", add)
            source = ui.select(
                {s.value: enum_label("source", s.value) for s in SOURCES},
                value=OrderSource.POS.value,
                label=t("webhooks.source"),
            )
            source.props("outlined dense").classes("min-w-36").mark("webhook-source")
            ui.button(t("webhooks.create"), icon="add_link", on_click=add).props(
                "unelevated no-caps"
            ).mark("create-webhook")

    table = data_table(_columns(), label=t("webhooks.table"), empty=t("webhooks.empty")).mark(
        "webhook-table"
    )
    table.add_slot(
        "body-cell-actions",
        '<q-td :props="props">'
        + _action("deliveries", t("webhooks.deliveries"))
        + _action("rotate", t("webhooks.rotate"))
        + _action("toggle", t("webhooks.disable"), show_if="props.row.active", color="negative")
        + _action("toggle", t("webhooks.enable"), show_if="!props.row.active")
        + "</q-td>",
    )
    table.on("rotate", ask_rotate)
    table.on("toggle", toggle)
    table.on("deliveries", open_deliveries)
    try:
        show(await in_tenant(actor, lambda db: load(db, actor)))
    except AppError as exc:
        show_error(exc)


def _copy(value: str) -> None:
    ui.clipboard.write(value)
    ui.notify(t("webhooks.copied"), type="positive")


def _secret_dialog(endpoint: OrderWebhookRead, secret: str, base_url: str) -> None:
    """Show an endpoint's URL and new secret; the secret is never shown again."""
    url = base_url + endpoint.path
    with (
        ui.dialog().props("persistent") as dialog,
        ui.card()
        .classes("w-full max-w-xl")
        .props(f'role=dialog aria-label="{t("webhooks.secret_heading")}"'),
    ):
        ui.label(t("webhooks.secret_heading")).classes("text-h6").props("role=heading aria-level=2")
        ui.label(t("webhooks.secret_once", name=endpoint.name)).classes("text-body2 text-warning")
        ui.input(t("webhooks.url"), value=url).props("outlined readonly dense").classes(
            "w-full font-mono"
        ).mark("webhook-url")
        ui.input(t("webhooks.secret"), value=secret).props("outlined readonly dense").classes(
            "w-full font-mono"
        ).mark("webhook-secret")
        ui.label(t("webhooks.signing_hint")).classes("text-caption text-grey-7")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(t("webhooks.copy_url"), icon="link", on_click=lambda: _copy(url)).props(
                "outline no-caps"
            )
            ui.button(
                t("webhooks.copy_secret"), icon="content_copy", on_click=lambda: _copy(secret)
            ).props("outline no-caps").mark("copy-webhook-secret")
            ui.button(t("common.done"), on_click=dialog.close).props("unelevated no-caps")
    dialog.open()


def _deliveries_dialog(actor: Actor, name: str, found: list[DeliveryRead]) -> None:
    names = ("received", "delivery_id", "orders", "inserted", "updated", "unchanged", "rejected")
    columns = [
        {"name": n, "label": t(f"webhooks.dcol.{n}"), "field": n, "align": "left"} for n in names
    ]
    rows = [
        {
            "id": str(d.id),
            "received": when(actor, d.received_at),
            "delivery_id": text(d.delivery_id),
            "orders": d.order_count,
            "inserted": d.inserted,
            "updated": d.updated,
            "unchanged": d.unchanged,
            "rejected": d.rejected,
        }
        for d in found
    ]
    heading = t("webhooks.deliveries_heading", name=name)
    with (
        ui.dialog() as dialog,
        ui.card().classes("w-full max-w-3xl").props(f'role=dialog aria-label="{heading}"'),
    ):
        ui.label(heading).classes("text-h6").props("role=heading aria-level=2")
        data_table(columns, label=heading, empty=t("webhooks.deliveries_empty"), rows=rows).mark(
            "delivery-table"
        )
        with ui.row().classes("w-full justify-end"):
            ui.button(t("common.close"), on_click=dialog.close).props("unelevated no-caps")
    dialog.open()
