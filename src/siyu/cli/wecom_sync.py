"""``siyu wecom sync``, ``siyu wecom reconcile`` and ``siyu wecom groups``.

``sync`` and ``reconcile`` run in this process (no worker needed) with a Rich progress bar per
stage; the run is recorded in the account's sync state exactly as a run started from the API or
the console, so ``GET /api/v1/channel-accounts/{id}/sync`` and the console show it too.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog
import typer
from rich.console import Console
from rich.progress import (
    TaskID,
)
from rich.table import Table
from sqlalchemy.orm import Session

from siyu.channels import service as channels
from siyu.channels.sync_schemas import SyncRunRead, SyncStatusRead
from siyu.channels.wecom import reconcile, sync, sync_state
from siyu.channels.wecom.sync import SyncReport
from siyu.channels.wecom.sync_state import STAGES, SyncMode
from siyu.cli.channels import wecom_app
from siyu.cli.context import open_database, progress_bars, tenant_actor
from siyu.core.actor import Actor
from siyu.core.db import unit_of_work
from siyu.core.errors import NotFound
from siyu.groups import service as groups
from siyu.groups.models import GroupStatus

out = Console()
err = Console(stderr=True)

TenantOpt = typer.Option(..., "--tenant", help="Tenant slug")
AccountOpt = typer.Option(
    None, "--account", help="Account name or id (may be left out when the tenant has one)"
)
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of tables")
STAGE_LABELS = {
    "members": "members and their customer ids",
    "tags": "corp tags",
    "contacts": "customers and relations",
    "relations": "relations WeCom no longer lists",
    "groups": "customer groups",
}


def _open(tenant: str, account: str | None) -> tuple[Actor, uuid.UUID]:
    """Open the database; return the tenant's actor and the account's id (logs to stderr)."""
    open_database()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    actor = tenant_actor(tenant)
    with unit_of_work(actor) as db:
        return actor, channels.find_account(db, actor, account).id


def _run(mode: SyncMode, tenant: str, account: str | None, as_json: bool) -> None:
    actor, account_id = _open(tenant, account)
    with progress_bars(err, label="{task.description:<34}", hidden=as_json) as bar:
        tasks: dict[str, TaskID] = {
            stage: bar.add_task(STAGE_LABELS[stage], total=None) for stage in STAGES[mode]
        }

        totals: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            totals[stage] = total
            bar.update(tasks[stage], completed=done, total=total or None)

        run = sync.run_full_sync if mode is SyncMode.FULL else reconcile.reconcile_account
        report = run(actor, account_id, progress=progress)
        for stage, task in tasks.items():  # a stage with nothing to do shows as complete
            if not totals.get(stage):
                bar.update(task, total=1, completed=1)
    _report(report, as_json)


def _report(report: SyncReport, as_json: bool) -> None:
    if as_json:
        data = {
            "mode": report.mode.value,
            "run_id": report.run_id,
            "seconds": report.seconds,
            "counts": report.counts,
            "unmapped_members": report.unmapped_members,
            "skipped_members": report.skipped_members,
            "repairs": report.repairs,
        }
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    title = "full sync" if report.mode is SyncMode.FULL else "reconciliation"
    table = Table("count", "value", title=f"{title} done in {report.seconds:.1f} s")
    for name, value in sorted(report.counts.items()):
        table.add_row(name.replace("_", " "), str(value))
    out.print(table)
    if report.mode is SyncMode.RECONCILE:
        out.print(f"repaired: {report.repaired}")
        for repair in report.repairs[:50]:
            subject = repair.get("external_userid") or repair.get("chat_id") or ""
            out.print(f"  {repair['kind']:<18} {repair.get('userid', '')} {subject}".rstrip())
    if report.unmapped_members:
        out.print(
            f"[yellow]{len(report.unmapped_members)} WeCom members have no staff record:[/yellow] "
            + ", ".join(report.unmapped_members[:20])
        )
        out.print("map them: `siyu tenant staff …` / the console's staff page (WeCom userid)")
    for skipped in report.skipped_members[:20]:
        out.print(
            f"[yellow]skipped member {skipped['userid']} (WeCom errcode {skipped['errcode']})"
            "[/yellow]"
        )


def _when(at: datetime | None, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if at else "never"


def _show_status(status: SyncStatusRead, tz: ZoneInfo, as_json: bool) -> None:
    if as_json:
        out.print_json(status.model_dump_json())
        return
    table = Table(
        "", "status", "stage", "progress", "started", "finished", title=status.account_name
    )

    def row(label: str, run: SyncRunRead | None) -> None:
        if run is None:
            table.add_row(label, "never", "", "", "", "")
            return
        table.add_row(
            label,
            run.status.value + (f" ({run.error.detail})" if run.error else ""),
            run.stage or "",
            f"{run.percent}%",
            _when(run.started_at, tz),
            _when(run.finished_at, tz),
        )

    row("full sync", status.full)
    row("reconciliation", status.reconcile)
    out.print(table)
    out.print(
        f"reconciled every {status.reconcile_every_minutes} min; next at "
        f"{_when(status.next_reconcile_at, tz)}"
    )


@wecom_app.command("sync")
def sync_command(
    tenant: str = TenantOpt,
    account: str | None = AccountOpt,
    status: bool = typer.Option(False, "--status", help="Show the last runs; do not sync"),
    as_json: bool = JsonOpt,
) -> None:
    """Read members, corp tags, customers, relations and groups from WeCom into siyu."""
    if status:
        actor, account_id = _open(tenant, account)
        with unit_of_work(actor) as db:
            read = SyncStatusRead.of(sync_state.get_state(db, actor, account_id))
        _show_status(read, ZoneInfo(actor.timezone), as_json)
        return
    _run(SyncMode.FULL, tenant, account, as_json)


@wecom_app.command("reconcile")
def reconcile_command(
    tenant: str = TenantOpt,
    account: str | None = AccountOpt,
    every: int | None = typer.Option(
        None,
        "--every",
        help="Set how often the schedule reconciles the account (minutes, 5-10080); no run",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Compare WeCom with siyu now and repair what differs (or set the schedule)."""
    if every is None:
        _run(SyncMode.RECONCILE, tenant, account, as_json)
        return
    actor, account_id = _open(tenant, account)
    with unit_of_work(actor) as db:
        read = SyncStatusRead.of(
            sync_state.set_reconcile_period(db, actor, account_id, minutes=every)
        )
    _show_status(read, ZoneInfo(actor.timezone), as_json)


