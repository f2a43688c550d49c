"""``/channels``: WeCom accounts (企业微信应用) and the callbacks they receive.

Admins add an account with its corp id, app secret and callback keys (secrets are only ever
shown masked), copy the callback URL to paste into WeCom's 接收事件服务器 settings, edit or
disable an account, and look at its latest callbacks with their status and error; a failed or
ignored callback can be processed again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from nicegui import run, ui
from nicegui.events import GenericEventArguments
from pydantic import SecretStr, ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.channels import service as channels
from siyu.channels.api import account_read
from siyu.channels.schemas import (
    ChannelAccountRead,
    WeComCallbackRead,
    WeComConfig,
    WeComConfigUpdate,
)
from siyu.channels.wecom import inbox, jobs
from siyu.channels.wecom.models import CallbackStatus
from siyu.channels.wecom.transport import WECOM_BASE_URL
from siyu.config import get_settings
from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import DASH, text, when
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.db import unit_of_work
from siyu.core.errors import AppError, FieldError, InvalidInput
from siyu.security.rbac import Perm, has

PATH = "/channels"
RECENT_CALLBACKS = 50
_RETRYABLE = (CallbackStatus.FAILED.value, CallbackStatus.IGNORED.value)


def load(db: Session, actor: Actor) -> list[ChannelAccountRead]:
    return [account_read(a) for a in channels.list_accounts(db, actor)]


def create(
    db: Session, actor: Actor, name: str, config: WeComConfig
) -> tuple[ChannelAccountRead, list[ChannelAccountRead]]:
    made = account_read(channels.create_wecom_account(db, actor, name=name, config=config))
    return made, load(db, actor)


def update(
    db: Session,
    actor: Actor,
    account_id: uuid.UUID,
    *,
    name: str | None = None,
    is_active: bool | None = None,
    config: WeComConfigUpdate | None = None,
) -> list[ChannelAccountRead]:
    channels.update_wecom_account(
        db, actor, account_id, name=name, is_active=is_active, config=config
    )
    return load(db, actor)


def delete(db: Session, actor: Actor, account_id: uuid.UUID) -> list[ChannelAccountRead]:
    channels.delete_account(db, actor, account_id)
    return load(db, actor)


def recent_callbacks(db: Session, actor: Actor, account_id: uuid.UUID) -> list[WeComCallbackRead]:
    found = inbox.list_callbacks(db, actor, account_id=account_id, limit=RECENT_CALLBACKS)
    return [WeComCallbackRead.model_validate(c) for c in found]


def retry(actor: Actor, account_id: uuid.UUID, callback_id: uuid.UUID) -> list[WeComCallbackRead]:
    """Reopen a callback, process it (queued, or at once without workers), list again."""
    with unit_of_work(actor) as db:
        inbox.reopen_callback(db, actor, account_id=account_id, callback_id=callback_id)
    jobs.queue_processing(actor.tenant_id, callback_id)
    with unit_of_work(actor) as db:
        return recent_callbacks(db, actor, account_id)


def _invalid(exc: ValidationError) -> InvalidInput:
    errors = [
        FieldError(field=".".join(str(p) for p in e["loc"]), reason=e["msg"]) for e in exc.errors()
    ]
    return InvalidInput(
        "; ".join(f"{e.field}: {e.reason}" for e in errors), hint=t("channels.config_hint")
    )


def register() -> None:
    nav.add(NavItem("nav.channels", PATH, "hub", permission=Perm.CHANNELS_MANAGE, order=78))

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def channels_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        base = get_settings().server.public_url or str(request.base_url)
        with shell(user, title=t("nav.channels"), path=PATH):
            if not has(user.actor, Perm.CHANNELS_MANAGE):
                no_permission()
            else:
                await build(user.actor, base.rstrip("/"))
        return None


def _columns() -> list[dict[str, Any]]:
    hidden = {"classes": "gt-xs", "headerClasses": "gt-xs"}
    names = ("name", "corp_id", "status", "last_callback")
    columns = [
        {"name": n, "label": t(f"channels.col.{n}"), "field": n, "align": "left"}
        | (hidden if n == "corp_id" else {})
        for n in names
    ]
    columns.append(
        {"name": "actions", "label": t("channels.col.actions"), "field": "id", "align": "right"}
    )
    return columns


def _action(
    event: str, label: str, *, show_if: str = "true", color: str = "primary", named: str = "name"
) -> str:
    return (
        f'<q-btn v-if="{show_if}" flat dense no-caps color="{color}" label="{label}" '
        f":aria-label=\"'{label} ' + props.row.{named}\" "
        f"@click=\"() => $parent.$emit('{event}', props.row)\" />"
    )


@dataclass
class _Form:
    """The inputs of the add/edit form."""

    name: ui.input
    corp_id: ui.input
    secret: ui.input
    callback_token: ui.input
    callback_aes_key: ui.input
    base_url: ui.input
    agent_id: ui.input

    def agent(self) -> int | None:
        raw = (self.agent_id.value or "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise InvalidInput(f"AgentId {raw!r} is not a number", hint=t("channels.agent_id_hint"))
        return int(raw)


def _form(current: ChannelAccountRead | None = None) -> _Form:
    keep = t("channels.keep_secret") if current else ""

    def secret(label: str, mark: str, masked: str | None) -> ui.input:
        field = ui.input(label, password=True, password_toggle_button=True)
        hint = f"{keep} ({masked})" if masked else ""
        return field.props(f'outlined dense hint="{hint}"').classes("w-full").mark(mark)

    cfg = current.config if current else None
    return _Form(
        name=ui.input(t("channels.name"), value=current.name if current else "")
        .props("outlined dense")
        .classes("w-full")
        .mark("account-name"),
        corp_id=ui.input(t("channels.corp_id"), value=cfg.corp_id if cfg else "")
        .props("outlined dense")
        .classes("w-full")
        .mark("account-corp-id"),
        secret=secret(t("channels.secret"), "account-secret", cfg.secret if cfg else None),
        callback_token=secret(
            t("channels.callback_token"), "account-token", cfg.callback_token if cfg else None
        ),
        callback_aes_key=secret(
            t("channels.callback_aes_key"), "account-aes-key", cfg.callback_aes_key if cfg else None
        ),
        base_url=ui.input(t("channels.base_url"), value=cfg.base_url if cfg else WECOM_BASE_URL)
        .props("outlined dense")
        .classes("w-full")
        .mark("account-base-url"),
        agent_id=ui.input(
            t("channels.agent_id"), value=str(cfg.agent_id) if cfg and cfg.agent_id else ""
        )
        .props("outlined dense")
        .classes("w-full")
        .mark("account-agent-id"),
    )


def _new_config(form: _Form) -> WeComConfig:
    try:
        return WeComConfig(
            corp_id=(form.corp_id.value or "").strip(),
            secret=SecretStr(form.secret.value or ""),
            callback_token=SecretStr(form.callback_token.value or ""),
            callback_aes_key=SecretStr((form.callback_aes_key.value or "").strip()),
            base_url=(form.base_url.value or "").strip() or WECOM_BASE_URL,
            agent_id=form.agent(),
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _changed_config(form: _Form, current: ChannelAccountRead) -> WeComConfigUpdate | None:
    values: dict[str, Any] = {}
    corp_id = (form.corp_id.value or "").strip()
    if corp_id and corp_id != current.config.corp_id:
        values["corp_id"] = corp_id
    base_url = (form.base_url.value or "").strip()
    if base_url and base_url != current.config.base_url:
        values["base_url"] = base_url
    agent_id = form.agent()
    if agent_id != current.config.agent_id:
        values["agent_id"] = agent_id
    for name in ("secret", "callback_token", "callback_aes_key"):
        value = (getattr(form, name).value or "").strip()
        if value:  # left empty: keep the stored secret
            values[name] = value
    if not values:
        return None
    try:
        return WeComConfigUpdate.model_validate(values)
    except ValidationError as exc:
        raise _invalid(exc) from exc


async def build(actor: Actor, base_url: str) -> None:
    accounts: dict[str, ChannelAccountRead] = {}

    def show(found: list[ChannelAccountRead]) -> None:
        accounts.clear()
        accounts.update({str(a.id): a for a in found})
        table.rows = [
            {
                "id": str(a.id),
                "name": a.name,
                "corp_id": a.config.corp_id,
                "status": t(
                    "channels.status.active" if a.is_active else "channels.status.disabled"
                ),
                "active": a.is_active,
                "last_callback": when(actor, a.last_callback_at)
                if a.last_callback_at
                else t("channels.never"),
            }
            for a in found
        ]
        table.update()

    def chosen(e: GenericEventArguments) -> ChannelAccountRead | None:
        row = e.args if isinstance(e.args, dict) else {}
        return accounts.get(str(row.get("id")))

    async def add() -> None:
        with (
            ui.dialog() as dialog,
            ui.card()
            .classes("w-full max-w-xl")
            .props(f'role=dialog aria-label="{t("channels.add_heading")}"'),
        ):
            ui.label(t("channels.add_heading")).classes("text-h6").props(
                "role=heading aria-level=2"
            )
            ui.label(t("channels.add_intro")).classes("text-body2 text-grey-8")
            form = _form()
            with ui.row().classes("w-full justify-end"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(t("channels.add"), on_click=lambda: dialog.submit(True)).props(
                    "unelevated no-caps"
                ).mark("confirm-add-account")
        if not await dialog:
            return
        name = (form.name.value or "").strip()
        try:
            if not name:
                raise InvalidInput(t("channels.name_required"), hint=t("channels.name_hint"))
            config = _new_config(form)
            made, found = await in_tenant(actor, lambda db: create(db, actor, name, config))
        except AppError as exc:
            show_error(exc)
            return
        show(found)
        _callback_dialog(made, base_url)

    async def edit(e: GenericEventArguments) -> None:
        current = chosen(e)
        if current is None:
            return
        heading = t("channels.edit_heading", name=current.name)
        with (
            ui.dialog() as dialog,
            ui.card().classes("w-full max-w-xl").props(f'role=dialog aria-label="{heading}"'),
        ):
            ui.label(heading).classes("text-h6").props("role=heading aria-level=2")
            form = _form(current)
            with ui.row().classes("w-full justify-end"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(t("channels.save"), on_click=lambda: dialog.submit(True)).props(
                    "unelevated no-caps"
                ).mark("confirm-edit-account")
        if not await dialog:
            return
        name = (form.name.value or "").strip()
        try:
            config = _changed_config(form, current)
            found = await in_tenant(
                actor,
                lambda db: update(
                    db,
                    actor,
                    current.id,
                    name=name if name and name != current.name else None,
                    config=config,
                ),
            )
        except AppError as exc:
            show_error(exc)
            return
        show(found)
        ui.notify(t("channels.saved"), type="positive")

    async def toggle(e: GenericEventArguments) -> None:
        current = chosen(e)
        if current is None:
            return
        active = not current.is_active
        if not active and not await _confirm(
            t("channels.disable_confirm", name=current.name), t("channels.disable")
        ):
            return
        try:
            found = await in_tenant(
                actor, lambda db: update(db, actor, current.id, is_active=active)
            )
        except AppError as exc:
            show_error(exc)
            return
        show(found)
        notice = "channels.enabled_notice" if active else "channels.disabled_notice"
        ui.notify(t(notice), type="positive")

    async def remove(e: GenericEventArguments) -> None:
        current = chosen(e)
        if current is None:
            return
        if not await _confirm(
            t("channels.delete_confirm", name=current.name), t("channels.delete")
        ):
            return
        try:
            found = await in_tenant(actor, lambda db: delete(db, actor, current.id))
        except AppError as exc:
            show_error(exc)
            return
        show(found)
        ui.notify(t("channels.deleted_notice", name=current.name), type="positive")

    async def open_callbacks(e: GenericEventArguments) -> None:
        current = chosen(e)
        if current is None:
            return
        try:
            found = await in_tenant(actor, lambda db: recent_callbacks(db, actor, current.id))
        except AppError as exc:
            show_error(exc)
            return
        _callbacks_dialog(actor, current, found)

    async def open_url(e: GenericEventArguments) -> None:
        current = chosen(e)
        if current is not None:
            _callback_dialog(current, base_url)

    ui.label(t("channels.intro")).classes("text-body2 text-grey-8")
    with ui.row().classes("w-full justify-end"):
        ui.button(t("channels.add"), icon="add", on_click=add).props("unelevated no-caps").mark(
            "add-account"
        )
    table = data_table(_columns(), label=t("channels.table"), empty=t("channels.empty")).mark(
        "account-table"
    )
    table.add_slot(
        "body-cell-actions",
        '<q-td :props="props">'
        + _action("url", t("channels.show_url"))
        + _action("callbacks", t("channels.callbacks"))
        + _action("edit", t("channels.edit"))
        + _action("toggle", t("channels.disable"), show_if="props.row.active", color="negative")
        + _action("toggle", t("channels.enable"), show_if="!props.row.active")
        + _action("remove", t("channels.delete"), color="negative")
        + "</q-td>",
    )
    table.on("url", open_url)
    table.on("callbacks", open_callbacks)
    table.on("edit", edit)
    table.on("toggle", toggle)
    table.on("remove", remove)
    try:
        show(await in_tenant(actor, lambda db: load(db, actor)))
    except AppError as exc:
        show_error(exc)


async def _confirm(message: str, action: str) -> bool:
    with ui.dialog() as dialog, ui.card().props("role=alertdialog"):
        ui.label(message).classes("text-body1")
        with ui.row().classes("w-full justify-end"):
            ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
            ui.button(action, color="negative", on_click=lambda: dialog.submit(True)).props(
                "unelevated no-caps"
            ).mark("confirm-action")
    return bool(await dialog)


def _copy(value: str) -> None:
    ui.clipboard.write(value)
    ui.notify(t("channels.copied"), type="positive")


def _callback_dialog(account: ChannelAccountRead, base_url: str) -> None:
    """Show what to paste into WeCom's 接收事件服务器 settings."""
    url = base_url + account.callback_path
    heading = t("channels.url_heading")
    with (
        ui.dialog() as dialog,
        ui.card().classes("w-full max-w-xl").props(f'role=dialog aria-label="{heading}"'),
    ):
        ui.label(heading).classes("text-h6").props("role=heading aria-level=2")
        ui.label(t("channels.url_intro", name=account.name)).classes("text-body2")
        ui.input(t("channels.callback_url"), value=url).props("outlined readonly dense").classes(
            "w-full font-mono"
        ).mark("callback-url")
        ui.label(t("channels.url_keys")).classes("text-caption text-grey-7")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(t("channels.copy_url"), icon="link", on_click=lambda: _copy(url)).props(
                "outline no-caps"
            )
            ui.button(t("common.done"), on_click=dialog.close).props("unelevated no-caps")
    dialog.open()


