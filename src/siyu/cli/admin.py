"""``siyu admin``: bootstrap and manage logins."""

from __future__ import annotations

import typer
from rich.console import Console

from siyu.cli.context import open_database
from siyu.core.actor import Role
from siyu.core.db import system_unit_of_work
from siyu.core.errors import InvalidInput, NotFound
from siyu.security import service as security
from siyu.tenancy import service as tenancy

app = typer.Typer(help="Users and the first admin.", no_args_is_help=True)
out = Console()


@app.command("create")
def create(
    username: str = typer.Option(..., help="Login name"),
    tenant: str = typer.Option(..., help="Tenant slug; created if it does not exist"),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters"
    ),
    tenant_name: str | None = typer.Option(None, help="Display name of a new tenant"),
    name: str | None = typer.Option(None, help="Display name of the user"),
    role: Role = typer.Option(Role.ADMIN, help="Role in the tenant"),
) -> None:
    """Create a user with a staff record at the tenant's HQ (bootstraps the first admin)."""
    if role is Role.AGENCY:
        raise InvalidInput("agency users belong to an agency", hint="use `siyu agency add-user`")
    open_database()
    with system_unit_of_work(reason="cli admin create") as db:
        t = tenancy.find_tenant_by_slug(db, tenant)
        if t is None:
            t = tenancy.create_tenant(db, name=tenant_name or tenant, slug=tenant)
            out.print(f"created tenant [bold]{t.name}[/bold] ({t.slug})")
        user = security.create_user(db, username=username, password=password, display_name=name)
        tenancy.add_staff_at_hq(
            db, tenant_id=t.id, user_id=user.id, name=name or username, role=role
        )
    out.print(f"[green]created {role} {username!r} in tenant {tenant!r}[/green]")


@app.command("set-password")
def set_password(
    username: str = typer.Option(...),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
) -> None:
    """Reset a user's password."""
    open_database()
    with system_unit_of_work(reason="cli set password") as db:
        user = security.find_user(db, username)
        if user is None:
            raise NotFound(f"user {username!r} not found", hint="list users with the console")
        security.set_password(db, user, password)
    out.print(f"[green]password of {username!r} changed[/green]")
