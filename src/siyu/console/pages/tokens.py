"""``/tokens``: the user's REST API tokens (admins: the tenant's); create one, whose secret is
shown once, or revoke one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import when
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.errors import AppError
from siyu.security import service as security
from siyu.security.rbac import Perm, has
from siyu.security.schemas import ApiTokenRead

EXPIRY_DAYS = (30, 90, 365)


def load_tokens(db: Session, actor: Actor) -> list[ApiTokenRead]:
    return [ApiTokenRead.model_validate(tok) for tok in security.list_api_tokens(db, actor)]


def create_token(
    db: Session, actor: Actor, name: str, days: int | None
) -> tuple[str, list[ApiTokenRead]]:
    issued = security.create_api_token(db, actor, name=name, expires_in_days=days)
    return issued.secret, load_tokens(db, actor)


def revoke_token(db: Session, actor: Actor, token_id: uuid.UUID) -> list[ApiTokenRead]:
    security.revoke_api_token(db, actor, token_id)
    return load_tokens(db, actor)


def status(token: ApiTokenRead, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def register() -> None:
    nav.add(NavItem("nav.tokens", "/tokens", "key", permission=Perm.TOKENS_MANAGE, order=80))

    @ui.page("/tokens", response_timeout=PAGE_TIMEOUT)
    async def tokens_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.tokens"), path="/tokens"):
            if not has(user.actor, Perm.TOKENS_MANAGE):
                no_permission()
            else:
                await build(user.actor)
        return None


def _columns() -> list[dict[str, Any]]:
    hidden = {"classes": "gt-xs", "headerClasses": "gt-xs"}
    return [
        {"name": "name", "label": t("tokens.col.name"), "field": "name", "align": "left"},
        {"name": "prefix", "label": t("tokens.col.prefix"), "field": "prefix", "align": "left"},
        {"name": "created", "label": t("tokens.col.created"), "field": "created", "align": "left"}
        | hidden,
        {"name": "expires", "label": t("tokens.col.expires"), "field": "expires", "align": "left"}
        | hidden,
        {
            "name": "last_used",
            "label": t("tokens.col.last_used"),
            "field": "last_used",
            "align": "left",
        }
        | hidden,
        {"name": "status", "label": t("tokens.col.status"), "field": "status", "align": "left"},
        {"name": "actions", "label": t("tokens.col.actions"), "field": "id", "align": "right"},
    ]


async def build(actor: Actor) -> None:
    def show(tokens: list[ApiTokenRead]) -> None:
        now = SYSTEM_CLOCK.now()
        table.rows = [
            {
                "id": str(tok.id),
                "name": tok.name,
                "prefix": f"{tok.prefix}…",
                "created": when(actor, tok.created_at),
                "expires": when(actor, tok.expires_at) if tok.expires_at else t("tokens.never"),
                "last_used": when(actor, tok.last_used_at),
                "status": t(f"tokens.status.{status(tok, now)}"),
                "revocable": status(tok, now) == "active",
            }
            for tok in tokens
        ]
        table.update()

    async def create() -> None:
        token_name = (name.value or "").strip()
        if not token_name:
            ui.notify(t("tokens.name_required"), type="warning")
            return
        days: int | None = int(expiry.value) if expiry.value else None
        try:
            secret, tokens = await in_tenant(
                actor, lambda db: create_token(db, actor, token_name, days)
            )
        except AppError as exc:
            show_error(exc)
            return
        name.set_value("")
        show(tokens)
        _secret_dialog(token_name, secret)

    async def ask_revoke(e: GenericEventArguments) -> None:
        row = e.args if isinstance(e.args, dict) else {}
        token_id = uuid.UUID(str(row.get("id")))
        with ui.dialog() as dialog, ui.card().props("role=alertdialog"):
            ui.label(t("tokens.revoke_confirm", name=row.get("name", ""))).classes("text-body1")
            with ui.row().classes("w-full justify-end"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(
                    t("tokens.revoke"), color="negative", on_click=lambda: dialog.submit(True)
                ).props("unelevated no-caps").mark("confirm-revoke")
        if not await dialog:
            return
        try:
            tokens = await in_tenant(actor, lambda db: revoke_token(db, actor, token_id))
        except AppError as exc:
            show_error(exc)
            return
        show(tokens)
        ui.notify(t("tokens.revoked"), type="positive")

    ui.label(t("tokens.intro")).classes("text-body2 text-grey-8")
    with ui.card().classes("w-full"):
        ui.label(t("tokens.create_heading")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        with ui.row().classes("w-full items-center gap-2"):
            name = ui.input(t("tokens.name"), placeholder=t("tokens.name_hint"))
            name.props("outlined dense").classes("grow").mark("token-name")
            name.on("keydown.enter", create)
            options: dict[str, str] = {"": t("tokens.never")} | {
                str(d): t("tokens.days", n=d) for d in EXPIRY_DAYS
            }
            expiry = ui.select(options, value="90", label=t("tokens.expires_in"))
            expiry.props("outlined dense").classes("min-w-36")
            ui.button(t("tokens.create"), icon="key", on_click=create).props(
                "unelevated no-caps"
            ).mark("create-token")

    table = data_table(_columns(), label=t("tokens.table"), empty=t("tokens.empty")).mark(
        "token-table"
    )
    revoke_label = t("tokens.revoke")
    table.add_slot(
        "body-cell-actions",
        '<q-td :props="props">'
        '<q-btn v-if="props.row.revocable" flat dense no-caps color="negative" '
        f'label="{revoke_label}" :aria-label="\'{revoke_label} \' + props.row.name" '
        "@click=\"() => $parent.$emit('revoke', props.row)\" />"
        "</q-td>",
    )
    table.on("revoke", ask_revoke)
    try:
        show(await in_tenant(actor, lambda db: load_tokens(db, actor)))
    except AppError as exc:
        show_error(exc)


def _secret_dialog(name: str, secret: str) -> None:
    """Show a new token's secret once, with a copy button."""

    def copy() -> None:
        ui.clipboard.write(secret)
        ui.notify(t("tokens.copied"), type="positive")

    with (
        ui.dialog().props("persistent") as dialog,
        ui.card()
        .classes("w-full max-w-lg")
        .props(f'role=dialog aria-label="{t("tokens.created_heading")}"'),
    ):
        ui.label(t("tokens.created_heading")).classes("text-h6").props("role=heading aria-level=2")
        ui.label(t("tokens.created_once", name=name)).classes("text-body2 text-warning")
        ui.input(t("tokens.secret"), value=secret).props("outlined readonly dense").classes(
            "w-full font-mono"
        ).mark("token-secret")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(t("tokens.copy"), icon="content_copy", on_click=copy).props(
                "outline no-caps"
            ).mark("copy-secret")
            ui.button(t("common.done"), on_click=dialog.close).props("unelevated no-caps")
    dialog.open()
