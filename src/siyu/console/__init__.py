"""The web console: NiceGUI pages mounted on the FastAPI app, calling services only.

NiceGUI is process-global: ``mount`` configures it once per process and mounts it on ``app``.
Its per-browser storage (``app.storage.user``: the session token and the language) lives in
``<SIYU_HOME>/nicegui``. NiceGUI reads ``NICEGUI_STORAGE_PATH`` once, when ``nicegui.storage`` is
first imported (``Storage.path``, a class attribute), and builds its storage object at import too,
so ``mount`` sets the variable before importing NiceGUI and re-points the storage if NiceGUI was
imported earlier.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from siyu.config import Settings

TITLE = "siyu 私域"
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="8" fill="#0f766e"/>'
    '<circle cx="16" cy="16" r="7" fill="none" stroke="#fff" stroke-width="3"/></svg>'
)
_pages_registered = False


def storage_path(settings: Settings) -> Path:
    return (settings.home / "nicegui").resolve()


def _point_storage_at(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)  # it holds session tokens
    os.environ["NICEGUI_STORAGE_PATH"] = str(path)

    from nicegui import app as nicegui_app
    from nicegui.storage import Storage

    if Storage.path != path:  # NiceGUI was imported before the variable was set
        Storage.path = path
        nicegui_app.storage = Storage()
        nicegui_app.storage.general.initialize_sync()


def _register_pages() -> None:
    global _pages_registered
    if _pages_registered:
        return
    from siyu.console.pages import (
        channels,
        codes,
        customers,
        groups,
        imports,
        junk_keys,
        login,
        org,
        overview,
        proposals,
        settings,
        tokens,
        transfers,
        webhooks,
        wecom_sync,
    )

    pages = (
        login,
        overview,
        customers,
        proposals,
        junk_keys,
        org,
        imports,
        codes,
        transfers,
        channels,
        groups,
        wecom_sync,
        tokens,
        webhooks,
        settings,
    )
    for page in pages:
        page.register()
    _pages_registered = True


def mount(app: FastAPI, settings: Settings) -> None:
    """Serve the console from ``app``: ``/login``, ``/``, ``/customers``, ``/org``, …"""
    _point_storage_at(storage_path(settings))

    from nicegui import ui

    from siyu.console import auth, i18n

    i18n.configure(settings.default_locale)
    auth.configure(settings.session_hours)
    _register_pages()
    ui.run_with(
        app,
        title=TITLE,
        favicon=FAVICON,
        storage_secret=settings.secret_key.get_secret_value(),
        # The browser-session cookie: HTTPS-only when the public URL is HTTPS.
        session_middleware_kwargs={
            "https_only": (settings.server.public_url or "").startswith("https://"),
            "same_site": "lax",
        },
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )
