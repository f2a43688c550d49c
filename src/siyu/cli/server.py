"""``siyu serve`` and ``siyu demo``."""

from __future__ import annotations

import typer
import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from siyu.cli.db import upgrade_database
from siyu.config import get_settings
from siyu.core import migrate
from siyu.core.db import make_engine

out = Console()


def _run(host: str, port: int) -> None:
    from siyu.app import create_app
    from siyu.jobs import queue

    settings = get_settings()
    app = create_app(settings)
    consumer = None
    if settings.jobs.embedded and not settings.jobs.immediate:
        consumer = queue.start_workers(settings.jobs.workers)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if consumer is not None:
            queue.stop_workers(consumer)


def serve(
    host: str | None = typer.Option(None, help="Bind address (default from settings)"),
    port: int | None = typer.Option(None, help="Port (default from settings)"),
    migrate_first: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Apply pending migrations before serving"
    ),
) -> None:
    """Serve the REST API (/api/v1, /docs) and the console."""
    settings = get_settings()
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    if migrate_first:
        upgrade_database(settings.effective_database_url)
    host = host or settings.server.host
    port = port or settings.server.port
    out.print(f"siyu serving on [bold]http://{host}:{port}/[/bold] (API docs at /docs)")
    _run(host, port)


def _reset(url: str) -> None:
    with make_engine(url).begin() as conn:
        migrate.downgrade(url, "base", conn)


def demo(
    reset: bool = typer.Option(False, "--reset", help="Drop all data and seed the demo again"),
    host: str = typer.Option("127.0.0.1", help="Bind address"),
    port: int = typer.Option(8000, help="Port"),
    customers: int = typer.Option(5000, min=50, help="Customers in the demo brand"),
    seed_only: bool = typer.Option(False, "--seed-only", help="Seed, then exit without serving"),
) -> None:
    """Create the embedded database, seed a demo brand and serve the console."""
    from siyu.cli.context import open_database
    from siyu.demo.seed import DEMO_PASSWORD, demo_exists, seed_demo

    settings = get_settings()
    url = settings.effective_database_url
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    if reset:
        _reset(url)
        out.print("[yellow]demo data removed[/yellow]")
    upgrade_database(url)
    database = open_database()
    if not demo_exists(database):
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            summary = seed_demo(database, customers=customers, progress=progress)
        out.print(
            f"seeded {summary.customer_count} customers, {summary.order_count} orders "
            f"({summary.refunded_order_count} refunded, {summary.partially_refunded_order_count} "
            f"partially refunded), {summary.staff_count} staff"
        )
    else:
        out.print("demo data present (use --reset to start over)")
    out.print(
        Panel.fit(
            f"console: [bold]http://{host}:{port}/[/bold]   API docs: http://{host}:{port}/docs\n"
            f"admin:   [bold]admin[/bold] / {DEMO_PASSWORD}\n"
            f"manager: manager / {DEMO_PASSWORD}   guide: guide / {DEMO_PASSWORD}\n"
            f"agency:  agency / {DEMO_PASSWORD} (two brands)",
            title="siyu demo",
        )
    )
    if not seed_only:
        _run(host, port)
