"""The ``siyu`` command: serve, demo, db, admin, tenant, agency, config."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from siyu.cli import (
    admin,
    codes,
    config,
    customers,
    db,
    identity,
    imports,
    server,
    tenant,
    transfers,
    webhooks,
    wecom_accounts,  # noqa: F401 - attaches its commands to wecom_app
    wecom_sync,  # noqa: F401 - attaches its commands to wecom_app
)
from siyu.cli.channels import wecom_app
from siyu.cli.wecom import fake_wecom
from siyu.cli.worker import worker
from siyu.core.errors import AppError

app = typer.Typer(
    name="siyu",
    help="siyu 私域 — private-domain customer operations platform (CDP + social CRM).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(server.serve)
app.command("demo")(server.demo)
app.add_typer(db.app, name="db")
app.add_typer(admin.app, name="admin")
app.add_typer(tenant.tenant_app, name="tenant")
app.add_typer(tenant.agency_app, name="agency")
app.add_typer(config.app, name="config")
app.add_typer(imports.app, name="import")
app.add_typer(customers.app, name="customers")
app.add_typer(identity.app, name="identity")
app.command("fake-wecom")(fake_wecom)
app.add_typer(wecom_app, name="wecom")
app.command("worker")(worker)
app.add_typer(webhooks.app, name="webhook")
app.add_typer(codes.app, name="codes")
app.add_typer(transfers.app, name="transfer")

err = Console(stderr=True)


def main() -> None:
    """Run the CLI; ``AppError`` prints its detail and hint in red and exits 2."""
    try:
        app()
    except AppError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        if exc.hint:
            err.print(f"[red]hint:[/red] {exc.hint}")
        for fe in exc.errors:
            err.print(f"  [red]-[/red] {fe.as_dict()}")
        sys.exit(2)
