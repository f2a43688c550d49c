"""``/``: the tenant at a glance for the actor's scope: customers and the last 30 days' sales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import money, rate_bp, scope_label
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.errors import AppError
from siyu.customers import service as customers
from siyu.orders import service as orders
from siyu.orders.schemas import SalesOverview

WINDOW_DAYS = 30


@dataclass(frozen=True)
class Overview:
    customer_count: int
    sales: SalesOverview


def load(db: Session, actor: Actor) -> Overview:
    until = SYSTEM_CLOCK.now()
    return Overview(
        customer_count=customers.count_customers(db, actor),
        sales=orders.sales_overview(
            db, actor, since=until - timedelta(days=WINDOW_DAYS), until=until
        ),
    )


def register() -> None:
    nav.add(NavItem("nav.overview", "/", "dashboard", order=10))

    @ui.page("/", response_timeout=PAGE_TIMEOUT)
    async def overview_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.overview"), path="/"):
            await build(user)
        return None


def _kpi(label: str, value: str, *, name: str, emphasis: bool = False) -> None:
    with ui.card().classes("q-pa-md gap-1").props(f'role=group aria-label="{label}"').mark(name):
        ui.label(label).classes("text-caption text-grey-7")
        ui.label(value).classes("text-h6 text-weight-bold" + (" text-primary" if emphasis else ""))


async def build(user: auth.ConsoleUser) -> None:
    actor = user.actor
    scope = scope_label(actor)
    ui.label(t("overview.intro", tenant=user.tenant_name, scope=scope)).classes(
        "text-body1 text-grey-8"
    )
    try:
        data = await in_tenant(actor, lambda db: load(db, actor))
    except AppError as exc:
        show_error(exc)
        return
    sales = data.sales
    with ui.grid().classes("w-full grid-cols-2 md:grid-cols-4 gap-3"):
        _kpi(t("overview.customers"), f"{data.customer_count:,}", name="kpi-customers")
    ui.label(t("overview.sales_heading", days=WINDOW_DAYS)).classes("text-h6 q-mt-sm").props(
        "role=heading aria-level=2"
    )
    with ui.grid().classes("w-full grid-cols-2 md:grid-cols-3 lg:grid-cols-6 gap-3"):
        _kpi(t("overview.orders"), f"{sales.order_count:,}", name="kpi-orders")
        _kpi(t("overview.buyers"), f"{sales.buyer_count:,}", name="kpi-buyers")
        _kpi(t("overview.paid"), money(sales.paid_fen), name="kpi-paid")
        _kpi(t("overview.refunded"), money(sales.refunded_fen), name="kpi-refunded")
        _kpi(t("overview.net"), money(sales.net_fen), name="kpi-net", emphasis=True)
        _kpi(t("overview.refund_rate"), rate_bp(sales.refund_rate_bp), name="kpi-refund-rate")
    ui.label(t("overview.net_note")).classes("text-caption text-grey-7")
