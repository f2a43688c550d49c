"""``siyu identity``: OneID housekeeping — the merge-proposal run."""

from __future__ import annotations

import typer
from rich.console import Console

from siyu.cli.context import open_database, tenant_actor
from siyu.core.db import unit_of_work
from siyu.identity import proposals

app = typer.Typer(help="OneID: merge proposals from weak evidence.", no_args_is_help=True)
out = Console()


@app.command("propose")
def propose(
    tenant: str = typer.Option(..., help="Tenant slug"),
    threshold_bp: int = typer.Option(9000, help="Queue pairs at or above this probability (bp)"),
    auto_accept_bp: int | None = typer.Option(
        None, help="Merge pairs at or above this probability at once (bp)"
    ),
) -> None:
    """Compare weak evidence across customers and queue probable duplicates for review."""
    open_database()
    actor = tenant_actor(tenant)
    with out.status("scoring evidence"), unit_of_work(actor) as db:
        run = proposals.generate_proposals(
            db, actor, threshold_bp=threshold_bp, auto_accept_bp=auto_accept_bp
        )
    out.print(
        f"compared {run.compared_records} evidence records: {run.proposed} proposals, "
        f"{run.auto_accepted} merged automatically; review the rest at /api/v1/merge-proposals"
    )
