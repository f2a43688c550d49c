"""``siyu transfer``: hand a member's customers to others (离职继承 / 在职继承) and follow it.

``siyu transfer customers`` creates the transfer and sends it to WeCom at once (in this
process), then prints the counts; ``refresh`` asks WeCom for the outcome of waiting customers
(the worker also does so every ten minutes).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from siyu.cli.context import open_database, tenant_actor
from siyu.core.actor import Actor
from siyu.core.batches import field_errors
from siyu.core.db import unit_of_work
from siyu.core.errors import FieldError, InvalidInput
from siyu.transfers import flows, service
from siyu.transfers.models import ItemStatus, TransferKind
from siyu.transfers.schemas import (
    TransferBatchRead,
    TransferCreate,
    TransferDetail,
    TransferRetry,
)

app = typer.Typer(
    help="Transfers of customers and groups between staff (离职继承 / 在职继承).",
    no_args_is_help=True,
)
out = Console()

TenantOpt = typer.Option(..., "--tenant", help="Tenant slug")
AccountOpt = typer.Option(
    None, "--account", help="WeCom account name or id (needed when the tenant has several)"
)
JsonOpt = typer.Option(False, "--json", help="Print JSON")
STATUSES = ", ".join(s.value for s in ItemStatus)


def _open(tenant: str) -> Actor:
    """Open the database and return the tenant's actor; logs go to stderr, output to stdout."""
    open_database()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    return tenant_actor(tenant)


