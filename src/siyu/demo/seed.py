"""Seed the demo: two brands with org trees, staff, logins, an agency, customers and orders.

``seed_demo`` writes everything in one transaction, so a failure leaves nothing behind. The
output is deterministic for a given ``seed`` and ``now`` (names, phones, amounts, times and the
ids of generated rows); only ciphertexts, password hashes and the tenant and HQ ids, which the
tenancy service makes, differ between runs.

Orders leave weak evidence (receiver name, masked phone, city, address), and a few customers are
near-duplicates of others (see ``demo/shoppers.py``). Once the data is committed, the merge-
proposal model runs per brand as an operator's "Run now" would, in its own transaction, so the
review queue opens with proposals; a failure there leaves the seeded data and an empty queue.

Customers, orders and order lines are bulk inserted with Core ``INSERT`` executemany in chunks.
Phone and email columns encrypt in their type's bind processing, so the rows carry plaintext and
the blind indexes are computed here.

Progress is reported as ``progress(stage, done, total)`` with stages ``setup``, ``customers``,
``identities``, ``orders``, ``evidence`` and ``proposals``, each counting up to its own total.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from faker import Faker
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, system_unit_of_work, unit_of_work
from siyu.core.errors import Conflict, InvalidInput
from siyu.core.ids import new_id
from siyu.customers.models import Customer
from siyu.demo.brands import SHIGUANG, WARM_HILL, BrandSpec
from siyu.demo.shoppers import Context, Row, ShopperPlanner, Store
from siyu.demo.timeline import id_at
from siyu.identity import proposals
from siyu.identity.keys import KeyKind, junk_reason, make_key
from siyu.identity.models import Evidence, Identity
from siyu.orders.models import Order, OrderLine, OrderStatus
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import OrgKind, OrgUnit, Staff

log = structlog.get_logger(__name__)

Progress = Callable[[str, int, int], None]

DEMO_SLUG = WARM_HILL.slug
DEMO_PASSWORD = "siyu-demo-2026"  # noqa: S105 - published demo credentials, printed by `siyu demo`
AGENCY_NAME = "星河代运营"
AGENCY_USERNAME = "agency"
SECOND_BRAND_CUSTOMERS = 300
CHUNK = 2000


@dataclass(frozen=True)
class DemoSummary:
    """What ``seed_demo`` made. Counts are for the main demo brand (``tenant_slug``)."""

    tenant_id: uuid.UUID
    tenant_slug: str
    admin_username: str
    admin_password: str
    guide_username: str
    guide_password: str
    manager_username: str
    manager_password: str
    agency_username: str
    agency_password: str
    org_unit_count: int
    staff_count: int
    customer_count: int
    order_count: int
    refunded_order_count: int
    partially_refunded_order_count: int
    proposal_count: int
    """Merge proposals queued for review from the seeded weak evidence."""
    second_tenant_id: uuid.UUID
    second_tenant_slug: str
    elapsed_seconds: float


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def demo_exists(database: Database) -> bool:
    """Return whether the demo brand (tenant slug ``demo``) is already in ``database``."""
    with system_unit_of_work(database=database, reason="demo: check for an existing demo") as db:
        return tenancy.find_tenant_by_slug(db, DEMO_SLUG) is not None


def seed_demo(
    database: Database,
    *,
    customers: int = 5000,
    months: int = 18,
    seed: int = 20261123,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Create the demo brands in one transaction; raise ``Conflict`` if the demo exists.

    ``customers`` is the size of the main brand (the second brand has a fixed 300); orders span
    the ``months`` before ``now``.
    """
    if customers < 1:
        raise InvalidInput(f"customers is {customers}", hint="seed at least 1 customer")
    if months < 1:
        raise InvalidInput(f"months is {months}", hint="use at least 1 month of history")
    if now is None:
        now = SYSTEM_CLOCK.now()
    elif now.tzinfo is None:
        raise InvalidInput(f"now is the naive datetime {now!r}", hint="pass an aware datetime")
    now = now.astimezone(UTC)
    report = progress or _no_progress
    started = time.perf_counter()
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    ctx = Context(
        rng=random.Random(seed),
        fake=fake,
        now=now,
        start=now - timedelta(days=round(months * 30.44)),
    )
    with system_unit_of_work(database=database, reason="demo: seed the demo brands") as db:
        _check_names_free(db)
        report("setup", 0, 3)
        agency = tenancy.create_agency(db, name=AGENCY_NAME)
        security.create_user(
            db,
            username=AGENCY_USERNAME,
            password=DEMO_PASSWORD,
            display_name=AGENCY_NAME,
            agency_id=agency.id,
        )
        report("setup", 1, 3)
        orgs: list[_Organisation] = []
        for brand in (WARM_HILL, SHIGUANG):
            org = _Organisation(ctx, brand)
            org.create(db)
            tenancy.link_agency(db, agency_id=agency.id, tenant_id=org.tenant_id)
            orgs.append(org)
            report("setup", 1 + len(orgs), 3)
        main, second = (ShopperPlanner(ctx, o.brand, o.tenant_id, o.stores) for o in orgs)

        customer_rows = main.plan_customers(customers)
        customer_rows += second.plan_customers(SECOND_BRAND_CUSTOMERS)
        _insert_chunked(db, Customer, customer_rows, stage="customers", report=report)
        _insert_chunked(
            db, Identity, _identity_rows(customer_rows), stage="identities", report=report
        )
        _insert_orders(db, main.plan_orders() + second.plan_orders(), report=report)
        evidence = main.plan_evidence() + second.plan_evidence()
        _insert_chunked(db, Evidence, evidence, stage="evidence", report=report)

    proposed = _propose_merges(database, [main.tenant_id, second.tenant_id], report=report)
    summary = DemoSummary(
        tenant_id=main.tenant_id,
        tenant_slug=WARM_HILL.slug,
        admin_username=WARM_HILL.logins["admin_hq"],
        admin_password=DEMO_PASSWORD,
        guide_username=WARM_HILL.logins["guide_sh01_1"],
        guide_password=DEMO_PASSWORD,
        manager_username=WARM_HILL.logins["manager_sh01"],
        manager_password=DEMO_PASSWORD,
        agency_username=AGENCY_USERNAME,
        agency_password=DEMO_PASSWORD,
        org_unit_count=orgs[0].org_unit_count,
        staff_count=orgs[0].staff_count,
        customer_count=len(main.customers),
        order_count=main.order_count,
        refunded_order_count=main.status_counts.get(OrderStatus.REFUNDED, 0),
        partially_refunded_order_count=main.status_counts.get(OrderStatus.PARTIALLY_REFUNDED, 0),
        proposal_count=proposed[0],
        second_tenant_id=second.tenant_id,
        second_tenant_slug=SHIGUANG.slug,
        elapsed_seconds=round(time.perf_counter() - started, 2),
    )
    log.info(
        "demo_seeded",
        tenant_id=str(summary.tenant_id),
        customers=summary.customer_count,
        orders=summary.order_count,
        seconds=summary.elapsed_seconds,
    )
    return summary