def _callback_rows(actor: Actor, found: list[WeComCallbackRead]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(c.id),
            "received": when(actor, c.received_at),
            "event": f"{c.event} / {c.change_type}" if c.change_type else c.event,
            "status": t(f"channels.callback_status.{c.status}"),
            "raw_status": c.status.value,
            "attempts": c.attempts,
            "error": text(c.error),
        }
        for c in found
    ]


def _callbacks_dialog(
    actor: Actor, account: ChannelAccountRead, found: list[WeComCallbackRead]
) -> None:
    names = ("received", "event", "status", "attempts", "error")
    columns = [
        {"name": n, "label": t(f"channels.ccol.{n}"), "field": n, "align": "left"} for n in names
    ]
    columns.append(
        {"name": "actions", "label": t("channels.col.actions"), "field": "id", "align": "right"}
    )
    heading = t("channels.callbacks_heading", name=account.name)

    async def retry_one(e: GenericEventArguments) -> None:
        row = e.args if isinstance(e.args, dict) else {}
        callback_id = uuid.UUID(str(row.get("id")))
        try:
            result = await run.io_bound(retry, actor, account.id, callback_id)
        except AppError as exc:
            show_error(exc)
            return
        if result is None:  # the console is shutting down
            return
        table.rows = _callback_rows(actor, result)
        table.update()
        ui.notify(t("channels.retried"), type="positive")

    with (
        ui.dialog() as dialog,
        ui.card().classes("w-full max-w-4xl").props(f'role=dialog aria-label="{heading}"'),
    ):
        ui.label(heading).classes("text-h6").props("role=heading aria-level=2")
        last = when(actor, account.last_callback_at) if account.last_callback_at else DASH
        ui.label(t("channels.last_callback", at=last)).classes("text-body2 text-grey-8")
        table = data_table(
            columns,
            label=heading,
            empty=t("channels.callbacks_empty"),
            rows=_callback_rows(actor, found),
        ).mark("callback-table")
        retryable = " || ".join(f"props.row.raw_status === '{s}'" for s in _RETRYABLE)
        table.add_slot(
            "body-cell-actions",
            '<q-td :props="props">'
            + _action("retry", t("channels.retry"), show_if=retryable, named="event")
            + "</q-td>",
        )
        table.on("retry", retry_one)
        with ui.row().classes("w-full justify-end"):
            ui.button(t("common.close"), on_click=dialog.close).props("unelevated no-caps")
    dialog.open()
