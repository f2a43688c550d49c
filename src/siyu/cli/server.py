"""``siyu serve`` and ``siyu demo``."""

from __future__ import annotations

import socket
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    TaskID,
)

from siyu.cli.context import progress_bars
from siyu.cli.db import upgrade_database
from siyu.config import get_settings
from siyu.core import heap, migrate
from siyu.core.db import get_database, make_engine, refresh_statistics

out = Console()


def api_app() -> FastAPI:
    """The app of each ``siyu serve --workers N`` process: REST API and health checks.

    Not the console: NiceGUI keeps every open page's state in the process that rendered it, and
    uvicorn's workers share one socket, so a page's next request could land in another process.
    """
    from siyu.app import create_app

    app = create_app(console=False)
    heap.settle()
    return app


def _run(host: str, port: int, *, workers: int = 1) -> None:
    """Serve in this process, or in ``workers`` processes that uvicorn supervises from here.

    With one process it serves everything. With several, each runs ``api_app`` (no console) and
    this process supervises them. Embedded job workers (``jobs.embedded``) run in this process
    only, so each job runs once whatever the process count. SQLite's planner statistics are
    refreshed first (``refresh_statistics``), once.
    """
    from siyu.app import create_app
    from siyu.cli.context import open_database
    from siyu.jobs import queue

    settings = get_settings()
    embedded = settings.jobs.embedded and not settings.jobs.immediate
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
    }
    if workers > 1:
        database = open_database()  # the supervisor's own, for the job workers and statistics
        refresh_statistics(database.engine)
        if embedded:
            queue.configure(settings)
        target: Any = "siyu.cli.server:api_app"  # each worker process builds its own app
        options.update(factory=True, workers=workers)
    else:
        target = create_app(settings)
        refresh_statistics(get_database().engine)
    consumer = queue.start_workers(settings.jobs.workers) if embedded else None
    if workers == 1:
        heap.settle()
    try:
        uvicorn.run(target, **options)
    finally:
        if consumer is not None:
            queue.stop_workers(consumer)


def serve(
    host: str | None = typer.Option(None, help="Bind address (default from settings)"),
    port: int | None = typer.Option(None, help="Port (default from settings)"),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        max=64,
        help="Server processes (uvicorn workers), about one per core; with more than one they "
        "serve the API only (not the console), and job workers run once, in the supervisor",
    ),
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
    if workers > 1:
        out.print(
            f"siyu serving the API on [bold]http://{host}:{port}/api/v1[/bold] with {workers} "
            "processes (API docs at /docs)\n[yellow]the console needs one process: serve it "
            "with a second `siyu serve --no-migrate --port …` (see docs/serving.md)[/yellow]"
        )
    else:
        out.print(f"siyu serving on [bold]http://{host}:{port}/[/bold] (API docs at /docs)")
    _run(host, port, workers=workers)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _reset(url: str) -> None:
    with make_engine(url).begin() as conn:
        migrate.downgrade(url, "base", conn)


def demo(
    reset: bool = typer.Option(False, "--reset", help="Drop all data and seed the demo again"),
    host: str = typer.Option("127.0.0.1", help="Bind address"),
    port: int = typer.Option(8000, help="Port"),
    customers: int = typer.Option(5000, min=50, help="Customers in the demo brand"),
    seed_only: bool = typer.Option(False, "--seed-only", help="Seed, then exit without serving"),
    wecom: bool = typer.Option(
        True, "--wecom/--no-wecom", help="Run the fake WeCom server with simulated customers"
    ),
    fake_port: int | None = typer.Option(
        None, "--fake-wecom-port", help="Port of the fake WeCom server (default: a free one)"
    ),
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
        (settings.home / "fake-wecom.state").unlink(missing_ok=True)
        out.print("[yellow]demo data removed[/yellow]")
    upgrade_database(url)
    database = open_database()
    if not demo_exists(database):
        with progress_bars(out) as bar:
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
    if seed_only:
        return
    demo_wecom = traffic = None
    if wecom:
        from siyu.demo import traffic as demo_traffic
        from siyu.demo import wecom as demo_fake

        siyu_url = f"http://{host}:{port}"
        demo_wecom = demo_fake.start(
            database,
            settings.home,
            siyu_url=siyu_url,
            host=host,
            port=fake_port or _free_port(host),
        )
        out.print(
            f"fake WeCom: [bold]{demo_wecom.fake_url}[/bold] (demo customers add guides through "
            "channel codes; see 渠道活码 and 企业微信)"
        )
        traffic = demo_traffic.Traffic(
            database, demo_fake.demo_actor(database), demo_wecom, siyu_url=siyu_url
        )
        traffic.start()
    try:
        _run(host, port)
    finally:
        if traffic is not None:
            traffic.stop()
        if demo_wecom is not None:
            demo_wecom.stop()
