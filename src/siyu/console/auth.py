"""Console sign-in: the session token lives in ``app.storage.user``; every page resolves it.

``current_user()`` turns the stored token into a ``ConsoleUser`` (actor, names, tenants) through
``security.service.resolve_token``; a missing, expired or revoked token clears the storage and
returns ``None``, and the page redirects to ``/login``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote

from nicegui import app
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import i18n
from siyu.console.calls import in_system, in_tenant
from siyu.core.actor import Actor
from siyu.core.errors import AuthenticationFailed, NotFound
from siyu.security import service as security
from siyu.security.service import TenantAccess
from siyu.tenancy import service as tenancy

TOKEN_KEY = "token"  # noqa: S105 - the storage key, not a secret
_session_hours = 12


def configure(session_hours: int) -> None:
    global _session_hours
    _session_hours = session_hours


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in in this browser, and where they act."""

    token: str
    actor: Actor
    username: str
    display_name: str
    tenant_name: str
    tenants: tuple[TenantAccess, ...]


def _describe(db: Session, token: str) -> ConsoleUser:
    actor, user = security.resolve_token(db, token)
    tenants = tuple(security.accessible_tenants(db, user))
    name = next((a.name for a in tenants if a.tenant_id == actor.tenant_id), None)
    return ConsoleUser(
        token=token,
        actor=actor,
        username=user.username,
        display_name=user.display_name,
        tenant_name=name or tenancy.get_tenant(db, actor.tenant_id).name,
        tenants=tenants,
    )


async def current_user() -> ConsoleUser | None:
    """Return the signed-in user of this browser, or ``None`` (and forget a dead token)."""
    token = app.storage.user.get(TOKEN_KEY)
    if not isinstance(token, str) or not token:
        return None
    try:
        return await in_system("console session", lambda db: _describe(db, token))
    except (AuthenticationFailed, NotFound):
        app.storage.user.pop(TOKEN_KEY, None)
        return None


def login_redirect(request: Request) -> RedirectResponse:
    """Send the browser to the login page, coming back to this page afterwards."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a path on this site, else ``/`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _sign_in(db: Session, username: str, password: str, locale: str) -> tuple[str, str]:
    result = security.login(db, username=username, password=password, session_hours=_session_hours)
    user = security.find_user(db, username.strip())
    if user is not None and user.locale in i18n.LOCALES:
        return result.token, user.locale
    security.set_user_locale(db, result.actor, locale)  # keep the language chosen on the login page
    return result.token, locale


async def sign_in(username: str, password: str) -> None:
    """Check the password, open a session and remember it in this browser.

    Raises ``AuthenticationFailed`` for a wrong username or password. The user's saved language
    wins; without one, the language picked on the login page is saved for them.
    """
    chosen = i18n.current_locale()  # read here: worker threads have no browser context
    token, locale = await in_system(
        "console login", lambda db: _sign_in(db, username, password, chosen)
    )
    app.storage.user[TOKEN_KEY] = token
    i18n.set_locale(locale)


async def sign_out(user: ConsoleUser) -> None:
    await in_system("console logout", lambda db: security.logout(db, user.token))
    app.storage.user.pop(TOKEN_KEY, None)


async def switch_tenant(user: ConsoleUser, tenant_id: uuid.UUID) -> None:
    await in_system(
        "console switch tenant", lambda db: security.switch_tenant(db, user.token, tenant_id)
    )


async def save_locale(user: ConsoleUser | None, locale: str) -> None:
    """Use ``locale`` in this browser and, when signed in, remember it for the user."""
    i18n.set_locale(locale)
    if user is not None:
        actor = user.actor
        await in_tenant(actor, lambda db: security.set_user_locale(db, actor, locale))
