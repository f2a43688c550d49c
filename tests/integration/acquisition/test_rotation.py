"""Daily caps of rotating codes: a capped member leaves the contact way, the next day they return.

The outbox delivers at once in tests (huey immediate) with the real clock, so the adds are
written at the real "now".
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from siyu.acquisition import jobs, service
from siyu.acquisition.schemas import CodeRead
from siyu.contacts.models import ContactRelation
from siyu.core.clock import SYSTEM_CLOCK, local_day_range
from siyu.core.db import unit_of_work
from siyu.jobs.models import OutboxMessage, OutboxStatus
from tests.integration.acquisition.conftest import Shop, new_customer, relate


def _added(shop: Shop, code: CodeRead, label: str, count: int = 1) -> None:
    """``count`` customers add ``label`` through the code now; callback processing reports each."""
    for _ in range(count):
        now = SYSTEM_CLOCK.now()
        customer_id = new_customer(shop.admin, "Amy")
        relate(shop, code.id, customer_id, shop.uid(label), now)
        with unit_of_work(shop.admin) as db:
            stored = service.code_for_state(db, shop.admin, code.state)
            assert stored is not None
            service.on_contact_added(
                db, shop.admin, code=stored, wecom_userid=shop.uid(label), now=now
            )


def _messages(shop: Shop) -> list[OutboxMessage]:
    with unit_of_work(shop.admin) as db:
        return list(
            db.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == service.UPDATE_CONTACT_WAY)
                .order_by(OutboxMessage.created_at, OutboxMessage.id)
            )
        )


def test_capped_members_leave_the_way_until_the_next_day(shop: Shop) -> None:
    g1, g2, g3 = shop.uid("guide1"), shop.uid("guide2"), shop.uid("guide3")
    code = shop.create(
        name="Rotating", staff_userids=[g1, g2, g3], is_rotating=True, daily_cap_per_staff=2
    )
    way = shop.corp.way(code.config_id)
    assert way is not None

    _added(shop, code, "guide1")
    assert _messages(shop) == []  # under the cap: nothing to change
    _added(shop, code, "guide1")
    assert way.user == [g2, g3]
    sent = _messages(shop)
    assert [m.status for m in sent] == [OutboxStatus.SENT]
    assert sent[0].result == {"users": [g2, g3]}

    _added(shop, code, "guide2", 2)
    assert way.user == [g3]
    _added(shop, code, "guide3", 2)
    assert way.user == [g3]  # all capped: the last one to reach the cap keeps the code alive
    assert len(_messages(shop)) == 2  # the list did not change: no second call for it

    # The day passes: today's adds become yesterday's, and the hourly job restores the list.
    tz = ZoneInfo(shop.admin.timezone)
    today_start, _ = local_day_range(SYSTEM_CLOCK.now(), tz)
    with unit_of_work(shop.admin) as db:
        db.execute(
            update(ContactRelation)
            .where(ContactRelation.tenant_id == shop.admin.tenant_id)
            .values(added_at=today_start - timedelta(hours=1))
        )
    assert jobs.restore_all() == 1
    assert way.user == [g1, g2, g3]
    assert jobs.restore_all() == 1  # queued once per day: the second run finds the same key
    assert len(_messages(shop)) == 3


def test_codes_without_cap_or_rotation_never_queue(shop: Shop) -> None:
    g1, g2 = shop.uid("guide1"), shop.uid("guide2")
    single = shop.create(name="Single")
    rotating = shop.create(name="Rotating", staff_userids=[g1, g2], is_rotating=True)
    _added(shop, single, "guide1", 3)
    _added(shop, rotating, "guide1", 3)
    assert _messages(shop) == []
    assert shop.corp.way(rotating.config_id).user == [g1, g2]  # type: ignore[union-attr]


def test_a_disabled_code_drops_its_pending_update(shop: Shop) -> None:
    g1, g2 = shop.uid("guide1"), shop.uid("guide2")
    code = shop.create(
        name="Rotating", staff_userids=[g1, g2], is_rotating=True, daily_cap_per_staff=1
    )
    now = SYSTEM_CLOCK.now()
    relate(shop, code.id, new_customer(shop.admin, "Bo"), g1, now)
    with unit_of_work(shop.admin) as db:
        stored = service.get_code(db, shop.admin, code.id)
        service.on_contact_added(db, shop.admin, code=stored, wecom_userid=g1, now=now)
        stored.is_active = False  # disabled before the message is delivered
    assert [m.status for m in _messages(shop)] == [OutboxStatus.DROPPED]
