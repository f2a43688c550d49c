"""``/channel-codes``: channel codes (渠道活码) with what each brought in over a period.

Readers see every code in their scope with adds, new customers, net adds, first orders and net
GMV for a date range, the totals, and the sums by owner kind and by org unit; a code's QR code
and its own statistics open in dialogs. Writers create and edit codes (owner, org unit, staff
from those with a WeCom userid, rotation and daily cap, welcome text with one attachment, corp
tags from the synced mirror or typed ids) and disable them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from nicegui import run, ui
from nicegui.events import GenericEventArguments
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.acquisition import flows, reports, service
from siyu.acquisition.models import CodeOwner
from siyu.acquisition.schemas import (
    CodeCounts,
    CodeCreate,
    CodeRead,
    CodeSummary,
    CodeUpdate,
    StatsReport,
)
from siyu.channels import service as channels
from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import DASH, money
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.errors import AppError, FieldError, InvalidInput
from siyu.security.rbac import Perm, has
from siyu.tenancy import service as tenancy

PATH = "/channel-codes"
COUNTS = (
    "adds",
    "new_customers",
    "re_adds",
    "deletions",
    "deletions_within_window",
    "net_adds",
    "first_orders",
    "net_gmv_fen",
)
ATTACHMENT_KINDS = ("none", "image", "link", "miniprogram")
T = TypeVar("T")


@dataclass(frozen=True)
class Overview:
    codes: list[CodeSummary]
    report: StatsReport
    units: dict[str, str]  # org unit id -> name


@dataclass(frozen=True)
class Choices:
    accounts: dict[str, str]
    units: dict[str, str]
    staff: dict[str, str]
    tags: dict[str, str]


def today(actor: Actor) -> date:
    return SYSTEM_CLOCK.now().astimezone(ZoneInfo(actor.timezone)).date()


def load(db: Session, actor: Actor, since: date | None, until: date | None) -> Overview:
    """Return every visible code (active first) with its counts, and the grouped report."""
    codes: list[CodeSummary] = []
    cursor: str | None = None
    while True:
        page = reports.list_codes(
            db,
            actor,
            today=today(actor),
            since=since,
            until=until,
            include_inactive=True,
            limit=reports.MAX_PAGE,
            cursor=cursor,
        )
        codes.extend(
            CodeSummary.model_validate(CodeRead.model_validate(c).model_dump() | {"stats": s})
            for c, s in page.items
        )
        cursor = page.next_cursor
        if cursor is None:
            break
    codes.sort(key=lambda c: not c.is_active)
    report = reports.code_stats(db, actor, None, since=since, until=until, today=today(actor))
    units = {str(u.id): u.name for u in tenancy.list_org_units(db, actor)}
    return Overview(codes=codes, report=report, units=units)


def choices(db: Session, actor: Actor) -> Choices:
    return Choices(
        accounts={str(a.id): a.name for a in channels.list_accounts(db, actor) if a.is_active},
        units={str(u.id): u.name for u in tenancy.list_org_units(db, actor)},
        staff={c.value: c.label for c in service.staff_choices(db, actor)},
        tags={c.value: c.label for c in service.tag_choices(db, actor)},
    )


def code_report(
    db: Session, actor: Actor, code_id: uuid.UUID, since: date | None, until: date | None
) -> StatsReport:
    return reports.code_stats(db, actor, code_id, since=since, until=until, today=today(actor))


async def _call(fn: Callable[..., T], *args: Any) -> T:
    """Run a flow (it opens its own units of work and calls WeCom) in a worker thread."""
    result: T | None = await run.io_bound(fn, *args)
    if result is None:
        raise RuntimeError("the console is shutting down")
    return result


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _validated(model: type[Any], data: dict[str, Any]) -> Any:
    """Return ``model`` built from the form, or raise ``InvalidInput`` naming the fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            FieldError(field=".".join(map(str, e["loc"])), reason=e["msg"]) for e in exc.errors()
        ]
        raise InvalidInput(
            "; ".join(f"{e.field}: {e.reason}" for e in errors),
            hint=t("codes.form_hint"),
            errors=errors,
        ) from exc