@wecom_app.command("groups")
def groups_command(
    group: str | None = typer.Argument(None, help="A group's id or chat id: show its members"),
    tenant: str = TenantOpt,
    account: str | None = AccountOpt,
    status: GroupStatus | None = typer.Option(None, help="active or dismissed"),
    q: str | None = typer.Option(None, "--q", help="Name contains, or a chat id"),
    limit: int = typer.Option(50, min=1, max=groups.MAX_PAGE),
    as_json: bool = JsonOpt,
) -> None:
    """List the customer groups synced from WeCom, or one group with its members."""
    actor, account_id = _open(tenant, account)
    tz = ZoneInfo(actor.timezone)
    with unit_of_work(actor) as db:
        if group is not None:
            detail = groups.group_detail(db, actor, _group_id(db, actor, account_id, group))
            if as_json:
                out.print_json(detail.model_dump_json())
                return
            table = Table("member", "kind", "name", "joined", "left", title=detail.name)
            for m in detail.members:
                table.add_row(
                    m.member_userid,
                    m.kind.value,
                    m.customer_name or m.staff_name or "",
                    _when(m.joined_at, tz),
                    _when(m.left_at, tz) if m.left_at else "",
                )
            out.print(table)
            return
        page = groups.list_groups(db, actor, account_id=account_id, status=status, q=q, limit=limit)
        reads = groups.present(db, actor, page.items)
    if as_json:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in reads], ensure_ascii=False))
        return
    table = Table("chat id", "name", "owner", "members", "customers", "status", "synced")
    for r in reads:
        table.add_row(
            r.chat_id,
            r.name,
            r.owner_name or r.owner_userid,
            str(r.member_count),
            str(r.customer_count),
            r.status.value,
            _when(r.last_synced_at, tz),
        )
    out.print(table)
    if page.next_cursor:
        out.print(f"more than {limit} groups: narrow with --q or --status, or raise --limit")


def _group_id(db: Session, actor: Actor, account_id: uuid.UUID, group: str) -> uuid.UUID:
    try:
        return uuid.UUID(group)
    except ValueError:
        pass
    found = groups.list_groups(db, actor, account_id=account_id, q=group, limit=1)
    if not found.items or found.items[0].chat_id != group:
        raise NotFound(
            f"no group with chat id {group!r}", hint="list groups with `siyu wecom groups`"
        )
    return found.items[0].id
