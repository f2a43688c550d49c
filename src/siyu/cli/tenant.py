"""``siyu tenant`` and ``siyu agency``: brands and the agencies that run them."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from siyu.cli.context import open_database
from siyu.core.db import system_unit_of_work
from siyu.core.errors import NotFound
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import Tenant

tenant_app = typer.Typer(help="Brand tenants.", no_args_is_help=True)
agency_app = typer.Typer(help="Agencies (代运营) over several tenants.", no_args_is_help=True)
out = Console()


@tenant_app.command("create")
def create_tenant(
    slug: str = typer.Argument(..., help="Short id: lowercase letters, digits, dashes"),
    name: str = typer.Option(..., help="Brand name"),
    timezone: str = typer.Option("Asia/Shanghai", help="IANA timezone"),
) -> None:
    """Create a tenant with its HQ org unit."""
    open_database()
    with system_unit_of_work(reason="cli tenant create") as db:
        t = tenancy.create_tenant(db, name=name, slug=slug, timezone=timezone)
        out.print(f"[green]created tenant {t.name} ({t.slug}) id={t.id}[/green]")


@tenant_app.command("list")
def list_tenants() -> None:
    """List all tenants."""
    open_database()
    table = Table("slug", "name", "timezone", "id")
    with system_unit_of_work(reason="cli tenant list") as db:
        for t in db.scalars(select(Tenant).order_by(Tenant.slug)):
            table.add_row(t.slug, t.name, t.timezone, str(t.id))
    out.print(table)


@agency_app.command("create")
def create_agency(name: str = typer.Argument(..., help="Agency name")) -> None:
    """Create an agency."""
    open_database()
    with system_unit_of_work(reason="cli agency create") as db:
        agency = tenancy.create_agency(db, name=name)
        out.print(f"[green]created agency {agency.name} id={agency.id}[/green]")


@agency_app.command("link")
def link(
    agency: str = typer.Argument(..., help="Agency name"),
    tenant: str = typer.Argument(..., help="Tenant slug"),
) -> None:
    """Let an agency's users work in a tenant."""
    open_database()
    with system_unit_of_work(reason="cli agency link") as db:
        a = tenancy.find_agency(db, agency)
        t = tenancy.find_tenant_by_slug(db, tenant)
        if a is None:
            raise NotFound(
                f"agency {agency!r} not found", hint="create it with `siyu agency create`"
            )
        if t is None:
            raise NotFound(
                f"tenant {tenant!r} not found", hint="list tenants with `siyu tenant list`"
            )
        tenancy.link_agency(db, agency_id=a.id, tenant_id=t.id)
    out.print(f"[green]{agency} now runs {tenant}[/green]")


@agency_app.command("add-user")
def add_user(
    agency: str = typer.Argument(..., help="Agency name"),
    username: str = typer.Option(...),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    name: str | None = typer.Option(None, help="Display name"),
) -> None:
    """Create a login for an agency: it can work in every tenant the agency runs."""
    open_database()
    with system_unit_of_work(reason="cli agency add-user") as db:
        a = tenancy.find_agency(db, agency)
        if a is None:
            raise NotFound(
                f"agency {agency!r} not found", hint="create it with `siyu agency create`"
            )
        security.create_user(
            db, username=username, password=password, display_name=name, agency_id=a.id
        )
    out.print(f"[green]created agency user {username!r}[/green]")