def register() -> None:
    nav.add(NavItem("nav.codes", PATH, "qr_code_2", permission=Perm.ACQUISITION_READ, order=45))

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def codes_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.codes"), path=PATH):
            if not has(user.actor, Perm.ACQUISITION_READ):
                no_permission()
            else:
                await build(user.actor)
        return None


GROUP_COUNTS = ("adds", "new_customers", "net_adds", "first_orders", "net_gmv_fen")


def _count_breakpoint(name: str) -> str:
    """Return below which screen size a count's column hides (the key ones always show)."""
    if name in ("adds", "net_adds", "net_gmv_fen"):
        return ""
    return "gt-xs" if name in GROUP_COUNTS else "gt-md"


def _hidden_below(breakpoint: str) -> dict[str, str]:
    """Return column classes that hide it on screens narrower than ``breakpoint``."""
    return {"classes": breakpoint, "headerClasses": breakpoint} if breakpoint else {}


def _count_columns(names: tuple[str, ...] = COUNTS) -> list[dict[str, Any]]:
    return [
        {"name": n, "label": t(f"codes.count.{n}"), "field": n, "align": "right"}
        | _hidden_below(_count_breakpoint(n))
        for n in names
    ]


def _count_cells(counts: CodeCounts) -> dict[str, Any]:
    cells: dict[str, Any] = {n: getattr(counts, n) for n in COUNTS}
    cells["net_gmv_fen"] = money(counts.net_gmv_fen)
    return cells


def _action(
    event: str, label: str, icon: str, *, show_if: str = "true", color: str = "primary"
) -> str:
    return (
        f'<q-btn v-if="{show_if}" flat dense round color="{color}" icon="{icon}" '
        f":aria-label=\"'{label} ' + props.row.name\" :title=\"'{label}'\" "
        f"@click=\"() => $parent.$emit('{event}', props.row)\" />"
    )


