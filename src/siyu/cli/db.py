"""``siyu db``: migrations."""

from __future__ import annotations

import typer
from rich.console import Console

from siyu.config import get_settings
from siyu.core import migrate
from siyu.core.db import make_engine

app = typer.Typer(help="Database migrations.", no_args_is_help=True)
out = Console()


def upgrade_database(url: str) -> None:
    with make_engine(url).begin() as conn:
        migrate.upgrade(url, "head", conn)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = get_settings()
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    with make_engine(url).begin() as conn:
        migrate.upgrade(url, revision, conn)
        out.print(f"[green]database at {migrate.current_revision(conn)}[/green]")


@app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base")) -> None:
    """Revert migrations down to REVISION."""
    url = get_settings().effective_database_url
    with make_engine(url).begin() as conn:
        migrate.downgrade(url, revision, conn)
        out.print(f"database at {migrate.current_revision(conn) or 'base (empty)'}")


@app.command("current")
def current() -> None:
    """Print the database's revision and the newest available."""
    url = get_settings().effective_database_url
    with make_engine(url).connect() as conn:
        rev = migrate.current_revision(conn)
    head = migrate.head_revision()
    out.print(f"current: {rev or 'none (empty database)'}")
    out.print(f"head:    {head}")
    if rev != head:
        out.print("[yellow]run `siyu db upgrade` to migrate[/yellow]")