def _userids(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def _customer_ids(path: Path | None) -> list[uuid.UUID] | None:
    """Read customer ids, one per line (blank lines and ``#`` comments skipped)."""
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {path}: {exc.strerror}", hint="pass a text file of customer ids"
        ) from exc
    ids: list[uuid.UUID] = []
    errors: list[FieldError] = []
    for number, line in enumerate(lines, start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            errors.append(FieldError(reason="not a customer id", row=number, value=value))
    if errors:
        raise InvalidInput(
            f"{path}: {len(errors)} line(s) are not customer ids (first: line {errors[0].row})",
            hint="write one customer id (a UUID, as the API and console show) per line",
            errors=errors,
        )
    if not ids:
        raise InvalidInput(f"{path} lists no customer ids", hint="one customer id per line")
    return ids


def _model(model: type[Any], **values: Any) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise InvalidInput(
            "; ".join(f"{e.field or 'input'}: {e.reason}" for e in errors[:3]),
            hint="see `siyu transfer customers --help`",
            errors=errors,
        ) from exc


def _counts_line(read: TransferBatchRead) -> str:
    c = read.counts
    parts = [
        f"{c.total} customers",
        f"{c.pending} pending",
        f"{c.waiting} waiting",
        f"{c.accepted} accepted",
        f"{c.refused} refused",
        f"{c.limit_reached} limit reached",
        f"{c.failed} failed",
    ]
    if read.group_counts.total:
        g = read.group_counts
        parts.append(f"groups: {g.accepted}/{g.total} accepted, {g.failed} failed")
    return ", ".join(parts)


def _print_detail(detail: TransferDetail, *, as_json: bool) -> None:
    if as_json:
        out.print_json(detail.model_dump_json())
        return
    out.print(
        f"[bold]transfer {detail.id}[/bold] ({detail.kind.value}) from {detail.handover_userid} "
        f"to {', '.join(detail.receivers)} — {detail.state.value}"
    )
    out.print(_counts_line(detail))
    table = Table("subject", "customer / group", "to", "status", "errcode", "detail")
    for item in detail.items:
        table.add_row(
            item.subject.value,
            item.customer_name or item.subject_key,
            item.takeover_userid,
            item.status.value,
            "" if item.errcode is None else str(item.errcode),
            item.detail,
        )
    out.print(table)
    if detail.next_cursor:
        out.print(f"more items: --cursor {detail.next_cursor}")


def _detail(actor: Actor, batch_id: uuid.UUID, **filters: Any) -> TransferDetail:
    with unit_of_work(actor) as db:
        result: TransferDetail = service.detail(db, actor, batch_id, **filters)
        return result


@app.command("customers")
def transfer_customers(
    from_userid: str = typer.Option(..., "--from", help="WeCom userid handing over"),
    to: str = typer.Option(
        ..., "--to", help="Receiving WeCom userid(s), comma-separated (shared in turn)"
    ),
    resigned: bool = typer.Option(
        False, "--resigned", help="The member has left (离职继承); default: in service (在职继承)"
    ),
    customers: Path | None = typer.Option(
        None, "--customers", help="File of customer ids, one per line (default: all)"
    ),
    groups: bool = typer.Option(False, "--groups", help="Also hand over the member's groups"),
    message: str | None = typer.Option(
        None, "--message", help="In service only: what customers see after the switch"
    ),
    tenant: str = TenantOpt,
    account: str | None = AccountOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Hand a member's customers (all, or those in --customers) to one or more receivers."""
    actor = _open(tenant)
    data: TransferCreate = _model(
        TransferCreate,
        kind=TransferKind.RESIGNED if resigned else TransferKind.IN_SERVICE,
        account=account,
        handover_userid=from_userid,
        receivers=_userids(to),
        customer_ids=_customer_ids(customers),
        include_groups=groups,
        transfer_success_msg=message,
    )
    batch_id = flows.start_transfer(actor, data=data)
    sent = flows.send(actor, batch_id)
    detail = _detail(actor, batch_id)
    if not as_json:
        for error in sent.errors:
            out.print(f"[yellow]{error}[/yellow] (`siyu transfer refresh {batch_id}` sends again)")
    _print_detail(detail, as_json=as_json)
    if not as_json and detail.counts.waiting:
        out.print(
            "Each customer has 24 hours to refuse; follow with "
            f"`siyu transfer refresh {batch_id} --tenant {tenant}`."
        )


@app.command("list")
def list_transfers(
    tenant: str = TenantOpt,
    handover: str | None = typer.Option(None, "--from", help="Only this handover member"),
    open_only: bool = typer.Option(False, "--open", help="Only transfers not finished yet"),
    limit: int = typer.Option(50, min=1, max=service.MAX_PAGE),
    as_json: bool = JsonOpt,
) -> None:
    """List transfers, newest first, with their counts."""
    actor = _open(tenant)
    with unit_of_work(actor) as db:
        page = service.list_batches(
            db, actor, handover_userid=handover, open_only=open_only, limit=limit
        )
        found = service.present(db, actor, page.items)
    if as_json:
        out.print_json(json.dumps([b.model_dump(mode="json") for b in found]))
        return
    table = Table("id", "kind", "from", "to", "state", "counts", "created")
    for b in found:
        table.add_row(
            str(b.id),
            b.kind.value,
            b.handover_userid,
            ", ".join(b.receivers),
            b.state.value,
            _counts_line(b),
            b.created_at.isoformat(timespec="seconds"),
        )
    out.print(table)


@app.command("show")
def show(
    transfer_id: uuid.UUID = typer.Argument(..., help="Transfer id"),
    tenant: str = TenantOpt,
    status: ItemStatus | None = typer.Option(None, "--status", help=f"Only items: {STATUSES}"),
    limit: int = typer.Option(100, min=1, max=service.MAX_PAGE),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of the last page"),
    as_json: bool = JsonOpt,
) -> None:
    """Show a transfer: counts per status and its items with errcode and detail."""
    actor = _open(tenant)
    detail = _detail(actor, transfer_id, status=status, limit=limit, cursor=cursor)
    _print_detail(detail, as_json=as_json)


@app.command("refresh")
def refresh(
    transfer_id: uuid.UUID = typer.Argument(..., help="Transfer id"),
    tenant: str = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Send items still pending and ask WeCom how the waiting customers are doing."""
    actor = _open(tenant)
    flows.refresh(actor, transfer_id)
    _print_detail(_detail(actor, transfer_id), as_json=as_json)


@app.command("retry")
def retry(
    transfer_id: uuid.UUID = typer.Argument(..., help="Transfer id"),
    to: str = typer.Option(..., "--to", help="Receiving WeCom userid(s), comma-separated"),
    tenant: str = TenantOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Hand a transfer's refused, limited and failed customers to other receivers."""
    actor = _open(tenant)
    data: TransferRetry = _model(TransferRetry, receivers=_userids(to))
    batch_id = flows.retry_transfer(actor, transfer_id, data=data)
    flows.send(actor, batch_id)
    _print_detail(_detail(actor, batch_id), as_json=as_json)


@app.command("unassigned")
def unassigned(
    tenant: str = TenantOpt, account: str | None = AccountOpt, as_json: bool = JsonOpt
) -> None:
    """List members who left with customers WeCom has not reassigned, and inactive staff."""
    actor = _open(tenant)
    found = flows.unassigned_members(actor, account=account)
    if as_json:
        out.print_json(json.dumps([m.model_dump(mode="json") for m in found]))
        return
    table = Table("userid", "staff", "unassigned customers", "left at")
    for m in found:
        table.add_row(
            m.userid,
            m.staff_name or "",
            str(m.customer_count),
            m.dimission_at.isoformat(timespec="seconds") if m.dimission_at else "",
        )
    out.print(table)
