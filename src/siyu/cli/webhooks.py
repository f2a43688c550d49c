"""``siyu webhook``: endpoints that order systems post signed orders to."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from siyu.cli.context import open_database, tenant_actor
from siyu.config import get_settings
from siyu.core.db import unit_of_work
from siyu.orders.models import OrderSource
from siyu.webhooks import service, signing
from siyu.webhooks.models import OrderWebhook
from siyu.webhooks.schemas import MAX_KEEP_PREVIOUS_HOURS, OrderWebhookRead

app = typer.Typer(
    help="Signed inbound order webhooks (one endpoint per order system).", no_args_is_help=True
)
out = Console()
SOURCES = [s.value for s in OrderSource] + ["generic"]


def _url(path: str) -> str:
    base = get_settings().server.public_url
    return f"{base.rstrip('/')}{path}" if base else path


def _show_secret(read: OrderWebhookRead, secret: str, *, as_json: bool, verb: str) -> None:
    url = _url(read.path)
    if as_json:
        out.print_json(json.dumps(read.model_dump(mode="json") | {"url": url, "secret": secret}))
        return
    out.print(f"[green]{verb} order webhook {read.name!r} ({read.source}) id={read.id}[/green]")
    out.print(f"URL:    POST {url}")
    out.print(f"secret: [bold]{secret}[/bold]")
    out.print(
        "[yellow]Copy the secret now: it is not shown again. The order system signs each "
        f"request with it ({signing.TIMESTAMP_HEADER}, {signing.SIGNATURE_HEADER}); "
        "see docs/api.md, 'Signed order webhooks'.[/yellow]"
    )


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Which order system posts here, e.g. 'POS'"),
    source: str = typer.Option(..., help=f"Source of its orders: {', '.join(SOURCES)}"),
    tenant: str = typer.Option(..., help="Tenant slug"),
    as_json: bool = typer.Option(False, "--json", help="Print the endpoint as JSON"),
) -> None:
    """Register an endpoint for one order system and print its secret (once)."""
    if source not in SOURCES:
        raise typer.BadParameter(f"use one of {', '.join(SOURCES)}", param_hint="--source")
    open_database()
    actor = tenant_actor(tenant)
    order_source = OrderSource.OTHER if source == "generic" else OrderSource(source)
    with unit_of_work(actor) as db:
        issued = service.create_webhook(db, actor, name=name, source=order_source)
        read = OrderWebhookRead.model_validate(issued.webhook)
    _show_secret(read, issued.secret, as_json=as_json, verb="created")


@app.command("list")
def list_endpoints(
    tenant: str = typer.Option(..., help="Tenant slug"),
    as_json: bool = typer.Option(False, "--json", help="Print the endpoints as JSON"),
) -> None:
    """List the tenant's order webhook endpoints (never their secrets)."""
    open_database()
    actor = tenant_actor(tenant)
    with unit_of_work(actor) as db:
        found = [OrderWebhookRead.model_validate(w) for w in service.list_webhooks(db, actor)]
    if as_json:
        out.print_json(json.dumps([w.model_dump(mode="json") for w in found]))
        return
    table = Table("name", "source", "active", "secret", "last received", "id", "url")
    for w in found:
        table.add_row(
            w.name,
            w.source,
            "yes" if w.is_active else "no",
            f"{w.secret_prefix}…",
            w.last_received_at.isoformat(timespec="seconds") if w.last_received_at else "never",
            str(w.id),
            _url(w.path),
        )
    out.print(table)


@app.command("rotate")
def rotate(
    endpoint: str = typer.Argument(..., help="Endpoint name or id"),
    tenant: str = typer.Option(..., help="Tenant slug"),
    keep_previous_hours: int = typer.Option(
        0,
        min=0,
        max=MAX_KEEP_PREVIOUS_HOURS,
        help="Keep accepting the old secret this many hours while the sender switches",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the endpoint as JSON"),
) -> None:
    """Issue a new secret for an endpoint and print it (once)."""
    open_database()
    actor = tenant_actor(tenant)
    with unit_of_work(actor) as db:
        webhook = service.find_webhook(db, actor, endpoint)
        issued = service.rotate_secret(
            db, actor, webhook.id, keep_previous_hours=keep_previous_hours
        )
        read = OrderWebhookRead.model_validate(issued.webhook)
    _show_secret(read, issued.secret, as_json=as_json, verb="rotated the secret of")
    if keep_previous_hours and not as_json:
        out.print(f"The previous secret stays valid for {keep_previous_hours} h.")


def _set_active(endpoint: str, tenant: str, active: bool) -> OrderWebhook:
    open_database()
    actor = tenant_actor(tenant)
    with unit_of_work(actor) as db:
        webhook = service.find_webhook(db, actor, endpoint)
        return service.update_webhook(db, actor, webhook.id, is_active=active)


@app.command("disable")
def disable(
    endpoint: str = typer.Argument(..., help="Endpoint name or id"),
    tenant: str = typer.Option(..., help="Tenant slug"),
) -> None:
    """Stop accepting deliveries at an endpoint (they get 404); its log and orders stay."""
    webhook = _set_active(endpoint, tenant, False)
    out.print(f"[green]disabled order webhook {webhook.name!r}[/green]")


@app.command("enable")
def enable(
    endpoint: str = typer.Argument(..., help="Endpoint name or id"),
    tenant: str = typer.Option(..., help="Tenant slug"),
) -> None:
    """Accept deliveries at a disabled endpoint again."""
    webhook = _set_active(endpoint, tenant, True)
    out.print(f"[green]enabled order webhook {webhook.name!r}[/green]")
