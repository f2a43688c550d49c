"""``siyu wecom account …`` and ``siyu wecom callbacks``: WeCom apps and their callback inbox."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog
import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.table import Table

from siyu.channels import service
from siyu.channels.api import account_read
from siyu.channels.schemas import (
    ChannelAccountRead,
    WeComCallbackRead,
    WeComConfig,
    WeComConfigUpdate,
)
from siyu.channels.wecom import inbox, jobs
from siyu.channels.wecom.models import CallbackStatus
from siyu.channels.wecom.transport import WECOM_BASE_URL
from siyu.cli.channels import wecom_app
from siyu.cli.context import open_database, tenant_actor
from siyu.config import get_settings
from siyu.core.actor import Actor
from siyu.core.db import unit_of_work
from siyu.core.errors import FieldError, InvalidInput

account_app = typer.Typer(help="WeCom apps (corp id, secret, callback keys)", no_args_is_help=True)
wecom_app.add_typer(account_app, name="account")
out = Console()

TenantOpt = typer.Option(..., "--tenant", help="Tenant slug")
JsonOpt = typer.Option(False, "--json", help="Print JSON")
STATUSES = ", ".join(s.value for s in CallbackStatus)


def _open(tenant: str) -> Actor:
    """Open the database and return the tenant's actor; logs go to stderr, output to stdout."""
    open_database()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    return tenant_actor(tenant)


def callback_url(path: str) -> str:
    """Return the full callback URL when ``server.public_url`` is set, else the path."""
    base = get_settings().server.public_url
    return f"{base.rstrip('/')}{path}" if base else path


def _invalid(exc: ValidationError) -> InvalidInput:
    errors = [
        FieldError(field=".".join(str(p) for p in e["loc"]), reason=e["msg"]) for e in exc.errors()
    ]
    return InvalidInput(
        "; ".join(f"{e.field}: {e.reason}" for e in errors),
        hint="the values are in the WeCom admin console: 我的企业 (corp id) and the app's "
        "page (Secret, 接收消息 → Token and EncodingAESKey)",
        errors=errors,
    )


def _show(read: ChannelAccountRead, *, as_json: bool, tz: ZoneInfo) -> None:
    url = callback_url(read.callback_path)
    if as_json:
        out.print_json(json.dumps(read.model_dump(mode="json") | {"callback_url": url}))
        return
    table = Table("field", "value", title=f"WeCom account {read.name}")

    def when(at: datetime | None) -> str:
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if at else "never"

    rows = [
        ("id", str(read.id)),
        ("active", "yes" if read.is_active else "no"),
        ("corp id", read.config.corp_id),
        ("agent id", str(read.config.agent_id or "")),
        ("API base URL", read.config.base_url),
        ("secret", read.config.secret),
        ("callback Token", read.config.callback_token),
        ("callback EncodingAESKey", read.config.callback_aes_key),
        ("callback URL", url),
        ("last callback", when(read.last_callback_at)),
        ("last sync", when(read.last_synced_at)),
    ]
    for label, value in rows:
        table.add_row(label, value)
    out.print(table)


def _secret(value: str | None, label: str) -> SecretStr:
    return SecretStr(value if value else typer.prompt(label, hide_input=True))


