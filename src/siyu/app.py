"""The ASGI application: REST API under /api/v1, health checks, and the console."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from siyu import __version__
from siyu.config import Settings, get_settings
from siyu.core import http
from siyu.core.db import get_database, init_database
from siyu.core.logging import configure_logging
from siyu.core.registry import load_models
from siyu.jobs import queue as jobs

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    """Return every domain router under one ``/api/v1`` router."""
    from siyu.acquisition.api import router as channel_codes
    from siyu.channels.api import router as channel_accounts
    from siyu.channels.sync_api import router as channel_sync
    from siyu.contacts.api import router as contact_relations
    from siyu.customers.api import router as customers
    from siyu.events.api import router as events
    from siyu.groups.api import router as groups
    from siyu.identity.api import router as identity
    from siyu.ingest.api import router as imports
    from siyu.orders.api import router as orders
    from siyu.security.api import router as auth
    from siyu.tenancy.api import router as tenancy
    from siyu.transfers.api import router as transfers
    from siyu.webhooks.api import router as webhooks

    router = APIRouter(prefix=API_PREFIX)
    # FastAPI matches a request against the routes in order, and each included route costs some
    # Python: the ingest endpoints, called thousands of times a minute, come first.
    for domain in (
        events,
        auth,
        tenancy,
        customers,
        orders,
        identity,
        imports,
        webhooks,
        channel_codes,
        transfers,
        channel_accounts,
        contact_relations,
        channel_sync,
        groups,
    ):
        router.include_router(domain)
    return router


def create_app(
    settings: Settings | None = None, *, console: bool = True, init_db: bool = True
) -> FastAPI:
    """Build the app. Tests pass ``console=False`` and set up the database themselves."""
    settings = settings or get_settings()
    settings.check_secrets()
    configure_logging(json=settings.log_json)
    load_models()
    jobs.configure(settings)
    if init_db:
        init_database(settings)
    app = FastAPI(
        title="siyu",
        version=__version__,
        description="Private-domain customer operations platform: CDP and social CRM.",
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    http.install(app)
    app.include_router(api_router())

    @app.get("/healthz", tags=["health"], operation_id="healthz")
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"], operation_id="readyz", response_model=None)
    def readyz() -> JSONResponse | dict[str, str]:
        """The process can serve: the database answers."""
        try:
            get_database().ping()
        except Exception as exc:  # noqa: BLE001 - a readiness probe reports any failure
            return JSONResponse(
                {"status": "unavailable", "database": type(exc).__name__}, status_code=503
            )
        return {"status": "ok", "database": "ok"}

    if console:
        from siyu.console import mount

        mount(app, settings)
    return app