async def build(actor: Actor) -> None:
    can_write = has(actor, Perm.ACQUISITION_WRITE)
    state: dict[str, Any] = {"codes": {}}

    async def refresh() -> None:
        since, until = _day(since_input.value), _day(until_input.value)
        try:
            overview = await in_tenant(actor, lambda db: load(db, actor, since, until))
        except AppError as exc:
            show_error(exc)
            return
        show(overview)

    def show(overview: Overview) -> None:
        report = overview.report
        state["codes"] = {str(c.id): c for c in overview.codes}
        period.set_text(t("codes.period", since=report.since, until=report.until))
        totals.clear()
        with totals:
            for name in (
                "adds",
                "new_customers",
                "net_adds",
                "deletions",
                "first_orders",
                "net_gmv_fen",
            ):
                value = getattr(report.totals, name)
                with ui.card().classes("q-pa-sm min-w-32").props("flat bordered"):
                    ui.label(t(f"codes.count.{name}")).classes("text-caption text-grey-7")
                    ui.label(money(value) if name == "net_gmv_fen" else str(value)).classes(
                        "text-h6"
                    ).mark(f"total-{name}")
        table.rows = [
            {
                "id": str(c.id),
                "name": c.name,
                "state": c.state,
                "owner": " ".join(
                    x for x in (t(f"codes.owner.{c.owner_kind.value}"), c.owner_label) if x
                ),
                "unit": overview.units.get(str(c.org_unit_id), DASH) if c.org_unit_id else DASH,
                "staff": ", ".join(c.staff_userids),
                "status": t("codes.status.active" if c.is_active else "codes.status.disabled"),
                "active": c.is_active,
                "has_qr": bool(c.qr_code),
                **_count_cells(c.stats),
            }
            for c in overview.codes
        ]
        table.update()
        kind_table.rows = [
            {
                "id": g.key or "-",
                "group": t(f"codes.owner.{g.key}"),
                "codes": g.code_count,
                **_count_cells(g),
            }
            for g in report.by_owner_kind
        ]
        kind_table.update()
        unit_table.rows = [
            {
                "id": g.key or "-",
                "group": overview.units.get(g.key, DASH) if g.key else t("codes.no_unit"),
                "codes": g.code_count,
                **_count_cells(g),
            }
            for g in report.by_org_unit
        ]
        unit_table.update()

    def row_code(e: GenericEventArguments) -> CodeSummary | None:
        row = e.args if isinstance(e.args, dict) else {}
        code: CodeSummary | None = state["codes"].get(str(row.get("id")))
        return code

    async def open_form(code: CodeSummary | None = None) -> None:
        try:
            options = await in_tenant(actor, lambda db: choices(db, actor))
        except AppError as exc:
            show_error(exc)
            return
        saved = await _form_dialog(actor, options, code)
        if saved is not None:
            ui.notify(t("codes.saved", name=saved.name), type="positive")
            if code is None and saved.qr_code:
                _qr_dialog(saved.name, saved.state, saved.qr_code)
            await refresh()

    async def edit(e: GenericEventArguments) -> None:
        code = row_code(e)
        if code is not None:
            await open_form(code)

    async def disable(e: GenericEventArguments) -> None:
        code = row_code(e)
        if code is None:
            return
        with ui.dialog() as dialog, ui.card().props("role=alertdialog"):
            ui.label(t("codes.disable_confirm", name=code.name)).classes("text-body1")
            with ui.row().classes("w-full justify-end"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(
                    t("codes.disable"), color="negative", on_click=lambda: dialog.submit(True)
                ).props("unelevated no-caps").mark("confirm-disable-code")
        if not await dialog:
            return
        try:
            await _call(flows.disable_code, actor, code.id)
        except AppError as exc:
            show_error(exc)
            return
        ui.notify(t("codes.disabled_notice", name=code.name), type="positive")
        await refresh()

    def qr(e: GenericEventArguments) -> None:
        code = row_code(e)
        if code is not None and code.qr_code:
            _qr_dialog(code.name, code.state, code.qr_code)

    async def stats(e: GenericEventArguments) -> None:
        code = row_code(e)
        if code is not None:
            await _stats_dialog(actor, code, _day(since_input.value), _day(until_input.value))

    ui.label(t("codes.intro")).classes("text-body2 text-grey-8")
    first = today(actor).replace(day=1)
    with ui.row().classes("w-full items-end gap-2"):
        since_input = (
            ui.input(t("codes.since"), value=first.isoformat())
            .props("outlined dense type=date")
            .mark("codes-since")
        )
        until_input = (
            ui.input(t("codes.until"), value=today(actor).isoformat())
            .props("outlined dense type=date")
            .mark("codes-until")
        )
        ui.button(t("codes.apply"), icon="refresh", on_click=refresh).props("outline no-caps").mark(
            "codes-apply"
        )
        ui.space()
        if can_write:
            ui.button(t("codes.new"), icon="add", on_click=lambda: open_form()).props(
                "unelevated no-caps"
            ).mark("new-code")
    period = ui.label().classes("text-caption text-grey-7")
    totals = ui.row().classes("w-full gap-2").props(f'role=region aria-label="{t("codes.totals")}"')

    def column(name: str, *, hide_below: str = "") -> dict[str, Any]:
        spec = {"name": name, "label": t(f"codes.col.{name}"), "field": name, "align": "left"}
        return spec | _hidden_below(hide_below)

    columns = [
        column("name"),
        column("state", hide_below="gt-sm"),
        column("owner"),
        column("unit", hide_below="gt-sm"),
        column("staff", hide_below="gt-md"),
        *_count_columns(),
        {"name": "status", "label": t("codes.col.status"), "field": "status", "align": "left"},
        {"name": "actions", "label": t("codes.col.actions"), "field": "id", "align": "right"},
    ]
    table = data_table(columns, label=t("codes.table"), empty=t("codes.empty")).mark("codes-table")
    table.add_slot(
        "body-cell-actions",
        '<q-td :props="props">'
        + _action("qr", t("codes.qr"), "qr_code_2", show_if="props.row.has_qr")
        + _action("stats", t("codes.stats"), "insights")
        + (
            _action("edit", t("codes.edit"), "edit", show_if="props.row.active")
            + _action(
                "disable", t("codes.disable"), "block", show_if="props.row.active", color="negative"
            )
            if can_write
            else ""
        )
        + "</q-td>",
    )
    table.on("qr", qr)
    table.on("stats", stats)
    table.on("edit", edit)
    table.on("disable", disable)

    group_columns = [
        {"name": "group", "label": t("codes.col.group"), "field": "group", "align": "left"},
        {"name": "codes", "label": t("codes.col.codes"), "field": "codes", "align": "right"},
        *_count_columns(GROUP_COUNTS),
    ]
    with ui.row().classes("w-full gap-4 no-wrap-md"):
        with ui.column().classes("col-12 col-md gap-1"):
            ui.label(t("codes.by_owner")).classes("text-subtitle1").props(
                "role=heading aria-level=2"
            )
            kind_table = data_table(group_columns, label=t("codes.by_owner"), empty=DASH)
        with ui.column().classes("col-12 col-md gap-1"):
            ui.label(t("codes.by_unit")).classes("text-subtitle1").props(
                "role=heading aria-level=2"
            )
            unit_table = data_table(group_columns, label=t("codes.by_unit"), empty=DASH)
    await refresh()


def _qr_dialog(name: str, state: str, qr_code: str) -> None:
    heading = t("codes.qr_heading", name=name)
    with (
        ui.dialog() as dialog,
        ui.card().classes("items-center").props(f'role=dialog aria-label="{heading}"'),
    ):
        ui.label(heading).classes("text-h6").props("role=heading aria-level=2")
        # a plain <img>: WeCom's QR URL stays in the page (and its alt text shows) even when
        # the browser cannot load it, where QImg would drop it
        qr = ui.element("img").classes("w-64 h-64 object-contain")
        qr.props["src"] = qr_code
        qr.props["alt"] = heading
        ui.label(t("codes.qr_state", state=state)).classes("text-caption")
        ui.link(t("codes.qr_open"), qr_code, new_tab=True).mark("qr-link")
        with ui.row().classes("w-full justify-end gap-2"):

            def copy() -> None:
                ui.clipboard.write(qr_code)
                ui.notify(t("codes.copied"), type="positive")

            ui.button(t("codes.copy_link"), icon="content_copy", on_click=copy).props(
                "outline no-caps"
            )
            ui.button(t("common.close"), on_click=dialog.close).props("unelevated no-caps")
    dialog.open()


async def _stats_dialog(
    actor: Actor, code: CodeSummary, since: date | None, until: date | None
) -> None:
    heading = t("codes.stats_heading", name=code.name)
    with (
        ui.dialog() as dialog,
        ui.card().classes("w-full max-w-2xl").props(f'role=dialog aria-label="{heading}"'),
    ):
        ui.label(heading).classes("text-h6").props("role=heading aria-level=2")
        with ui.row().classes("items-end gap-2"):
            start = ui.input(t("codes.since"), value=since.isoformat() if since else "").props(
                "outlined dense type=date"
            )
            end = ui.input(t("codes.until"), value=until.isoformat() if until else "").props(
                "outlined dense type=date"
            )
            window = (
                ui.number(t("codes.window"), value=7, min=1, max=365, format="%d")
                .props("outlined dense")
                .classes("w-32")
            )
            apply = ui.button(t("codes.apply"), icon="refresh").props("outline no-caps")
        period = ui.label().classes("text-caption text-grey-7")
        columns = [
            {"name": "what", "label": t("codes.col.measure"), "field": "what", "align": "left"},
            {"name": "value", "label": t("codes.col.value"), "field": "value", "align": "right"},
        ]
        table = data_table(columns, label=heading, empty=DASH).mark("code-stats-table")
        with ui.row().classes("w-full justify-end"):
            ui.button(t("common.close"), on_click=dialog.close).props("unelevated no-caps")

    async def load_stats() -> None:
        days = int(window.value or 7)
        first, last = _day(start.value), _day(end.value)
        try:
            report = await in_tenant(
                actor,
                lambda db: reports.code_stats(
                    db,
                    actor,
                    code.id,
                    since=first,
                    until=last,
                    today=today(actor),
                    deletion_window_days=days,
                ),
            )
        except AppError as exc:
            show_error(exc)
            return
        counts = report.codes[0]
        period.set_text(t("codes.period", since=report.since, until=report.until))
        table.rows = [
            {
                "id": n,
                "what": t(f"codes.count.{n}", days=days),
                "value": money(counts.net_gmv_fen) if n == "net_gmv_fen" else getattr(counts, n),
            }
            for n in COUNTS
        ]
        table.update()

    apply.on_click(load_stats)
    dialog.open()
    await load_stats()


def _shown_for(kinds: tuple[str, ...]) -> Callable[[Any], bool]:
    """Return whether an attachment field shows for the chosen attachment kind."""
    return lambda chosen: chosen in kinds


def _attachment_of(code: CodeSummary | None) -> dict[str, Any]:
    attachments = (code.welcome.get("attachments") if code else None) or []
    if not attachments:
        return {"msgtype": "none"}
    first = attachments[0]
    kind = str(first.get("msgtype", "none"))
    return {"msgtype": kind, **dict(first.get(kind) or {})}


async def _form_dialog(actor: Actor, options: Choices, code: CodeSummary | None) -> CodeRead | None:
    """Show the create/edit form; return the saved code, or ``None`` when cancelled."""
    heading = t("codes.edit_heading", name=code.name) if code else t("codes.new_heading")
    attachment = _attachment_of(code)
    more_attachments = list((code.welcome.get("attachments") or [])[1:]) if code else []
    staff_options = dict(options.staff)
    for userid in code.staff_userids if code else []:
        staff_options.setdefault(userid, userid)
    tag_options = dict(options.tags)
    for tag_id in code.tag_ids if code else []:
        tag_options.setdefault(tag_id, tag_id)
    with (
        ui.dialog().props("persistent") as dialog,
        ui.card().classes("w-full max-w-2xl").props(f'role=dialog aria-label="{heading}"'),
    ):
        ui.label(heading).classes("text-h6").props("role=heading aria-level=2")
        with ui.grid(columns=2).classes("w-full gap-2"):
            name = (
                ui.input(t("codes.f.name"), value=code.name if code else "")
                .props("outlined dense")
                .mark("code-name")
            )
            state = (
                ui.input(
                    t("codes.f.state"),
                    value=code.state if code else "",
                    placeholder=t("codes.f.state_hint"),
                )
                .props("outlined dense maxlength=30" + (" readonly" if code else ""))
                .mark("code-state")
            )
            owner = (
                ui.select(
                    {o.value: t(f"codes.owner.{o.value}") for o in CodeOwner},
                    value=code.owner_kind.value if code else CodeOwner.STORE.value,
                    label=t("codes.f.owner"),
                )
                .props("outlined dense")
                .mark("code-owner")
            )
            label = ui.input(
                t("codes.f.label"),
                value=code.owner_label if code else "",
                placeholder=t("codes.f.label_hint"),
            ).props("outlined dense")
            unit = (
                ui.select(
                    {"": t("codes.no_unit"), **options.units},
                    value=str(code.org_unit_id) if code and code.org_unit_id else "",
                    label=t("codes.f.unit"),
                    with_input=True,
                )
                .props("outlined dense")
                .mark("code-unit")
            )
            account = ui.select(
                options.accounts,
                value=str(code.account_id) if code else next(iter(options.accounts), None),
                label=t("codes.f.account"),
            ).props("outlined dense" + (" readonly" if code else ""))
        staff = (
            ui.select(
                staff_options,
                value=list(code.staff_userids) if code else [],
                label=t("codes.f.staff"),
                multiple=True,
                with_input=True,
            )
            .props("outlined dense use-chips")
            .classes("w-full")
            .mark("code-staff")
        )
        with ui.row().classes("w-full items-center gap-4"):
            rotating = ui.switch(t("codes.f.rotating"), value=code.is_rotating if code else False)
            rotating.mark("code-rotating")
            cap = (
                ui.number(
                    t("codes.f.cap"),
                    value=code.daily_cap_per_staff if code else None,
                    min=1,
                    format="%d",
                )
                .props("outlined dense clearable")
                .classes("w-48")
                .mark("code-cap")
            )
            verify = ui.switch(t("codes.f.verify"), value=not code.skip_verify if code else False)
        ui.label(t("codes.f.welcome_heading")).classes("text-subtitle2")
        welcome_text = (
            ui.textarea(
                t("codes.f.welcome"),
                value=str(code.welcome.get("text") or "") if code else "",
                placeholder=t("codes.f.welcome_hint"),
            )
            .props("outlined dense autogrow")
            .classes("w-full")
            .mark("code-welcome")
        )
        kind = (
            ui.select(
                {k: t(f"codes.attachment.{k}") for k in ATTACHMENT_KINDS},
                value=attachment["msgtype"],
                label=t("codes.f.attachment"),
            )
            .props("outlined dense")
            .classes("w-48")
            .mark("code-attachment")
        )
        fields: dict[str, ui.input] = {}
        with ui.grid(columns=2).classes("w-full gap-2"):
            for key, kinds in (
                ("pic_url", ("image",)),
                ("title", ("link", "miniprogram")),
                ("url", ("link",)),
                ("desc", ("link",)),
                ("picurl", ("link",)),
                ("appid", ("miniprogram",)),
                ("page", ("miniprogram",)),
                ("pic_media_id", ("miniprogram",)),
            ):
                box = ui.input(t(f"codes.f.a.{key}"), value=str(attachment.get(key) or ""))
                box.props("outlined dense").mark(f"code-attachment-{key}")
                box.bind_visibility_from(kind, "value", backward=_shown_for(kinds))
                fields[key] = box
        if more_attachments:
            ui.label(t("codes.more_attachments", n=len(more_attachments))).classes(
                "text-caption text-grey-7"
            )
        tags = (
            ui.select(
                tag_options,
                value=list(code.tag_ids) if code else [],
                label=t("codes.f.tags"),
                multiple=True,
                with_input=True,
                new_value_mode="add-unique",
            )
            .props("outlined dense use-chips")
            .classes("w-full")
            .mark("code-tags")
        )
        ui.label(t("codes.f.tags_hint")).classes("text-caption text-grey-7")
        with ui.row().classes("w-full justify-end"):
            ui.button(t("common.cancel"), on_click=lambda: dialog.submit(None)).props(
                "flat no-caps"
            )
            save = ui.button(t("codes.save"), icon="save").props("unelevated no-caps")
            save.mark("save-code")

    def welcome() -> dict[str, Any] | None:
        text = (welcome_text.value or "").strip()
        chosen = str(kind.value or "none")
        attachments: list[dict[str, Any]] = []
        if chosen != "none":
            item: dict[str, Any] = {"msgtype": chosen}
            for key, box in fields.items():
                if box.visible and (box.value or "").strip():
                    item[key] = box.value.strip()
            attachments.append(item)
        for extra in more_attachments:
            extra_kind = str(extra.get("msgtype"))
            attachments.append({"msgtype": extra_kind, **dict(extra.get(extra_kind) or {})})
        if not text and not attachments:
            return None
        return {"text": text or None, "attachments": attachments}

    async def submit() -> None:
        data: dict[str, Any] = {
            "name": (name.value or "").strip(),
            "owner_kind": owner.value,
            "owner_label": (label.value or "").strip(),
            "org_unit_id": unit.value or None,
            "staff_userids": list(staff.value or []),
            "is_rotating": bool(rotating.value),
            "daily_cap_per_staff": int(cap.value) if cap.value else None,
            "welcome": welcome(),
            "tag_ids": list(tags.value or []),
            "skip_verify": not verify.value,
        }
        if not data["name"]:
            ui.notify(t("codes.name_required"), type="warning")
            return
        if not data["staff_userids"]:
            ui.notify(t("codes.staff_required"), type="warning")
            return
        save.disable()
        try:
            if code is None:
                data["state"] = (state.value or "").strip() or None
                data["account_id"] = account.value or None
                made: CodeRead = await _call(flows.create_code, actor, _validated(CodeCreate, data))
            else:
                made = await _call(flows.update_code, actor, code.id, _validated(CodeUpdate, data))
        except AppError as exc:
            show_error(exc)
            return
        finally:
            save.enable()
        dialog.submit(made)

    save.on_click(submit)
    result: CodeRead | None = await dialog
    return result
