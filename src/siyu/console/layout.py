"""The shell around every signed-in page: header, navigation drawer, main content.

Header: menu button, brand, tenant (a switcher for users with several tenants, e.g. agencies),
language toggle, user menu with sign-out. The drawer lists the navigation registry entries the
actor may use; below Quasar's ``lg`` breakpoint (phones, tablets) it is hidden behind the menu
button.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments

from siyu.console import auth, i18n, nav
from siyu.console.auth import ConsoleUser
from siyu.console.calls import show_error
from siyu.console.display import enum_label
from siyu.console.i18n import t
from siyu.core.errors import AppError

BRAND = "siyu 私域"
PAGE_TIMEOUT = 10.0
"""Seconds a page builder may take (``ui.page(response_timeout=...)``)."""


def page_title(title: str) -> None:
    ui.page_title(f"{title} · {BRAND}")


def set_document_language() -> None:
    ui.query("html").props(f"lang={i18n.QUASAR_LANGUAGE[i18n.current_locale()]}")


def locale_changer(
    user: ConsoleUser | None,
) -> Callable[[ValueChangeEventArguments[str]], Awaitable[None]]:
    """Return a change handler that saves the chosen language and reloads the page in it."""

    async def change(e: ValueChangeEventArguments[str]) -> None:
        if e.value == i18n.current_locale():
            return
        try:
            await auth.save_locale(user, e.value)
        except AppError as exc:
            show_error(exc)
            return
        ui.navigate.reload()

    return change


def language_toggle(user: ConsoleUser | None) -> ui.toggle:
    """Return the 中文 / English switch; a change is saved and the page reloads in it."""
    toggle = ui.toggle(
        dict(i18n.LOCALES), value=i18n.current_locale(), on_change=locale_changer(user)
    )
    return toggle.props(
        "dense no-caps unelevated rounded padding='2px 12px' color=teal-9 text-color=white "
        f'toggle-color=white toggle-text-color=primary aria-label="{t("shell.language")}"'
    ).mark("language-toggle")


def _tenant_switcher(user: ConsoleUser, *, dark: bool) -> ui.select:
    async def change(e: ValueChangeEventArguments[str]) -> None:
        if not e.value or e.value == str(user.actor.tenant_id):
            return
        try:
            await auth.switch_tenant(user, uuid.UUID(e.value))
        except AppError as exc:
            show_error(exc)
            return
        ui.navigate.reload()

    options = {str(a.tenant_id): a.name for a in user.tenants}
    select = ui.select(
        options, value=str(user.actor.tenant_id), label=t("shell.tenant"), on_change=change
    ).props("dense outlined options-dense")
    if dark:
        select.props("dark label-color=white").classes("min-w-44")
    return select.mark("tenant-switcher")


def _tenant(user: ConsoleUser) -> None:
    if len(user.tenants) > 1:
        _tenant_switcher(user, dark=True)
    else:
        label = ui.label(user.tenant_name).classes("text-subtitle2 opacity-90")
        label.props["aria-label"] = (
            f"{t('shell.tenant')}: {user.tenant_name}"  # data: no props string
        )


def _user_menu(user: ConsoleUser) -> None:
    async def sign_out() -> None:
        try:
            await auth.sign_out(user)
        except AppError as exc:
            show_error(exc)
            return
        ui.navigate.to("/login")

    with (
        ui.button(icon="account_circle")
        .props(f'flat round color=white aria-label="{t("shell.user_menu")}"')
        .mark("user-menu"),
        ui.menu(),
    ):
        with ui.item().props("dense"), ui.item_section():
            ui.item_label(user.display_name).classes("text-weight-medium")
            ui.item_label(f"{user.username} · {enum_label('role', user.actor.role)}").props(
                "caption"
            )
        ui.separator()
        ui.menu_item(t("nav.settings"), on_click=lambda: ui.navigate.to("/settings")).props(
            "role=menuitem"
        )
        ui.menu_item(t("shell.sign_out"), on_click=sign_out).props("role=menuitem").mark("sign-out")


def _drawer(user: ConsoleUser, path: str) -> ui.left_drawer:
    current = nav.active_item(path)
    # Open from Quasar's lg breakpoint (1024 px) up, folded behind the menu button below it.
    # (value=None would ask the browser for the state after connecting; show-if-above does not.)
    drawer = ui.left_drawer(value=False, bordered=True).props("show-if-above")
    with drawer.classes("bg-grey-1 q-pa-none"):
        with ui.column().classes("xs w-full q-px-md q-pt-md gap-0"):
            ui.label(t("shell.tenant")).classes("text-caption text-grey-7")
            ui.label(user.tenant_name).classes("text-subtitle2")
        with (
            ui.element("nav").props(f'aria-label="{t("shell.navigation")}"').classes("w-full"),
            ui.column().classes("w-full gap-1 q-py-sm items-stretch"),
        ):
            for item in nav.visible_to(user.actor):
                # QItem renders <a role="listitem">; these are links, so say so.
                props = f'clickable tag=a href="{item.path}" role=link'
                if item == current:
                    props += ' active aria-current=page active-class="bg-blue-1 text-primary"'
                with ui.item().props(props).classes("rounded-borders q-mx-sm"):
                    with ui.item_section().props("avatar"):
                        ui.icon(item.icon)
                    ui.item_section(t(item.key))
    return drawer


@contextmanager
def shell(user: ConsoleUser, *, title: str, path: str) -> Iterator[ui.column]:
    """Build the header and drawer, then yield the main column the page fills."""
    page_title(title)
    set_document_language()
    ui.colors(primary="#0f766e")
    with ui.header(elevated=True).classes("items-center gap-2 q-px-sm q-py-xs bg-primary"):
        menu = ui.button(icon="menu").props(
            f'flat round color=white aria-label="{t("shell.toggle_navigation")}"'
        )
        ui.link(BRAND, "/").classes("text-h6 text-white no-underline whitespace-nowrap").props(
            f'aria-label="{BRAND} — {t("nav.overview")}"'
        )
        with ui.row().classes("gt-xs items-center no-wrap q-ml-md"):
            _tenant(user)
        ui.space()
        language_toggle(user)
        _user_menu(user)
    drawer = _drawer(user, path)
    menu.on_click(drawer.toggle)
    if len(user.tenants) > 1:
        # On phones the header has no room for the switcher: it sits atop the content instead.
        with ui.row().classes("xs w-full q-px-md q-pt-md"):
            _tenant_switcher(user, dark=False).classes("w-full")
    main = ui.column().classes("w-full max-w-screen-xl mx-auto q-pa-md gap-4")
    ui.skip_link(t("shell.skip_to_content"), target=main)
    with main:
        ui.label(title).classes("text-h5 q-my-none").props("role=heading aria-level=1")
        yield main


def no_permission() -> None:
    """Say the actor's role cannot use this page."""
    with ui.card().classes("w-full"):
        ui.label(t("common.no_permission")).props("role=alert")


def not_found(message: str, *, back: str, back_label: str) -> None:
    with ui.card().classes("w-full items-start gap-2").props("role=alert"):
        ui.icon("search_off", size="lg").classes("text-grey-6")
        ui.label(message).classes("text-subtitle1")
        ui.link(back_label, back)


def data_table(
    columns: list[dict[str, Any]],
    *,
    label: str,
    empty: str,
    rows: list[dict[str, Any]] | None = None,
) -> ui.table:
    """Return a full-width table in a region named ``label`` (QTable cannot name its <table>)."""
    table = ui.table(columns=columns, rows=rows or [], row_key="id")
    return table.props(
        f'flat bordered dense wrap-cells no-data-label="{empty}" role=region aria-label="{label}"'
    ).classes("w-full")