@account_app.command("add")
def add(
    name: str = typer.Argument(..., help="A name for this app, e.g. 'main'"),
    tenant: str = TenantOpt,
    corp_id: str = typer.Option(..., help="Corp id (企业ID), under 我的企业 in the admin console"),
    secret: str | None = typer.Option(
        None, envvar="SIYU_WECOM_SECRET", help="App secret (prompted when left out)"
    ),
    callback_token: str | None = typer.Option(
        None, envvar="SIYU_WECOM_CALLBACK_TOKEN", help="Callback Token (prompted when left out)"
    ),
    callback_aes_key: str | None = typer.Option(
        None,
        envvar="SIYU_WECOM_CALLBACK_AES_KEY",
        help="Callback EncodingAESKey, 43 characters (prompted when left out)",
    ),
    base_url: str = typer.Option(WECOM_BASE_URL, help="API base URL (the fake WeCom's for tests)"),
    agent_id: int | None = typer.Option(None, help="The app's AgentId"),
    as_json: bool = JsonOpt,
) -> None:
    """Register a WeCom app and print the callback URL to paste into WeCom."""
    actor = _open(tenant)
    try:
        config = WeComConfig(
            corp_id=corp_id,
            secret=_secret(secret, "App secret"),
            callback_token=_secret(callback_token, "Callback Token"),
            callback_aes_key=_secret(callback_aes_key, "Callback EncodingAESKey"),
            base_url=base_url,
            agent_id=agent_id,
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    with unit_of_work(actor) as db:
        read = account_read(service.create_wecom_account(db, actor, name=name, config=config))
    _show(read, as_json=as_json, tz=ZoneInfo(actor.timezone))
    if not as_json:
        out.print(
            "[yellow]In the WeCom admin console, set the app's 接收事件服务器 URL to the callback "
            "URL above (after your public address), with the same Token and EncodingAESKey."
            "[/yellow]"
        )


@account_app.command("list")
def list_accounts(tenant: str = TenantOpt, as_json: bool = JsonOpt) -> None:
    """List the tenant's WeCom accounts (secrets masked)."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        found = [account_read(a) for a in service.list_accounts(db, actor)]
    if as_json:
        out.print_json(json.dumps([a.model_dump(mode="json") for a in found]))
        return
    tz = ZoneInfo(actor.timezone)
    table = Table("name", "corp id", "active", "last callback", "id", "callback URL")
    for a in found:
        last = (
            a.last_callback_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            if a.last_callback_at
            else "never"
        )
        table.add_row(
            a.name,
            a.config.corp_id,
            "yes" if a.is_active else "no",
            last,
            str(a.id),
            callback_url(a.callback_path),
        )
    out.print(table)


wecom_app.command("accounts", hidden=True)(list_accounts)  # short form used in hints


@account_app.command("show")
def show(
    account: str = typer.Argument(..., help="Account name or id"),
    tenant: str = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show one account: masked secrets, callback URL, last callback and sync."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        read = account_read(service.find_account(db, actor, account))
    _show(read, as_json=as_json, tz=ZoneInfo(actor.timezone))


@account_app.command("update")
def update(
    account: str = typer.Argument(..., help="Account name or id"),
    tenant: str = TenantOpt,
    name: str | None = typer.Option(None, help="New name"),
    active: bool | None = typer.Option(
        None, "--enable/--disable", help="Accept callbacks and run jobs (or stop)"
    ),
    corp_id: str | None = typer.Option(None, help="New corp id"),
    secret: str | None = typer.Option(None, envvar="SIYU_WECOM_SECRET", help="New app secret"),
    callback_token: str | None = typer.Option(
        None, envvar="SIYU_WECOM_CALLBACK_TOKEN", help="New callback Token"
    ),
    callback_aes_key: str | None = typer.Option(
        None, envvar="SIYU_WECOM_CALLBACK_AES_KEY", help="New callback EncodingAESKey"
    ),
    base_url: str | None = typer.Option(None, help="New API base URL"),
    agent_id: int | None = typer.Option(None, help="New AgentId"),
    as_json: bool = JsonOpt,
) -> None:
    """Rename, enable/disable, or change configuration; secrets left out are kept."""
    actor = _open(tenant)
    given = {
        "corp_id": corp_id,
        "secret": secret,
        "callback_token": callback_token,
        "callback_aes_key": callback_aes_key,
        "base_url": base_url,
        "agent_id": agent_id,
    }
    try:
        config = WeComConfigUpdate.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        raise _invalid(exc) from exc
    with unit_of_work(actor) as db:
        found = service.find_account(db, actor, account)
        changed = service.update_wecom_account(
            db,
            actor,
            found.id,
            name=name,
            is_active=active,
            config=config if config.model_fields_set else None,
        )
        read = account_read(changed)
    _show(read, as_json=as_json, tz=ZoneInfo(actor.timezone))


@account_app.command("delete")
def delete(
    account: str = typer.Argument(..., help="Account name or id"),
    tenant: str = TenantOpt,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation"),
) -> None:
    """Delete an account with everything synced from it (relations, groups, codes, callbacks)."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        found = service.find_account(db, actor, account)
        name, account_id = found.name, found.id
    if not yes:
        typer.confirm(
            f"Delete WeCom account {name!r} and its relations, groups, codes and callbacks?",
            abort=True,
        )
    with unit_of_work(actor) as db:
        service.delete_account(db, actor, account_id)
    out.print(f"[green]deleted WeCom account {name!r}[/green]")


@wecom_app.command("callbacks")
def callbacks(
    tenant: str = TenantOpt,
    account: str | None = typer.Option(
        None, "--account", help="Account name or id (default: the only one)"
    ),
    status: CallbackStatus | None = typer.Option(None, help=f"Only this status: {STATUSES}"),
    limit: int = typer.Option(50, min=1, max=500, help="How many, newest first"),
    retry: str | None = typer.Option(
        None, "--retry", metavar="CALLBACK_ID", help="Process a failed or ignored callback again"
    ),
    as_json: bool = JsonOpt,
) -> None:
    """List the account's WeCom callbacks with their status and error; retry a failed one."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        account_id = service.find_account(db, actor, account).id
    if retry is not None:
        try:
            callback_id = uuid.UUID(retry)
        except ValueError as exc:
            raise InvalidInput(
                f"{retry!r} is not a callback id", hint="copy the id from `siyu wecom callbacks`"
            ) from exc
        with unit_of_work(actor) as db:
            inbox.reopen_callback(db, actor, account_id=account_id, callback_id=callback_id)
        jobs.queue_processing(actor.tenant_id, callback_id)
    with unit_of_work(actor) as db:
        found = [
            WeComCallbackRead.model_validate(c)
            for c in inbox.list_callbacks(
                db, actor, account_id=account_id, status=status, limit=limit
            )
        ]
    if as_json:
        out.print_json(json.dumps([c.model_dump(mode="json") for c in found]))
        return
    tz = ZoneInfo(actor.timezone)
    table = Table("received", "event", "status", "attempts", "error", "id", title="callbacks")
    for c in found:
        table.add_row(
            c.received_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            f"{c.event}/{c.change_type or ''}",
            c.status,
            str(c.attempts),
            c.error or "",
            str(c.id),
        )
    out.print(table)
