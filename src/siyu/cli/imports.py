"""``siyu import``: order exports from Tmall, JD, PDD, Douyin, POS and mapped files."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from siyu.cli.context import open_database, progress_bars, tenant_actor
from siyu.core.db import unit_of_work
from siyu.ingest.orders import ImportAborted, ImportSummary, OnError, import_orders

app = typer.Typer(help="Import data files.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _print(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(summary.as_dict(), ensure_ascii=False, default=str))
        return
    table = Table(
        "rows",
        "inserted",
        "updated",
        "unchanged",
        "skipped",
        "customers created",
        "customers matched",
        title=f"import from {summary.source}",
    )
    table.add_row(
        *(
            str(v)
            for v in (
                summary.rows,
                summary.inserted,
                summary.updated,
                summary.unchanged,
                summary.skipped,
                summary.customers_created,
                summary.customers_matched,
            )
        )
    )
    out.print(table)
    if summary.errors:
        bad = Table("row", "column", "value", "reason", title=f"{len(summary.errors)} bad values")
        for e in summary.errors[:200]:
            bad.add_row(str(e.row or ""), e.column or "", e.value or "", e.reason)
        err.print(bad)


@app.command("orders")
def orders(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or XLSX export"),
    tenant: str = typer.Option(..., help="Tenant slug"),
    source: str | None = typer.Option(
        None, help="tmall, jd, pdd, douyin, pos or generic (default: detected from the header)"
    ),
    on_error: OnError = typer.Option(OnError.SKIP, help="skip bad rows, or abort the whole file"),
    mapping: str | None = typer.Option(
        None, help='generic files: JSON {"field": "header"}, e.g. {"external_id": "单号"}'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON"),
    errors_csv: Path | None = typer.Option(None, help="Write the bad rows report to this CSV"),
) -> None:
    """Import an order export; idempotent by (source, order id)."""
    open_database()
    actor = tenant_actor(tenant)
    columns = json.loads(mapping) if mapping else None
    with progress_bars(err, label="importing", hidden=as_json) as bar:
        task = bar.add_task("rows", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            with unit_of_work(actor) as db:
                summary = import_orders(
                    db,
                    actor,
                    file,
                    source=source,
                    mapping=columns,
                    on_error=on_error,
                    progress=progress,
                )
        except ImportAborted as exc:
            summary = exc.summary
            _finish(summary, as_json, errors_csv)
            raise typer.Exit(2) from exc
    _finish(summary, as_json, errors_csv)


def _finish(summary: ImportSummary, as_json: bool, errors_csv: Path | None) -> None:
    _print(summary, as_json)
    if errors_csv is not None:
        import csv

        with errors_csv.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "column", "value", "reason"])
            for e in summary.errors:
                writer.writerow([e.row, e.column, e.value, e.reason])