def _check_names_free(db: Session) -> None:
    """Refuse to seed over anything the demo would create, naming all of it."""
    if tenancy.find_tenant_by_slug(db, DEMO_SLUG) is not None:
        raise Conflict(
            f"the demo is already seeded (tenant {DEMO_SLUG!r} exists)",
            hint="run `siyu demo --reset` to drop the database and seed it again",
        )
    taken = [f"tenant {SHIGUANG.slug!r}"] if tenancy.find_tenant_by_slug(db, SHIGUANG.slug) else []
    usernames = [AGENCY_USERNAME, *WARM_HILL.logins.values(), *SHIGUANG.logins.values()]
    taken += [f"user {name!r}" for name in usernames if security.find_user(db, name) is not None]
    if tenancy.find_agency(db, AGENCY_NAME) is not None:
        taken.append(f"agency {AGENCY_NAME!r}")
    if taken:
        raise Conflict(
            "the demo needs names that are taken: " + ", ".join(taken),
            hint="seed the demo into an empty database (`siyu demo --reset`)",
        )


def _identity_rows(customer_rows: Sequence[Row]) -> list[Row]:
    """The OneID keys of the seeded customers: phone, email and member number."""
    rows: list[Row] = []
    for customer in customer_rows:
        for kind, field_name in (
            (KeyKind.PHONE, "phone"),
            (KeyKind.EMAIL, "email"),
            (KeyKind.MEMBER_NO, "member_no"),
        ):
            value = customer[field_name]
            if value is None:
                continue
            key = make_key(kind, value)
            if junk_reason(key) is not None:
                continue
            rows.append(
                {
                    "tenant_id": customer["tenant_id"],
                    "id": new_id(),
                    "customer_id": customer["id"],
                    "kind": kind.value,
                    "namespace": "",
                    "key_hash": key.hash(customer["tenant_id"]),
                    "value": key.value,
                    "source": "demo",
                    "created_at": customer["created_at"],
                    "last_seen_at": customer["created_at"],
                }
            )
    return rows


def _propose_merges(
    database: Database, tenant_ids: Sequence[uuid.UUID], *, report: Progress
) -> list[int]:
    """Run the merge-proposal model for each brand; return how many pairs each queued."""
    proposed = []
    report("proposals", 0, len(tenant_ids))
    import siyu.identity.linkage  # noqa: F401 - before the level below: its import sets one too

    splink = logging.getLogger("splink")
    level = splink.level
    splink.setLevel(logging.ERROR)  # its training notes would scroll through the progress bars
    try:
        for n, tenant_id in enumerate(tenant_ids, start=1):
            actor = Actor(tenant_id=tenant_id, user_id=None, role=Role.ADMIN, label="siyu demo")
            with unit_of_work(actor, database=database) as db:
                proposed.append(proposals.generate_proposals(db, actor).proposed)
            report("proposals", n, len(tenant_ids))
    finally:
        splink.setLevel(level)
    return proposed


