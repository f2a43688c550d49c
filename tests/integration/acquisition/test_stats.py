"""Per-code statistics: adds, re-adds, deletions, net adds, first orders and net GMV."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from siyu.acquisition import reports
from siyu.acquisition.schemas import CodeCounts, StatsReport
from siyu.contacts.models import RelationStatus
from siyu.core.db import unit_of_work
from siyu.core.errors import InvalidInput
from siyu.orders import service as orders
from siyu.orders.models import Order, OrderSource, OrderStatus
from siyu.orders.schemas import OrderCreate
from tests.integration.acquisition.conftest import Shop, new_customer, relate

SHANGHAI = ZoneInfo("Asia/Shanghai")
OCTOBER: dict[str, Any] = {
    "since": date(2026, 10, 1),
    "until": date(2026, 10, 31),
    "today": date(2026, 11, 23),
}


def shanghai(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A time in Asia/Shanghai (UTC+8), as aware UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def order(
    shop: Shop,
    customer_id: uuid.UUID,
    ref: str,
    paid_fen: int,
    paid_at: datetime,
    *,
    refunded_fen: int = 0,
    cancelled: bool = False,
) -> None:
    with unit_of_work(shop.admin) as db:
        made = orders.create_order(
            db,
            shop.admin,
            data=OrderCreate(
                customer_id=customer_id,
                source=OrderSource.POS,
                external_id=ref,
                paid_fen=paid_fen,
                paid_at=paid_at,
                refunded_fen=refunded_fen,
            ),
        )
        if cancelled:  # an order system cancelled it later (orders' upsert does this)
            stored = db.get(Order, (shop.admin.tenant_id, made.id))
            assert stored is not None
            stored.status = OrderStatus.CANCELLED


@dataclass
class Scene:
    store_code: uuid.UUID
    agency_code: uuid.UUID


@pytest.fixture
def scene(shop: Shop) -> Scene:
    g1, g2 = shop.uid("guide1"), shop.uid("guide2")
    store = shop.create(
        name="Store poster", org_unit_id=shop.world.store_ids[0], staff_userids=[g1, g2],
        is_rotating=True,
    )  # fmt: skip
    agency = shop.create(name="Agency flyer", owner_kind="agency", owner_label="Blue Agency")
    amy, bo, cy, di, ed = (new_customer(shop.admin, n) for n in ("Amy", "Bo", "Cy", "Di", "Ed"))
    # store code: Amy new, ordered before (not a first order) and after the add
    relate(shop, store.id, amy, g1, shanghai(10, 5, 10))
    order(shop, amy, "A-0", 5_000, shanghai(9, 1, 12))
    order(shop, amy, "A-1", 10_000, shanghai(10, 6, 12), refunded_fen=2_000)
    # Amy adds a second member through the same code: a re-add, her GMV counts once
    relate(shop, store.id, amy, g2, shanghai(10, 7, 9), new=False)
    # Bo new, deleted the member two days later (inside the 7-day window)
    relate(
        shop, store.id, bo, g1, shanghai(10, 10, 9), status=RelationStatus.DELETED_BY_CUSTOMER,
        ended_at=shanghai(10, 12, 9),
    )  # fmt: skip
    # Cy known before (re-add), first order after the add, deleted by staff after 15 days
    relate(
        shop, store.id, cy, g2, shanghai(10, 15, 9), new=False,
        status=RelationStatus.DELETED_BY_STAFF, ended_at=shanghai(10, 30, 9),
    )  # fmt: skip
    order(shop, cy, "C-1", 3_000, shanghai(10, 16, 12))
    # Di added late on 30 September (outside), Ed late on 31 October (inside), Ed's orders
    # cancelled or after the period do not count
    relate(shop, store.id, di, g1, shanghai(9, 30, 23, 30))
    relate(shop, store.id, ed, g1, shanghai(10, 31, 23, 30))
    order(shop, ed, "E-1", 7_000, shanghai(10, 31, 23, 45), cancelled=True)
    order(shop, ed, "E-2", 9_000, shanghai(11, 1, 0, 30))
    # agency code: Bo comes back through it and orders
    relate(shop, agency.id, bo, g1, shanghai(10, 20, 9), new=False)
    order(shop, bo, "B-1", 20_000, shanghai(10, 21, 12))
    # a transfer ends a relation without it being a deletion
    relate(
        shop, agency.id, di, g2, shanghai(10, 22, 9), new=False, status=RelationStatus.TRANSFERRED,
        ended_at=shanghai(10, 23, 9),
    )  # fmt: skip
    # an add without a code is nobody's
    relate(shop, None, ed, g2, shanghai(10, 25, 9))
    return Scene(store.id, agency.id)


def report(shop: Shop, code_id: uuid.UUID | None = None, **kw: Any) -> StatsReport:
    with unit_of_work(shop.admin) as db:
        return reports.code_stats(db, shop.admin, code_id, **{**OCTOBER, **kw})


def counts(item: CodeCounts) -> dict[str, int]:
    return CodeCounts.model_validate(item.model_dump()).model_dump()


STORE = {
    "adds": 5,
    "new_customers": 3,
    "re_adds": 2,
    "deletions": 2,
    "deletions_within_window": 1,
    "net_adds": 2,
    "first_orders": 2,  # Cy, and Bo (his first order came after his add through this code)
    "net_gmv_fen": 8_000 + 3_000 + 20_000,
}
AGENCY = {
    "adds": 2,
    "new_customers": 0,
    "re_adds": 2,
    "deletions": 0,
    "deletions_within_window": 0,
    "net_adds": 0,
    "first_orders": 1,
    "net_gmv_fen": 20_000,
}


def test_counts_per_code_and_totals(shop: Shop, scene: Scene) -> None:
    result = report(shop)
    by_id = {c.code_id: c for c in result.codes}
    assert counts(by_id[scene.store_code]) == STORE
    assert counts(by_id[scene.agency_code]) == AGENCY
    assert counts(result.totals) == {k: STORE[k] + AGENCY[k] for k in STORE}
    assert (result.since, result.until, result.deletion_window_days) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
        7,
    )


def test_groups_by_owner_kind_and_org_unit(shop: Shop, scene: Scene) -> None:
    result = report(shop)
    kinds = {g.key: (g.code_count, g.adds) for g in result.by_owner_kind}
    assert kinds == {"agency": (1, 2), "store": (1, 5)}
    units = {g.key: (g.code_count, g.net_gmv_fen) for g in result.by_org_unit}
    assert units == {str(shop.world.store_ids[0]): (1, 31_000), None: (1, 20_000)}


def test_one_code_and_a_wider_deletion_window(shop: Shop, scene: Scene) -> None:
    result = report(shop, scene.store_code, deletion_window_days=30)
    assert [c.code_id for c in result.codes] == [scene.store_code]
    assert result.codes[0].deletions_within_window == 2
    assert result.codes[0].net_adds == 2  # Cy was a re-add: not a lost new customer


def test_period_bounds_are_the_tenants_days(shop: Shop, scene: Scene) -> None:
    september = report(shop, scene.store_code, since=date(2026, 9, 30), until=date(2026, 9, 30))
    assert september.codes[0].adds == 1  # Di, 23:30 Shanghai on 30 September
    november = report(shop, scene.store_code, since=date(2026, 11, 1), until=date(2026, 11, 30))
    assert counts(november.codes[0]) == dict.fromkeys(STORE, 0)


def test_list_carries_counts_for_the_period(shop: Shop, scene: Scene) -> None:
    with unit_of_work(shop.admin) as db:
        page = reports.list_codes(db, shop.admin, **OCTOBER)
    listed = {code.id: stats for code, stats in page.items}
    assert listed[scene.store_code].net_gmv_fen == STORE["net_gmv_fen"]
    assert listed[scene.agency_code].adds == 2


def test_bad_periods_are_refused(shop: Shop) -> None:
    with pytest.raises(InvalidInput, match="after"):
        report(shop, since=date(2026, 11, 2), until=date(2026, 11, 1))
    with pytest.raises(InvalidInput, match="deletion_window_days"):
        report(shop, deletion_window_days=0)


def test_a_store_manager_sees_only_codes_of_their_units(shop: Shop, scene: Scene) -> None:
    from tests.factories import _login_actor

    manager = _login_actor(shop.world.users["manager1"])
    with unit_of_work(manager) as db:
        result = reports.code_stats(db, manager, None, **OCTOBER)
    assert [c.code_id for c in result.codes] == [scene.store_code]
    assert counts(result.totals) == STORE


def test_a_page_of_codes_costs_two_selects(shop: Shop, scene: Scene) -> None:
    for n in range(5):
        shop.create(name=f"Extra {n}")
    selects: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    with unit_of_work(shop.admin) as db:
        connection = db.connection()
        event.listen(connection, "before_cursor_execute", count)
        try:
            page = reports.list_codes(db, shop.admin, **OCTOBER)
        finally:
            event.remove(connection, "before_cursor_execute", count)
    assert len(page.items) == 7
    assert len(selects) == 2  # the codes, then the counts of all of them
