"""``/imports``: upload an order export (CSV/XLSX) and import it, with progress and a report.

The upload is saved to a temporary file; ``ingest.orders.import_orders`` runs in a worker thread
(``in_tenant``). Its progress callback only stores numbers; a ``ui.timer`` copies them to the
progress bar in the browser's context. In abort mode a bad row means nothing was written.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from nicegui import ui
from nicegui.events import UploadEventArguments
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import text
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.errors import AppError, FieldError
from siyu.ingest.orders import ImportAborted, ImportSummary, OnError, import_orders
from siyu.security.rbac import Perm, has

MAX_FILE_SIZE = 512 * 1024 * 1024
SOURCES = ("tmall", "jd", "pdd", "douyin", "pos")
AUTO = "auto"
_SUFFIXES = {".csv", ".xlsx"}


def register() -> None:
    nav.add(
        NavItem("nav.imports", "/imports", "upload_file", permission=Perm.ORDERS_WRITE, order=40)
    )

    @ui.page("/imports", response_timeout=PAGE_TIMEOUT)
    async def imports_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.imports"), path="/imports"):
            if not has(user.actor, Perm.ORDERS_WRITE):
                no_permission()
            else:
                build(user.actor)
        return None


def error_report(errors: list[FieldError]) -> bytes:
    """Return the errors as CSV (UTF-8 with BOM, so Excel opens it as Unicode)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            t("imports.col.row"),
            t("imports.col.column"),
            t("imports.col.value"),
            t("imports.col.reason"),
        ]
    )
    for e in errors:
        writer.writerow([e.row or "", e.column or "", e.value or "", e.reason])
    return out.getvalue().encode("utf-8-sig")


def _error_rows(errors: list[FieldError]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(n),
            "row": e.row if e.row is not None else "",
            "column": text(e.column),
            "value": text(e.value),
            "reason": e.reason,
        }
        for n, e in enumerate(errors)
    ]


def build(actor: Actor) -> None:
    progress: dict[str, int] = {"done": 0, "total": 0}
    running = {"on": False}

    ui.label(t("imports.intro")).classes("text-body2 text-grey-8")
    with ui.card().classes("w-full gap-3"):
        with ui.row().classes("w-full items-center gap-3"):
            source = (
                ui.select(
                    {AUTO: t("imports.source_auto")} | {s: t(f"source.{s}") for s in SOURCES},
                    value=AUTO,
                    label=t("imports.source"),
                )
                .props("outlined dense options-dense")
                .classes("min-w-48")
                .mark("import-source")
            )
            on_error = (
                ui.select(
                    {
                        OnError.SKIP.value: t("imports.on_error.skip"),
                        OnError.ABORT.value: t("imports.on_error.abort"),
                    },
                    value=OnError.SKIP.value,
                    label=t("imports.on_error"),
                )
                .props("outlined dense options-dense")
                .classes("min-w-60")
                .mark("import-on-error")
            )
        upload = (
            ui.upload(
                label=t("imports.upload"),
                auto_upload=True,
                max_file_size=MAX_FILE_SIZE,
                on_rejected=lambda: ui.notify(t("imports.rejected"), type="warning"),
            )
            .props('accept=".csv,.xlsx" flat bordered')
            .classes("w-full")
            .mark("import-upload")
        )
        bar = ui.linear_progress(value=0, show_value=False).props("instant-feedback")
        bar.set_visibility(False)
        status = ui.label().classes("text-caption text-grey-7").props("role=status")

    result = ui.column().classes("w-full gap-3")

    def tick() -> None:
        if not running["on"]:
            return
        done, total = progress["done"], progress["total"]
        bar.set_value(done / total if total else 0)
        status.set_text(t("imports.progress", done=f"{done:,}", total=f"{total:,}"))

    ui.timer(0.3, tick)

    def show(summary: ImportSummary, *, aborted: bool) -> None:
        result.clear()
        with result:
            if aborted:
                with ui.card().classes("w-full bg-red-1").props("role=alert"):
                    ui.label(t("imports.aborted")).classes("text-subtitle1 text-negative")
            ui.label(t("imports.summary")).classes("text-h6").props("role=heading aria-level=2")
            with ui.grid().classes("w-full grid-cols-2 md:grid-cols-4 gap-3"):
                for key, value in (
                    ("rows", summary.rows),
                    ("inserted", summary.inserted),
                    ("updated", summary.updated),
                    ("unchanged", summary.unchanged),
                    ("skipped", summary.skipped),
                    ("customers_created", summary.customers_created),
                    ("customers_matched", summary.customers_matched),
                    ("errors", len(summary.errors)),
                ):
                    label = t(f"imports.kpi.{key}")
                    with (
                        ui.card()
                        .classes("q-pa-md gap-1")
                        .props(f'role=group aria-label="{label}"')
                        .mark(f"import-{key}")
                    ):
                        ui.label(label).classes("text-caption text-grey-7")
                        ui.label(f"{value:,}").classes("text-h6 text-weight-bold")
            if not summary.errors:
                return
            with ui.row().classes("w-full items-center justify-between"):
                ui.label(t("imports.errors")).classes("text-h6").props("role=heading aria-level=2")
                report = error_report(summary.errors)
                ui.button(
                    t("imports.download"),
                    icon="download",
                    on_click=lambda: ui.download.content(report, "import-errors.csv", "text/csv"),
                ).props("outline no-caps").mark("download-errors")
            columns = [
                {"name": n, "label": t(f"imports.col.{n}"), "field": n, "align": "left"}
                for n in ("row", "column", "value", "reason")
            ]
            data_table(
                columns,
                rows=_error_rows(summary.errors),
                label=t("imports.errors"),
                empty=t("imports.no_errors"),
            ).props("rows-per-page-options=[20,50,100,0]").mark("import-errors")

    async def uploaded(e: UploadEventArguments) -> None:
        upload.reset()
        name = e.file.name or "upload.csv"
        suffix = Path(name).suffix.lower()
        if suffix not in _SUFFIXES:
            ui.notify(t("imports.wrong_type"), type="warning")
            return
        if running["on"]:
            ui.notify(t("imports.busy"), type="warning")
            return
        chosen = source.value if source.value != AUTO else None
        mode = OnError(on_error.value)
        workdir = Path(tempfile.mkdtemp(prefix="siyu-import-"))
        path = workdir / f"upload{suffix}"

        def report_progress(done: int, total: int) -> None:
            progress["done"], progress["total"] = done, total

        running["on"] = True
        progress["done"] = progress["total"] = 0
        bar.set_value(0)
        bar.set_visibility(True)
        upload.disable()
        status.set_text(t("imports.running", name=name))
        result.clear()
        try:
            await e.file.save(path)
            summary = await in_tenant(
                actor,
                lambda db: import_orders(
                    db, actor, path, source=chosen, on_error=mode, progress=report_progress
                ),
            )
        except ImportAborted as exc:
            status.set_text(t("imports.aborted"))
            show(exc.summary, aborted=True)
            return
        except AppError as exc:
            status.set_text("")
            show_error(exc)
            return
        finally:
            running["on"] = False
            bar.set_visibility(False)
            upload.enable()
            shutil.rmtree(workdir, ignore_errors=True)
        status.set_text(t("imports.done", name=name))
        show(summary, aborted=False)

    upload.on_upload(uploaded)
