"""``siyu codes``: channel codes (渠道活码) — create, list, show, change, disable, statistics."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from siyu.acquisition import flows, reports, service
from siyu.acquisition.models import CodeOwner
from siyu.acquisition.schemas import CodeCounts, CodeCreate, CodeRead, CodeUpdate, StatsReport
from siyu.channels import service as channels
from siyu.cli.context import open_database, tenant_actor
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import unit_of_work
from siyu.core.errors import FieldError, InvalidInput
from siyu.core.money import format_fen
from siyu.tenancy import service as tenancy

app = typer.Typer(
    help="Channel codes (渠道活码): WeCom QR codes that attribute every add.",
    no_args_is_help=True,
)
out = Console()
OWNERS = ", ".join(o.value for o in CodeOwner)

TenantOpt = typer.Option(..., "--tenant", help="Tenant slug")
JsonOpt = typer.Option(False, "--json", help="Print JSON")


def _open(tenant: str) -> Actor:
    """Open the database and return the tenant's actor; logs go to stderr, output to stdout."""
    open_database()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    return tenant_actor(tenant)


def _today(actor: Actor) -> date:
    return SYSTEM_CLOCK.now().astimezone(ZoneInfo(actor.timezone)).date()


def _org_unit(actor: Actor, value: str | None) -> uuid.UUID | None:
    """Return the id of an org unit given by id or by code."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    with unit_of_work(actor) as db:
        for unit in tenancy.list_org_units(db, actor):
            if unit.code == value:
                return unit.id
    raise InvalidInput(
        f"no org unit has the code {value!r}",
        hint="pass an org unit id or code; `siyu tenant` and the console's org page list them",
    )


def _welcome(text: str | None, welcome_file: Path | None) -> dict[str, Any] | None:
    if welcome_file is None:
        return None if text is None else {"text": text}
    try:
        data = json.loads(welcome_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read the welcome file {welcome_file}: {exc}",
            hint='write JSON like {"text": "您好 {customer_name}", "attachments": '
            '[{"msgtype": "image", "pic_url": "https://..."}]}',
        ) from exc
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{welcome_file} must hold a JSON object", hint="see docs/acquisition.md"
        )
    if text is not None:
        data["text"] = text
    return data


_M = TypeVar("_M", CodeCreate, CodeUpdate)


def _model(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            FieldError(field=".".join(map(str, e["loc"])), reason=e["msg"]) for e in exc.errors()
        ]
        raise InvalidInput(
            "; ".join(f"{e.field}: {e.reason}" for e in errors),
            hint="see `siyu codes create --help`",
            errors=errors,
        ) from exc


def _show(code: CodeRead, *, as_json: bool, verb: str | None = None) -> None:
    if as_json:
        out.print_json(code.model_dump_json())
        return
    if verb:
        out.print(f"[green]{verb} channel code {code.name!r} (state {code.state})[/green]")
    rows = [
        ("id", str(code.id)),
        ("state", code.state),
        ("owner", f"{code.owner_kind.value} {code.owner_label}".strip()),
        ("org unit", str(code.org_unit_id or "-")),
        ("staff", ", ".join(code.staff_userids)),
        ("rotation", "on" if code.is_rotating else "off"),
        ("daily cap per staff", str(code.daily_cap_per_staff or "-")),
        ("tags", ", ".join(code.tag_ids) or "-"),
        ("welcome text", str(code.welcome.get("text") or "-")),
        ("attachments", str(len(code.welcome.get("attachments") or []))),
        ("active", "yes" if code.is_active else "no"),
        ("QR code", code.qr_code or "-"),
    ]
    for label, value in rows:
        out.print(f"  {label}: {value}", highlight=False, soft_wrap=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="A name unique in the tenant, e.g. 'Store 1 counter'"),
    tenant: str = TenantOpt,
    owner: CodeOwner = typer.Option(..., help=f"Whom adds are credited to: {OWNERS}"),
    staff: list[str] = typer.Option(..., help="WeCom userid of a staff member (repeatable)"),
    state: str | None = typer.Option(None, help="≤ 30 characters; generated when left out"),
    org_unit: str | None = typer.Option(None, help="Org unit id or code (store, department)"),
    label: str = typer.Option("", help="Owner label, e.g. the agency or campaign name"),
    rotate: bool = typer.Option(False, help="Offer the staff members in turn"),
    daily_cap: int | None = typer.Option(None, min=1, help="Adds per staff per day (rotation)"),
    welcome: str | None = typer.Option(None, help="Welcome text; {customer_name}, {staff_name}"),
    welcome_file: Path | None = typer.Option(
        None, help="JSON file with the welcome text and attachments"
    ),
    tag: list[str] = typer.Option([], help="Corp tag id marked on every add (repeatable)"),
    verify: bool = typer.Option(False, help="Staff must accept each add (skip_verify off)"),
    account: str | None = typer.Option(None, help="WeCom account name or id (if several)"),
    as_json: bool = JsonOpt,
) -> None:
    """Create a code: a WeCom contact way, its QR code and its rules."""
    actor = _open(tenant)
    data: dict[str, Any] = {
        "name": name,
        "owner_kind": owner,
        "staff_userids": staff,
        "state": state,
        "org_unit_id": _org_unit(actor, org_unit),
        "owner_label": label,
        "is_rotating": rotate,
        "daily_cap_per_staff": daily_cap,
        "welcome": _welcome(welcome, welcome_file),
        "tag_ids": tag,
        "skip_verify": not verify,
    }
    if account is not None:
        with unit_of_work(actor) as db:
            data["account_id"] = channels.find_account(db, actor, account).id
    code = flows.create_code(actor, _model(CodeCreate, data))
    _show(code, as_json=as_json, verb="created")


@app.command("list")
def list_codes(
    tenant: str = TenantOpt,
    since: str | None = typer.Option(None, help="First day YYYY-MM-DD (default: 1st of month)"),
    until: str | None = typer.Option(None, help="Last day YYYY-MM-DD (default: today)"),
    include_inactive: bool = typer.Option(False, "--all", help="Include disabled codes"),
    as_json: bool = JsonOpt,
) -> None:
    """List codes with adds, net adds and net GMV over a period."""
    actor = _open(tenant)
    items: list[tuple[CodeRead, CodeCounts]] = []
    cursor: str | None = None
    with unit_of_work(actor) as db:
        while True:
            page = reports.list_codes(
                db,
                actor,
                today=_today(actor),
                since=_day(since, "--since"),
                until=_day(until, "--until"),
                include_inactive=include_inactive,
                limit=reports.MAX_PAGE,
                cursor=cursor,
            )
            items.extend((CodeRead.model_validate(c), s) for c, s in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    if as_json:
        rows = [c.model_dump(mode="json") | {"stats": s.model_dump()} for c, s in items]
        out.print_json(
            json.dumps({"since": str(page.since), "until": str(page.until), "items": rows})
        )
        return
    table = Table(
        "name",
        "state",
        "owner",
        "staff",
        "adds",
        "new",
        "net",
        "net GMV",
        "active",
        title=f"{page.since} – {page.until}",
    )
    for code, counts in items:
        table.add_row(
            code.name,
            code.state,
            f"{code.owner_kind.value} {code.owner_label}".strip(),
            ", ".join(code.staff_userids),
            str(counts.adds),
            str(counts.new_customers),
            str(counts.net_adds),
            format_fen(counts.net_gmv_fen),
            "yes" if code.is_active else "no",
        )
    out.print(table)


@app.command("show")
def show(
    code: str = typer.Argument(..., help="Code id, name or state"),
    tenant: str = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show a code, with its QR code URL."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        found = CodeRead.model_validate(service.find_code(db, actor, code))
    _show(found, as_json=as_json)


@app.command("update")
def update(
    code: str = typer.Argument(..., help="Code id, name or state"),
    tenant: str = TenantOpt,
    name: str | None = typer.Option(None, help="New name"),
    owner: CodeOwner | None = typer.Option(None, help=f"Owner kind: {OWNERS}"),
    staff: list[str] = typer.Option([], help="Replace the staff (repeatable WeCom userids)"),
    org_unit: str | None = typer.Option(None, help="Org unit id or code"),
    label: str | None = typer.Option(None, help="Owner label"),
    rotate: bool | None = typer.Option(None, "--rotate/--no-rotate", help="Rotation"),
    daily_cap: int | None = typer.Option(None, min=1, help="Adds per staff per day"),
    no_cap: bool = typer.Option(False, "--no-cap", help="Remove the daily cap"),
    welcome: str | None = typer.Option(None, help="Welcome text"),
    welcome_file: Path | None = typer.Option(None, help="JSON file with text and attachments"),
    no_welcome: bool = typer.Option(False, "--no-welcome", help="Remove the welcome message"),
    tag: list[str] = typer.Option([], help="Replace the tags (repeatable corp tag ids)"),
    no_tags: bool = typer.Option(False, "--no-tags", help="Remove every tag"),
    verify: bool | None = typer.Option(None, "--verify/--no-verify", help="Staff accept adds"),
    as_json: bool = JsonOpt,
) -> None:
    """Change a code; what WeCom holds (staff, name, verification) changes there too."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        code_id = service.find_code(db, actor, code).id
    data: dict[str, Any] = {}
    for key, value in (
        ("name", name),
        ("owner_kind", owner),
        ("owner_label", label),
        ("is_rotating", rotate),
        ("daily_cap_per_staff", daily_cap),
    ):
        if value is not None:
            data[key] = value
    if staff:
        data["staff_userids"] = staff
    if org_unit is not None:
        data["org_unit_id"] = _org_unit(actor, org_unit)
    if no_cap:
        data["daily_cap_per_staff"] = None
    if welcome is not None or welcome_file is not None:
        data["welcome"] = _welcome(welcome, welcome_file)
    if no_welcome:
        data["welcome"] = None
    if tag or no_tags:
        data["tag_ids"] = tag
    if verify is not None:
        data["skip_verify"] = not verify
    changed = flows.update_code(actor, code_id, _model(CodeUpdate, data))
    _show(changed, as_json=as_json, verb="updated")


