"""``siyu customers``: look a customer up by id, phone, email or member number."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from siyu.cli.context import open_database, tenant_actor
from siyu.contacts import service as contacts
from siyu.core.db import unit_of_work
from siyu.core.errors import NotFound
from siyu.core.money import format_fen
from siyu.customers import service as customers
from siyu.events import service as events
from siyu.identity import service as identity
from siyu.orders import service as orders

app = typer.Typer(help="Customers.", no_args_is_help=True)
out = Console()


@app.command("show")
def show(
    who: str = typer.Argument(..., help="Customer id, phone, email or member number"),
    tenant: str = typer.Option(..., help="Tenant slug"),
) -> None:
    """Print a customer's 360: profile, identities, WeCom contacts, orders, timeline, merges."""
    open_database()
    actor = tenant_actor(tenant)
    tz = ZoneInfo(actor.timezone)

    def local(at: datetime) -> str:
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    with unit_of_work(actor) as db:
        try:
            customer = customers.get_customer(db, actor, uuid.UUID(who))
        except ValueError:
            found = customers.list_customers(db, actor, q=who, limit=2).items
            if not found:
                raise NotFound(
                    f"no customer matches {who!r}", hint="search by id, phone, email or member no."
                ) from None
            customer = found[0]
        view = customers.present(db, actor, [customer])[0]
        profile = Table("field", "value", title=f"customer {view.id}")
        for name in (
            "name",
            "phone",
            "email",
            "gender",
            "city",
            "member_no",
            "org_unit_name",
            "owner_staff_name",
            "created_at",
        ):
            value = getattr(view, name)
            profile.add_row(name, local(value) if isinstance(value, datetime) else str(value or ""))
        out.print(profile)
        ids = Table("kind", "namespace", "value", "source", title="identities")
        for i in identity.list_identities(db, actor, customer.id):
            ids.add_row(i.kind, i.namespace, i.value, i.source)
        out.print(ids)
        contacts_table = Table(
            "staff",
            "WeCom userid",
            "added",
            "channel code",
            "status",
            "ended",
            title="WeCom contacts",
        )
        for r in contacts.present(
            db, actor, contacts.relations_of_customer(db, actor, customer.id)
        ):
            contacts_table.add_row(
                r.staff_name or "",
                r.wecom_userid,
                local(r.added_at),
                r.channel_code_name or "",
                r.status,
                local(r.ended_at) if r.ended_at else "",
            )
        out.print(contacts_table)
        summary = orders.customer_summary(db, actor, customer.id)
        out.print(
            f"orders: {summary.order_count}  paid {format_fen(summary.paid_fen)}  "
            f"refunded {format_fen(summary.refunded_fen)}  net {format_fen(summary.net_fen)}"
        )
        recent = Table("paid at", "source", "order", "status", "paid", "refunded", title="orders")
        for o in orders.list_customer_orders(db, actor, customer.id, limit=20):
            recent.add_row(
                o.paid_at.isoformat(timespec="minutes"),
                o.source,
                o.external_id,
                o.status,
                format_fen(o.paid_fen),
                format_fen(o.refunded_fen),
            )
        out.print(recent)
        timeline = Table("at", "event", "source", title="timeline")
        for e in events.timeline(db, actor, customer.id, limit=20):
            timeline.add_row(local(e.occurred_at), e.type, e.source)
        out.print(timeline)
        for m in identity.merge_history(db, actor, customer.id):
            state = "undone" if m.undone_at else "active"
            out.print(
                f"merge {m.id}: {m.merged_id} → {m.survivor_id} ({m.method}, {state}) {m.evidence}"
            )
