"""How console handlers call services: in a worker thread, one unit of work per call.

Services are blocking (SQLAlchemy); console handlers are ``async``. ``in_tenant`` runs a function
of the session in NiceGUI's I/O thread pool inside ``unit_of_work(actor)`` (commit on success),
so the event loop never blocks. ``AppError`` propagates to the handler, which shows it with
``show_error`` instead of crashing the page. The function runs without the browser's context:
read ``app.storage`` or call ``t()`` before, not inside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from nicegui import run, ui
from sqlalchemy.orm import Session

from siyu.console.i18n import catalog, current_locale, t
from siyu.core.actor import Actor
from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.core.errors import AppError

T = TypeVar("T")


@dataclass(frozen=True)
class _Result(Generic[T]):
    value: T


async def in_tenant(actor: Actor, fn: Callable[[Session], T]) -> T:
    """Return ``fn(db)`` run in a worker thread inside ``unit_of_work(actor)``."""

    def work() -> _Result[T]:
        with unit_of_work(actor) as db:
            return _Result(fn(db))

    return _unwrap(await run.io_bound(work))


async def in_system(reason: str, fn: Callable[[Session], T]) -> T:
    """Return ``fn(db)`` run in a worker thread inside ``system_unit_of_work(reason=...)``.

    Only for what precedes a tenant: login, resolving the session, switching tenants.
    """

    def work() -> _Result[T]:
        with system_unit_of_work(reason=reason) as db:
            return _Result(fn(db))

    return _unwrap(await run.io_bound(work))


def _unwrap(result: _Result[T] | None) -> T:
    if result is None:  # NiceGUI returns None when the app stops during the call
        raise asyncio.CancelledError("the console is shutting down")
    return result.value


def error_title(exc: AppError) -> str:
    """Return the translated kind of error (``error.not_found`` …), generic when unknown."""
    key = f"error.{exc.code}"
    return t(key) if key in catalog(current_locale()) else t("error.error")


def show_error(exc: AppError) -> None:
    """Show what went wrong and how to fix it as a negative notification."""
    ui.notify(
        f"{error_title(exc)}: {exc.detail}",
        type="negative",
        caption=exc.hint,
        multi_line=True,
        close_button=t("common.close"),
        timeout=8000,
    )
