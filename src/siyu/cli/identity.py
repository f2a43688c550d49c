"""``siyu identity``: OneID housekeeping — the merge-proposal run."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from siyu.cli.context import open_database, tenant_actor
from siyu.core.db import unit_of_work
from siyu.customers import survivorship
from siyu.identity import proposals

app = typer.Typer(
    help="OneID: merge proposals from weak evidence, golden-record survivorship.",
    no_args_is_help=True,
)
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


@app.command("survivorship")
def survivorship_rules(
    tenant: str = typer.Option(..., help="Tenant slug"),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="FIELD=RULE or FIELD=source_priority:SRC1,SRC2 (most trusted first); repeatable",
    ),
    reset: bool = typer.Option(False, help="Back to keep_first for every field"),
) -> None:
    """Show or change which value of a profile field wins when sources disagree."""
    open_database()
    actor = tenant_actor(tenant)
    with unit_of_work(actor) as db:
        current = survivorship.rules(db, actor)
        if set_ or reset:
            fields = {} if reset else dict(current.fields)
            for item in set_:
                fields.update(_parse_rule(item))
            try:
                current = survivorship.Survivorship(fields=fields)
            except ValidationError as exc:
                raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--set") from exc
            survivorship.set_rules(db, actor, current)
    table = Table("field", "rule", "sources (most trusted first)")
    for field in survivorship.SURVIVING_FIELDS:
        rule = current.rule_for(field)
        table.add_row(field, rule.rule.value, ", ".join(rule.sources))
    out.print(table)


def _parse_rule(item: str) -> dict[str, survivorship.FieldRule]:
    field, sep, spec = item.partition("=")
    rule, _, sources = spec.partition(":")
    if not sep or not field or rule not in set(survivorship.Rule):
        raise typer.BadParameter(
            f"{item!r}: write FIELD=RULE with RULE one of "
            f"{', '.join(r.value for r in survivorship.Rule)}, e.g. name=latest or "
            "phone=source_priority:pos,tmall",
            param_hint="--set",
        )
    try:
        return {
            field.strip(): survivorship.FieldRule(
                rule=survivorship.Rule(rule),
                sources=[s.strip() for s in sources.split(",") if s.strip()],
            )
        }
    except ValidationError as exc:
        raise typer.BadParameter(f"{item!r}: {exc.errors()[0]['msg']}", param_hint="--set") from exc
