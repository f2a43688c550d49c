"""Shared CLI set-up: settings, logging, database, progress bars."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from siyu.config import get_settings
from siyu.core.actor import Actor, Role
from siyu.core.db import Database, init_database, system_unit_of_work
from siyu.core.errors import NotFound
from siyu.core.logging import configure_logging
from siyu.core.registry import load_models
from siyu.tenancy import service as tenancy


def open_database() -> Database:
    """Initialise the database for a CLI command (does not migrate)."""
    settings = get_settings()
    configure_logging(json=settings.log_json)
    load_models()
    return init_database(settings)


def tenant_actor(slug: str) -> Actor:
    """Return an admin actor for CLI work in the tenant ``slug`` (the CLI runs as the operator)."""
    with system_unit_of_work(reason="cli resolves tenant") as db:
        tenant = tenancy.find_tenant_by_slug(db, slug)
        if tenant is None:
            raise NotFound(
                f"tenant {slug!r} not found", hint="list tenants with `siyu tenant list`"
            )
        return Actor(
            tenant_id=tenant.id,
            user_id=None,
            role=Role.ADMIN,
            timezone=tenant.timezone,
            label="cli",
        )


def progress_bars(
    console: Console, *, label: str = "{task.description}", hidden: bool = False
) -> Progress:
    """The CLI's progress bars: a label, the bar, done/total and elapsed time, on ``console``
    (standard error when standard output carries JSON); ``hidden`` for ``--json`` runs."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=hidden,
    )
