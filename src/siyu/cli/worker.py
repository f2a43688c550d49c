"""``siyu worker``: run background jobs (outbox deliveries, callbacks, syncs, schedules)."""

from __future__ import annotations

import typer
from rich.console import Console

from siyu.cli.context import open_database
from siyu.config import get_settings
from siyu.jobs import queue

out = Console()


def worker(
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="Worker threads (default: SIYU_JOBS__WORKERS)"
    ),
) -> None:
    """Run job workers until interrupted (Ctrl-C stops them after the jobs in hand)."""
    settings = get_settings()
    open_database()
    huey = queue.configure(settings)
    if huey.immediate:
        out.print("[red]SIYU_JOBS__IMMEDIATE is set: jobs run in the caller, not in workers[/red]")
        raise typer.Exit(2)
    count = workers or settings.jobs.workers
    out.print(
        f"siyu worker: {count} threads on the {'Redis' if settings.redis_url else 'SQLite'} "
        "queue (Ctrl-C to stop)"
    )
    consumer = huey.create_consumer(workers=count, worker_type="thread", periodic=True)
    consumer.run()
