"""``/customers``: search and page through customers in scope; ``/customers/{id}``: one customer.

Phones and e-mails come from ``customers.service.present``, masked unless the role reads PII.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import (
    DASH,
    day,
    enum_label,
    event_label,
    key_value,
    money,
    text,
    when,
)
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, not_found, shell
from siyu.console.nav import NavItem
from siyu.console.paging import CursorPager, link_rows
from siyu.contacts import service as contacts
from siyu.contacts.schemas import ContactRelationRead
from siyu.core.actor import Actor
from siyu.core.errors import AppError, NotFound
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerRead, OrderSummary
from siyu.events import service as events
from siyu.identity import service as identity
from siyu.orders import service as orders
from siyu.orders.schemas import OrderRead
from siyu.security.rbac import Perm, has

PAGE_SIZE = 20
RECENT_ORDERS = 20
TIMELINE_EVENTS = 50
_PHONE_HIDDEN = "gt-xs"  # Quasar: columns shown from 600 px up; phones keep name, phone, store


@dataclass(frozen=True)
class CustomerPage:
    items: list[CustomerRead]
    next_cursor: str | None


def load_page(db: Session, actor: Actor, q: str, cursor: str | None) -> CustomerPage:
    page = customers.list_customers(db, actor, q=q or None, limit=PAGE_SIZE, cursor=cursor)
    return CustomerPage(customers.present(db, actor, page.items), page.next_cursor)


@dataclass(frozen=True)
class IdentityRow:
    kind: str
    namespace: str
    value: str
    source: str


@dataclass(frozen=True)
class EventRow:
    type: str
    occurred_at: datetime
    source: str


@dataclass(frozen=True)
class MergeRow:
    id: uuid.UUID
    method: str
    evidence: dict[str, Any]
    merged_at: datetime
    undone_at: datetime | None


@dataclass(frozen=True)
class CustomerDetail:
    customer: CustomerRead
    summary: OrderSummary | None
    orders: list[OrderRead]
    identities: list[IdentityRow]
    events: list[EventRow]
    merges: list[MergeRow]
    relations: list[ContactRelationRead] = field(default_factory=list)


def load_detail(db: Session, actor: Actor, customer_id: uuid.UUID) -> CustomerDetail:
    customer = customers.present(db, actor, [customers.get_customer(db, actor, customer_id)])[0]
    identities = [
        IdentityRow(i.kind, i.namespace, key_value(actor, i.kind, i.value), i.source)
        for i in identity.list_identities(db, actor, customer_id)
    ]
    timeline = [
        EventRow(e.type, e.occurred_at, e.source)
        for e in events.timeline(db, actor, customer_id, limit=TIMELINE_EVENTS)
    ]
    merges = [
        MergeRow(m.id, m.method, dict(m.evidence or {}), m.merged_at, m.undone_at)
        for m in identity.merge_history(db, actor, customer_id)
    ]
    summary: OrderSummary | None = None
    recent: list[OrderRead] = []
    if has(actor, Perm.ORDERS_READ):
        summary = orders.customer_summary(db, actor, customer_id)
        recent = [
            OrderRead.model_validate(o)
            for o in orders.list_customer_orders(db, actor, customer_id, limit=RECENT_ORDERS)
        ]
    relations = contacts.present(db, actor, contacts.relations_of_customer(db, actor, customer_id))
    return CustomerDetail(customer, summary, recent, identities, timeline, merges, relations)


def register() -> None:
    nav.add(
        NavItem("nav.customers", "/customers", "groups", permission=Perm.CUSTOMERS_READ, order=20)
    )

    @ui.page("/customers", response_timeout=PAGE_TIMEOUT)
    async def customers_page(request: Request, q: str = "") -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.customers"), path="/customers"):
            if not has(user.actor, Perm.CUSTOMERS_READ):
                no_permission()
            else:
                await build_list(user.actor, q)
        return None

    @ui.page("/customers/{customer_id}", response_timeout=PAGE_TIMEOUT)
    async def customer_page(request: Request, customer_id: str) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("customer.title"), path="/customers/_"):
            await build_detail(user.actor, customer_id)
        return None


def _columns() -> list[dict[str, Any]]:
    def col(name: str, *, hide_on_phone: bool = False, **extra: Any) -> dict[str, Any]:
        column = {"name": name, "label": t(f"customers.col.{name}"), "field": name, "align": "left"}
        if hide_on_phone:
            column |= {"classes": _PHONE_HIDDEN, "headerClasses": _PHONE_HIDDEN}
        return column | extra

    return [
        col("name"),
        col("phone"),
        col("city", hide_on_phone=True),
        col("store"),
        col("guide", hide_on_phone=True),
        col("member_no", hide_on_phone=True),
        col("created", hide_on_phone=True),
    ]


def _row(actor: Actor, c: CustomerRead) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "name": c.name or t("customers.unnamed"),
        "phone": text(c.phone),
        "city": text(c.city),
        "store": text(c.org_unit_name),
        "guide": text(c.owner_staff_name),
        "member_no": text(c.member_no),
        "created": when(actor, c.created_at),
    }


async def build_list(actor: Actor, initial_q: str) -> None:
    state: dict[str, Any] = {"q": initial_q.strip()}  # the search the pages belong to

    async def fetch(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        q = state["q"]
        page = await in_tenant(actor, lambda db: load_page(db, actor, q, cursor))
        return [_row(actor, c) for c in page.items], page.next_cursor

    async def run_search() -> None:
        state["q"] = (search.value or "").strip()
        await pager.first()

    with ui.row().classes("w-full items-center gap-2 no-wrap"):
        search = (
            ui.input(t("customers.search"), value=initial_q, placeholder=t("customers.search_hint"))
            .props("outlined dense clearable type=search enterkeyhint=search")
            .classes("grow")
            .mark("customer-search")
        )
        search.on("keydown.enter", run_search)
        search.on("clear", run_search)
        ui.button(icon="search", on_click=run_search).props(
            f'unelevated aria-label="{t("customers.search_button")}"'
        )

    table = data_table(_columns(), label=t("customers.table"), empty=t("customers.empty")).mark(
        "customer-table"
    )
    link_rows(table, "/customers")
    pager = CursorPager(table, fetch, texts="customers")
    await pager.first()


def _field(label: str, value: str) -> None:
    with ui.column().classes("gap-0"):
        ui.label(label).classes("text-caption text-grey-7")
        ui.label(value).classes("text-body1")


async def build_detail(actor: Actor, raw_id: str) -> None:
    back = ui.link(t("customer.back"), "/customers").classes("text-primary")
    back.props('aria-label="' + t("customer.back") + '"')
    try:
        customer_id = uuid.UUID(raw_id)
        detail = await in_tenant(actor, lambda db: load_detail(db, actor, customer_id))
    except (ValueError, NotFound):
        back.delete()
        not_found(t("customer.not_found"), back="/customers", back_label=t("customer.back"))
        return
    except AppError as exc:
        show_error(exc)
        return
    c = detail.customer
    ui.page_title(f"{c.name or t('customers.unnamed')} · siyu 私域")
    with ui.card().classes("w-full").props(f'aria-label="{t("customer.profile")}"'):
        ui.label(c.name or t("customers.unnamed")).classes("text-h6").props(
            "role=heading aria-level=2"
        )
        with ui.grid().classes("w-full grid-cols-2 md:grid-cols-4 gap-4"):
            _field(t("customers.col.phone"), text(c.phone))
            _field(t("customer.email"), text(c.email))
            _field(t("customer.gender"), enum_label("gender", c.gender))
            _field(t("customer.birthday"), day(c.birthday_on))
            _field(t("customer.region"), " ".join(p for p in (c.province, c.city) if p) or DASH)
            _field(t("customers.col.member_no"), text(c.member_no))
            _field(t("customers.col.store"), text(c.org_unit_name))
            _field(t("customers.col.guide"), text(c.owner_staff_name))
            _field(t("customers.col.created"), when(actor, c.created_at))
    if detail.summary is not None:
        _orders_section(actor, detail.summary, detail.orders)
    _identities_section(detail.identities)
    _relations_section(actor, detail.relations)
    _timeline_section(actor, detail.events)
    _merges_section(actor, customer_id, detail.merges)


def _heading(text_: str) -> None:
    ui.label(text_).classes("text-h6 q-mt-sm").props("role=heading aria-level=2")


def _orders_section(actor: Actor, s: OrderSummary, recent: list[OrderRead]) -> None:
    ui.label(t("customer.orders_heading")).classes("text-h6 q-mt-sm").props(
        "role=heading aria-level=2"
    )
    with ui.grid().classes("w-full grid-cols-2 md:grid-cols-4 gap-3"):
        for label, value in (
            (t("customer.order_count"), f"{s.order_count:,}"),
            (t("overview.paid"), money(s.paid_fen)),
            (t("overview.refunded"), money(s.refunded_fen)),
            (t("overview.net"), money(s.net_fen)),
        ):
            with ui.card().classes("q-pa-md gap-1"):
                ui.label(label).classes("text-caption text-grey-7")
                ui.label(value).classes("text-h6 text-weight-bold")
    ui.label(
        t(
            "customer.first_last",
            first=when(actor, s.first_paid_at),
            last=when(actor, s.last_paid_at),
        )
    ).classes("text-caption text-grey-7")
    rows = [
        {
            "id": str(o.id),
            "paid_at": when(actor, o.paid_at),
            "source": enum_label("source", o.source),
            "external_id": o.external_id,
            "status": enum_label("status", o.status),
            "paid": money(o.paid_fen),
            "refunded": money(o.refunded_fen),
            "net": money(o.net_fen),
        }
        for o in recent
    ]
    hidden = {"classes": _PHONE_HIDDEN, "headerClasses": _PHONE_HIDDEN}
    columns: list[dict[str, Any]] = [
        {"name": "paid_at", "label": t("orders.col.paid_at"), "field": "paid_at", "align": "left"},
        {"name": "source", "label": t("orders.col.source"), "field": "source", "align": "left"}
        | hidden,
        {
            "name": "external_id",
            "label": t("orders.col.external_id"),
            "field": "external_id",
            "align": "left",
        }
        | hidden,
        {"name": "status", "label": t("orders.col.status"), "field": "status", "align": "left"},
        {"name": "paid", "label": t("overview.paid"), "field": "paid", "align": "right"} | hidden,
        {"name": "refunded", "label": t("overview.refunded"), "field": "refunded", "align": "right"}
        | hidden,
        {"name": "net", "label": t("overview.net"), "field": "net", "align": "right"},
    ]
    data_table(
        columns, rows=rows, label=t("customer.orders_heading"), empty=t("customer.no_orders")
    ).mark("order-table")


def _col(name: str, label: str, *, hide_on_phone: bool = False) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "label": label, "field": name, "align": "left"}
    if hide_on_phone:
        column |= {"classes": _PHONE_HIDDEN, "headerClasses": _PHONE_HIDDEN}
    return column


def _identities_section(identities: list[IdentityRow]) -> None:
    _heading(t("customer.identities"))
    rows = [
        {
            "id": f"{i.kind}:{i.namespace}:{n}",
            "kind": enum_label("key_kind", i.kind),
            "namespace": text(i.namespace),
            "value": i.value,
            "source": text(i.source),
        }
        for n, i in enumerate(identities)
    ]
    columns = [
        _col("kind", t("identity.col.kind")),
        _col("namespace", t("identity.col.namespace"), hide_on_phone=True),
        _col("value", t("identity.col.value")),
        _col("source", t("identity.col.source"), hide_on_phone=True),
    ]
    data_table(
        columns, rows=rows, label=t("customer.identities"), empty=t("customer.no_identities")
    ).mark("identity-table")


def _relations_section(actor: Actor, relations: list[ContactRelationRead]) -> None:
    """Which staff have the customer as a WeCom contact, since when, via which code."""
    _heading(t("relations.heading"))
    rows = [
        {
            "id": str(r.id),
            "staff": r.staff_name or r.wecom_userid,
            "added": when(actor, r.added_at),
            "code": text(r.channel_code_name),
            "status": enum_label("relation_status", r.status),
            "ended": when(actor, r.ended_at),
            "tags": t("common.list_separator").join(g.name or g.id for g in r.tags) or DASH,
            "remark": text(r.remark),
        }
        for r in relations
    ]
    columns = [
        _col("staff", t("relations.col.staff")),
        _col("added", t("relations.col.added")),
        _col("code", t("relations.col.code")),
        _col("status", t("relations.col.status")),
        _col("ended", t("relations.col.ended"), hide_on_phone=True),
        _col("tags", t("relations.col.tags"), hide_on_phone=True),
        _col("remark", t("relations.col.remark"), hide_on_phone=True),
    ]
    data_table(columns, rows=rows, label=t("relations.heading"), empty=t("relations.empty")).mark(
        "relation-table"
    )


def _timeline_section(actor: Actor, timeline: list[EventRow]) -> None:
    _heading(t("customer.timeline"))
    rows = [
        {
            "id": str(n),
            "at": when(actor, e.occurred_at),
            "type": event_label(e.type),
            "source": text(e.source),
        }
        for n, e in enumerate(timeline)
    ]
    columns = [
        _col("at", t("timeline.col.at")),
        _col("type", t("timeline.col.type")),
        _col("source", t("timeline.col.source"), hide_on_phone=True),
    ]
    data_table(
        columns, rows=rows, label=t("customer.timeline"), empty=t("customer.no_events")
    ).mark("timeline-table")


def _evidence_keys(evidence: dict[str, Any]) -> str:
    keys = evidence.get("keys")
    if isinstance(keys, list) and keys:
        return t("common.list_separator").join(str(k) for k in keys)
    return t("common.list_separator").join(str(k) for k in evidence) or DASH


def _merges_section(actor: Actor, customer_id: uuid.UUID, merges: list[MergeRow]) -> None:
    _heading(t("customer.merges"))
    can_undo = has(actor, Perm.CUSTOMERS_WRITE)
    rows = [
        {
            "id": str(m.id),
            "method": enum_label("merge_method", m.method),
            "evidence": _evidence_keys(m.evidence),
            "at": when(actor, m.merged_at),
            "state": t("merge.undone", at=when(actor, m.undone_at))
            if m.undone_at is not None
            else t("merge.active"),
            "undoable": can_undo and m.undone_at is None,
        }
        for m in merges
    ]
    columns = [
        _col("method", t("merge.col.method")),
        _col("evidence", t("merge.col.evidence"), hide_on_phone=True),
        _col("at", t("merge.col.at")),
        _col("state", t("merge.col.state")),
        _col("actions", "") | {"field": "id"},
    ]
    table = data_table(
        columns, rows=rows, label=t("customer.merges"), empty=t("customer.no_merges")
    ).mark("merge-table")
    table.add_slot(
        "body-cell-actions",
        '<q-td :props="props"><q-btn v-if="props.row.undoable" outline dense no-caps '
        f'color=negative label="{t("merge.undo")}" '
        f'aria-label="{t("merge.undo")}" '
        "@click=\"() => $parent.$emit('undo', props.row)\" /></q-td>",
    )

    async def undo(e: GenericEventArguments) -> None:
        row = e.args if isinstance(e.args, dict) else {}
        merge_id = uuid.UUID(str(row.get("id")))
        with ui.dialog() as dialog, ui.card().props("role=alertdialog"):
            ui.label(t("merge.undo_confirm")).classes("text-body1")
            with ui.row().classes("w-full justify-end"):
                ui.button(t("common.cancel"), on_click=dialog.close).props("flat no-caps")
                ui.button(
                    t("merge.undo"), color="negative", on_click=lambda: dialog.submit(True)
                ).props("unelevated no-caps").mark("confirm-undo")
        if not await dialog:
            return
        try:
            await in_tenant(actor, lambda db: identity.unmerge(db, actor, merge_id))
        except AppError as exc:
            show_error(exc)
            return
        ui.notify(t("merge.undone_notice"), type="positive")
        ui.navigate.reload()

    table.on("undo", undo)