@app.command("disable")
def disable(
    code: str = typer.Argument(..., help="Code id, name or state"),
    tenant: str = TenantOpt,
) -> None:
    """Disable a code: its WeCom contact way is deleted, its history stays."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        code_id = service.find_code(db, actor, code).id
    disabled = flows.disable_code(actor, code_id)
    out.print(f"[green]disabled channel code {disabled.name!r} (state {disabled.state})[/green]")


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("write the day as YYYY-MM-DD", param_hint=option) from exc


@app.command("stats")
def stats(
    code: str | None = typer.Argument(None, help="Code id, name or state (default: every code)"),
    tenant: str = TenantOpt,
    since: str | None = typer.Option(None, help="First day YYYY-MM-DD (default: 1st of month)"),
    until: str | None = typer.Option(None, help="Last day YYYY-MM-DD (default: today)"),
    window: int = typer.Option(
        reports.DEFAULT_DELETION_WINDOW_DAYS,
        min=1,
        max=365,
        help="A deletion within this many days of the add is a loss",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Adds, new customers, re-adds, deletions, net adds, first orders and net GMV per code."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        code_id = service.find_code(db, actor, code).id if code is not None else None
        report = reports.code_stats(
            db,
            actor,
            code_id,
            since=_day(since, "--since"),
            until=_day(until, "--until"),
            today=_today(actor),
            deletion_window_days=window,
        )
    if as_json:
        out.print_json(report.model_dump_json())
        return
    _print_report(report)


def _print_report(report: StatsReport) -> None:
    columns = (
        "adds",
        "new",
        "re-adds",
        "deleted",
        f"lost ≤{report.deletion_window_days}d",
        "net adds",
        "first orders",
        "net GMV",
    )
    table = Table("code", "owner", *columns, title=f"{report.since} – {report.until}")

    def cells(c: CodeCounts) -> list[str]:
        return [
            str(c.adds),
            str(c.new_customers),
            str(c.re_adds),
            str(c.deletions),
            str(c.deletions_within_window),
            str(c.net_adds),
            str(c.first_orders),
            format_fen(c.net_gmv_fen),
        ]

    for item in report.codes:
        table.add_row(
            item.name, f"{item.owner_kind.value} {item.owner_label}".strip(), *cells(item)
        )
    table.add_row("[bold]total[/bold]", "", *cells(report.totals))
    out.print(table)
