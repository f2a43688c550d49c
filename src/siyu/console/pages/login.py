"""``/login``: username and password; the session token goes into ``app.storage.user``."""

from __future__ import annotations

from nicegui import ui
from starlette.responses import RedirectResponse

from siyu.console import auth
from siyu.console.calls import show_error
from siyu.console.i18n import t
from siyu.console.layout import (
    BRAND,
    PAGE_TIMEOUT,
    language_toggle,
    page_title,
    set_document_language,
)
from siyu.core.errors import AppError, AuthenticationFailed


def register() -> None:
    @ui.page("/login", response_timeout=PAGE_TIMEOUT)
    async def login_page(next: str | None = None) -> RedirectResponse | None:
        target = auth.safe_next(next)
        if await auth.current_user() is not None:
            return RedirectResponse(target, status_code=303)
        build(target)
        return None


def build(target: str) -> None:
    page_title(t("login.title"))
    set_document_language()
    ui.colors(primary="#0f766e")
    with ui.header().classes("items-center q-px-md q-py-xs bg-primary"):
        ui.label(BRAND).classes("text-h6 text-white")
        ui.space()
        language_toggle(None)

    async def submit() -> None:
        error.set_visibility(False)
        if not username.value or not password.value:
            error.set_text(t("login.missing"))
            error.set_visibility(True)
            return
        button.props("loading")
        try:
            await auth.sign_in(username.value, password.value)
        except AuthenticationFailed as exc:
            error.set_text(t("login.failed"))
            error.set_visibility(True)
            password.set_value("")
            show_error(exc)  # the service's reason and hint, e.g. "has no tenant to work in"
            return
        except AppError as exc:
            show_error(exc)
            return
        finally:
            button.props(remove="loading")
        ui.navigate.to(target)

    with (
        ui.column().classes("w-full items-center q-pa-md"),
        ui.card()
        .classes("w-full max-w-sm q-pa-lg gap-3")
        .props(f'role=form aria-label="{t("login.title")}"'),
    ):
        ui.label(t("login.title")).classes("text-h5").props("role=heading aria-level=1")
        ui.label(t("login.subtitle")).classes("text-body2 text-grey-7")
        username = (
            ui.input(t("login.username"))
            .props("outlined autofocus autocomplete=username")
            .classes("w-full")
            .mark("username")
        )
        password = (
            ui.input(t("login.password"), password=True, password_toggle_button=True)
            .props("outlined autocomplete=current-password")
            .classes("w-full")
            .mark("password")
        )
        error = ui.label().classes("text-negative text-body2").props("role=alert")
        error.set_visibility(False)
        button = (
            ui.button(t("login.submit"), on_click=submit)
            .props("unelevated no-caps size=md")
            .classes("w-full")
            .mark("submit")
        )
        username.on("keydown.enter", submit)
        password.on("keydown.enter", submit)