def _insert_chunked(
    db: Session, model: type[Any], rows: Sequence[Row], *, stage: str, report: Progress
) -> None:
    total = len(rows)
    report(stage, 0, total)
    for offset in range(0, total, CHUNK):
        db.execute(insert(model), list(rows[offset : offset + CHUNK]))
        report(stage, min(offset + CHUNK, total), total)


def _insert_orders(
    db: Session, orders: Sequence[tuple[Row, list[Row]]], *, report: Progress
) -> None:
    """Insert orders and, after each chunk of orders, their lines (lines reference orders)."""
    total = len(orders)
    report("orders", 0, total)
    for offset in range(0, total, CHUNK):
        chunk = orders[offset : offset + CHUNK]
        db.execute(insert(Order), [order for order, _ in chunk])
        db.execute(insert(OrderLine), [line for _, lines in chunk for line in lines])
        report("orders", min(offset + CHUNK, total), total)


# --- organisation -----------------------------------------------------------------------------


class _Organisation:
    """Creates one brand's tenant, regions, stores, staff and logins."""

    def __init__(self, ctx: Context, brand: BrandSpec) -> None:
        self.ctx = ctx
        self.brand = brand
        self.rng = ctx.rng
        self.tenant_id = uuid.UUID(int=0)
        self.stores: list[Store] = []
        self.org_unit_count = 0
        self.staff_count = 0

    def create(self, db: Session) -> None:
        """Create the tenant, its regions and stores, staff, and the brand's logins."""
        ctx, brand = self.ctx, self.brand
        tenant = tenancy.create_tenant(db, name=brand.name, slug=brand.slug, hq_name=brand.hq_name)
        tenant.created_at = ctx.start
        self.tenant_id = tenant.id
        hq = db.scalars(
            select(OrgUnit).where(OrgUnit.tenant_id == tenant.id, OrgUnit.parent_id.is_(None))
        ).one()
        hq.created_at = ctx.start
        staff: list[Staff] = [self._staff(db, hq.id, role, uid) for role, uid in brand.hq_staff]
        units: list[OrgUnit] = []
        for region_index, region in enumerate(brand.regions):
            region_id = id_at(self.rng, ctx.start)
            region_path = f"{hq.path}{region_id}/"
            units.append(
                self._unit(region_id, hq.id, OrgKind.REGION, region.name, region.code, region_path)
            )
            staff.append(
                self._staff(db, region_id, Role.STORE_MANAGER, f"manager_{region.code.lower()}")
            )
            for spec in region.stores:
                store_id = id_at(self.rng, ctx.start)
                store_path = f"{region_path}{store_id}/"
                units.append(
                    self._unit(store_id, region_id, OrgKind.STORE, spec.name, spec.code, store_path)
                )
                code = spec.code.lower()
                staff.append(self._staff(db, store_id, Role.STORE_MANAGER, f"manager_{code}"))
                guides = [
                    self._staff(db, store_id, Role.GUIDE, f"guide_{code}_{n}")
                    for n in range(1, brand.guides_per_store + 1)
                ]
                staff.extend(guides)
                self.stores.append(Store(spec, store_id, region_index, tuple(g.id for g in guides)))
        db.add_all(units)
        db.flush()
        db.add_all(staff)
        db.flush()
        self.org_unit_count = 1 + len(units)
        self.staff_count = len(staff)

    def _unit(
        self,
        unit_id: uuid.UUID,
        parent_id: uuid.UUID,
        kind: OrgKind,
        name: str,
        code: str,
        path: str,
    ) -> OrgUnit:
        return OrgUnit(
            tenant_id=self.tenant_id,
            id=unit_id,
            parent_id=parent_id,
            kind=kind,
            name=name,
            code=code,
            path=path,
            created_at=self.ctx.start,
        )

    def _staff(self, db: Session, unit_id: uuid.UUID, role: Role, wecom_userid: str) -> Staff:
        name = self.ctx.fake.name()
        user_id = None
        username = self.brand.logins.get(wecom_userid)
        if username is not None:
            user = security.create_user(
                db, username=username, password=DEMO_PASSWORD, display_name=name
            )
            user_id = user.id
        return Staff(
            tenant_id=self.tenant_id,
            id=id_at(self.rng, self.ctx.start),
            name=name,
            org_unit_id=unit_id,
            role=role,
            wecom_userid=wecom_userid,
            user_id=user_id,
            created_at=self.ctx.start,
        )
