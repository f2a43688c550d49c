"""``/settings``: the console language, and who you are here: user, tenant, role, permissions."""

from __future__ import annotations

from nicegui import ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, i18n, nav
from siyu.console.display import enum_label, scope_label
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, locale_changer, shell
from siyu.console.nav import NavItem
from siyu.console.pages import survivorship
from siyu.security.rbac import ROLE_PERMS, Perm


def register() -> None:
    nav.add(NavItem("nav.settings", "/settings", "settings", order=90))

    @ui.page("/settings", response_timeout=PAGE_TIMEOUT)
    async def settings_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        rules = await survivorship.load(user)
        with shell(user, title=t("nav.settings"), path="/settings"):
            build(user)
            survivorship.card(user, rules)
        return None


def _row(label: str, value: str) -> None:
    with ui.row().classes("w-full items-baseline gap-x-4 gap-y-0 no-wrap"):
        ui.label(label).classes("text-caption text-grey-7 w-28 shrink-0")
        ui.label(value).classes("text-body1 break-words min-w-0")


def build(user: auth.ConsoleUser) -> None:
    actor = user.actor

    change = locale_changer(user)

    with ui.card().classes("w-full"):
        ui.label(t("settings.language")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        ui.label(t("settings.language_hint")).classes("text-body2 text-grey-7")
        ui.radio(dict(i18n.LOCALES), value=i18n.current_locale(), on_change=change).props(
            f'inline aria-label="{t("settings.language")}"'
        ).mark("settings-language")

    with ui.card().classes("w-full gap-2"):
        ui.label(t("settings.account")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        _row(t("settings.username"), user.username)
        _row(t("settings.display_name"), user.display_name)
        _row(t("settings.tenant"), user.tenant_name)
        _row(t("settings.role"), enum_label("role", actor.role))
        scope = scope_label(actor)
        _row(t("settings.scope"), scope)
        _row(t("settings.timezone"), actor.timezone)
        if len(user.tenants) > 1:
            _row(
                t("settings.tenants"), t("common.list_separator").join(a.name for a in user.tenants)
            )

    with ui.card().classes("w-full gap-2"):
        ui.label(t("settings.permissions")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        held = ROLE_PERMS[actor.role]
        with ui.row().classes("gap-2").props(f'role=list aria-label="{t("settings.permissions")}"'):
            for perm in Perm:
                if perm in held:
                    ui.chip(t(f"perm.{perm.name.lower()}"), icon="check").props(
                        "outline color=primary role=listitem"
                    ).tooltip(perm.value)
