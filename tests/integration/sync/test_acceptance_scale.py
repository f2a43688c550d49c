"""Acceptance 4 of issue #6: a fake corp of 50 members and 20,000 customers syncs in full.

The full 20,000 run is PostgreSQL's (production's); SQLite runs the same corp with 5,000
customers to keep the suite short (figures for both sizes are in docs/wecom.md). The smaller
runs in ``test_full_sync`` cover the details.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
import structlog

from siyu.channels import service as channels
from siyu.channels.wecom import sync
from siyu.contacts.models import ContactRelation
from siyu.core.db import Database
from siyu.customers.models import Customer
from tests.integration.sync.conftest import SLUG, Corp, make_corp

MEMBERS = [f"{SLUG}_guide{i}" for i in (1, 2, 3)] + [f"member{i:02d}" for i in range(47)]
SIZES = {"postgresql": 20_000, "sqlite": 5_000}

log = structlog.get_logger(__name__)


@pytest.fixture
def big_corp(database: Database) -> Iterator[Corp]:
    yield from make_corp(None, members=MEMBERS)


def test_full_sync_of_20000_customers_and_50_members(big_corp: Corp, database: Database) -> None:
    customers = SIZES[database.engine.dialect.name]
    per_member = customers // len(MEMBERS)
    for userid in MEMBERS:
        big_corp.seed(userid, per_member)
    calls: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def progress(stage: str, done: int, total: int) -> None:
        calls[stage].append((done, total))

    actor = channels.channel_actor(big_corp.world.tenant_id, "Asia/Shanghai", "main")
    started = time.perf_counter()
    report = sync.run_full_sync(actor, big_corp.account_id, progress=progress)
    seconds = time.perf_counter() - started
    log.info("acceptance_full_sync", seconds=round(seconds, 1), **report.counts)

    assert report.counts["members"] == 50
    assert report.counts["contacts"] == customers
    assert report.counts["customers_created"] == customers
    assert report.counts["relations_started"] == customers
    assert big_corp.count(Customer) == customers
    assert big_corp.count(ContactRelation) == customers
    assert big_corp.active() == big_corp.wecom_pairs()
    assert calls["members"][-1] == (50, 50)
    assert calls["contacts"][-1] == (customers, customers)
    assert len(calls["contacts"]) >= customers // 100  # the bar moves page by page
    assert all(done <= total for stage in calls.values() for done, total in stage)
    # 200 pages of batch/get_by_user, 50 lists: far below WeCom's 10,000 calls a minute
    api_calls = big_corp.fake.state.api_calls
    assert api_calls["externalcontact/batch/get_by_user"] == customers // 100
    assert api_calls["externalcontact/list"] == 50
    assert seconds < 180  # about 40 s on a loaded 2-core machine; a bad query plan takes 200
