"""Builders of realistic tenants for tests. Every builder requires a tenant."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import system_unit_of_work, unit_of_work
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from siyu.identity import service as identity
from siyu.identity.keys import KeyKind, make_key
from siyu.identity.models import MergeMethod, MergeProposal
from siyu.orders import service as orders
from siyu.orders.models import OrderSource
from siyu.orders.schemas import OrderCreate, OrderLineIn
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import OrgKind
from siyu.webhooks import service as webhooks
from siyu.webhooks import signing

PASSWORD = "correct-horse-battery"


@dataclass
class World:
    """One tenant: HQ → region → two stores, with staff, logins, customers and an order."""

    tenant_id: uuid.UUID
    slug: str
    hq_id: uuid.UUID
    region_id: uuid.UUID
    store_ids: list[uuid.UUID]
    admin: Actor
    users: dict[str, str] = field(default_factory=dict)  # role label -> username
    staff: dict[str, uuid.UUID] = field(default_factory=dict)  # label -> staff id
    customers: dict[str, uuid.UUID] = field(default_factory=dict)  # label -> customer id
    phones: dict[str, str] = field(default_factory=dict)  # label -> phone
    order_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    merge_id: uuid.UUID | None = None
    junk_key_id: uuid.UUID | None = None
    proposal_id: uuid.UUID | None = None
    webhook_id: uuid.UUID | None = None  # a POS order webhook endpoint
    webhook_secret: str = ""


def _login_actor(username: str) -> Actor:
    with system_unit_of_work(reason="test login") as db:
        return security.login(db, username=username, password=PASSWORD).actor


def make_world(slug: str, *, phone_seed: int = 0) -> World:
    """Create a tenant with staff of every scope level and customers in each store."""
    with system_unit_of_work(reason="test world") as db:
        tenant = tenancy.create_tenant(db, name=f"Brand {slug}", slug=slug)
        admin_user = security.create_user(db, username=f"{slug}-admin", password=PASSWORD)
        tenancy.add_staff_at_hq(
            db, tenant_id=tenant.id, user_id=admin_user.id, name="Admin", role=Role.ADMIN
        )
        tenant_id = tenant.id
    admin = _login_actor(f"{slug}-admin")
    with unit_of_work(admin) as db:
        hq = tenancy.root_unit(db)
        region = tenancy.create_org_unit(
            db, admin, parent_id=hq.id, kind=OrgKind.REGION, name="East", code=f"{slug}-E"
        )
        stores = [
            tenancy.create_org_unit(
                db,
                admin,
                parent_id=region.id,
                kind=OrgKind.STORE,
                name=f"Store {i}",
                code=f"{slug}-S{i}",
            )
            for i in (1, 2)
        ]
        world = World(
            tenant_id=tenant_id,
            slug=slug,
            hq_id=hq.id,
            region_id=region.id,
            store_ids=[s.id for s in stores],
            admin=admin,
        )
    people = [
        ("region_manager", Role.STORE_MANAGER, world.region_id),
        ("manager1", Role.STORE_MANAGER, world.store_ids[0]),
        ("guide1", Role.GUIDE, world.store_ids[0]),
        ("guide2", Role.GUIDE, world.store_ids[0]),
        ("guide3", Role.GUIDE, world.store_ids[1]),
    ]
    for label, role, unit_id in people:
        username = f"{slug}-{label}"
        with system_unit_of_work(reason="test user") as db:
            user = security.create_user(db, username=username, password=PASSWORD)
            user_id = user.id
        with unit_of_work(admin) as db:
            staff = tenancy.create_staff(
                db,
                admin,
                name=label,
                org_unit_id=unit_id,
                role=role,
                user_id=user_id,
                wecom_userid=f"{slug}_{label}",
            )
            world.staff[label] = staff.id
        world.users[label] = username
    world.users["admin"] = f"{slug}-admin"
    owners = {"c1": ("guide1", 0), "c2": ("guide2", 0), "c3": ("guide3", 1)}
    with unit_of_work(admin) as db:
        for i, (label, (guide, store)) in enumerate(owners.items()):
            phone = f"13912{phone_seed:02d}5{i:03d}"
            c = identity.register_customer(
                db,
                admin,
                data=CustomerCreate(
                    name=f"客户{label}",
                    phone=phone,
                    email=f"{label}@example.com",
                    org_unit_id=world.store_ids[store],
                    owner_staff_id=world.staff[guide],
                ),
            )
            world.customers[label] = c.id
            world.phones[label] = phone
        order = orders.create_order(
            db,
            admin,
            data=OrderCreate(
                customer_id=world.customers["c1"],
                source=OrderSource.TMALL,
                external_id=f"{slug}-T1",
                paid_fen=12_900,
                refunded_fen=2_900,
                paid_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
                lines=[OrderLineIn(sku="BEAN-1", title="Beans", quantity=1, unit_price_fen=12_900)],
            ),
        )
        world.order_id = order.id
        world.token_id = security.create_api_token(db, admin, name="ci").token.id
        issued = webhooks.create_webhook(db, admin, name="POS", source=OrderSource.POS)
        world.webhook_id, world.webhook_secret = issued.webhook.id, issued.secret
        # OneID history: a duplicate customer merged into c1, and a junk key seen once
        dup = customers.create_customer(db, admin, data=CustomerCreate(name="重复客户"))
        world.merge_id = identity.merge(
            db,
            admin,
            survivor_id=world.customers["c1"],
            merged_id=dup.id,
            method=MergeMethod.MANUAL,
            evidence={"rule": "test fixture"},
        ).id
        identity.flag_junk(
            db, admin, make_key(KeyKind.PHONE, "13800138000"), "test fixture", clock=SYSTEM_CLOCK
        )
        world.junk_key_id = identity.list_junk_keys(db, admin)[0].id
        proposal = MergeProposal(
            id=new_id(),
            left_customer_id=world.customers["c2"],
            right_customer_id=world.customers["c3"],
            probability_bp=9300,
            evidence={"fields": {"name": "exact"}},
        )
        db.add(proposal)
        world.proposal_id = proposal.id
    return world


def login_token(username: str) -> str:
    with system_unit_of_work(reason="test login") as db:
        return security.login(db, username=username, password=PASSWORD).token


def auth(username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login_token(username)}"}


def bare_tenant() -> Actor:
    """Create an empty tenant (HQ only) and return an admin actor for it (no login needed)."""
    slug = f"t{uuid.uuid4().hex[:12]}"
    with system_unit_of_work(reason="test tenant") as db:
        tenant = tenancy.create_tenant(db, name=slug, slug=slug)
        return Actor(tenant_id=tenant.id, user_id=None, role=Role.ADMIN, label="test")


def signed(
    secret: str, body: bytes, *, at: int | None = None, delivery: str | None = None
) -> dict[str, str]:
    """Return the headers an order system sends with ``body``: timestamp, signature, delivery."""
    stamp = str(int(time.time()) if at is None else at)
    headers = {
        "content-type": "application/json",
        signing.TIMESTAMP_HEADER: stamp,
        signing.SIGNATURE_HEADER: signing.sign(secret, stamp, body),
    }
    if delivery is not None:
        headers[signing.DELIVERY_HEADER] = delivery
    return headers
