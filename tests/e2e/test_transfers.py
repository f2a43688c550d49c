"""Transfers in a real browser: ``siyu serve`` on a prepared SQLite home and a fake WeCom on a real
port. An admin hands a guide's customers to a colleague, follows the 24-hour outcome with
"refresh", sees the refused customer and hands it to someone else."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from siyu.channels import service as channels
from siyu.channels.wecom.fake.config import DEFAULT_CORP_ID
from siyu.config import Settings
from siyu.contacts import service as contacts
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import unit_of_work
from tests.e2e.conftest import ARTIFACTS, DemoServer
from tests.e2e.test_console import e2e, nav_link, sign_in
from tests.e2e.wecom_site import Brand, desktop_page, fake_wecom, pick, serve, wecom_brand

PASSWORD = "transfer-e2e-pass"
DAY = 86_400


@dataclass(frozen=True)
class Site:
    server: DemoServer
    fake: httpx.Client
    customers: list[str]


def _sync_customers(brand: Brand, customers: list[str]) -> None:
    """Bring zhangsan's customers on the fake into siyu (what a full sync does)."""
    with channels.client_for(brand.account) as client:
        pages = list(client.iter_contacts_by_user(["zhangsan"]))
    with unit_of_work(brand.admin, database=brand.database) as db:
        for page in pages:
            for item in page.external_contact_list:
                contacts.apply_contact(
                    db,
                    brand.admin,
                    account_id=brand.account_id,
                    corp_id=DEFAULT_CORP_ID,
                    contact=item.external_contact,
                    follow=item.follow_info,
                    now=SYSTEM_CLOCK.now(),
                )
    synced = {i.external_contact.external_userid for pg in pages for i in pg.external_contact_list}
    assert synced == set(customers)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("siyu-transfers-home")
    with ExitStack() as stack:
        fake_url, fake = fake_wecom(stack)
        seeded = fake.post("/_fake/customers/seed", json={"userid": "zhangsan", "count": 4})
        customers = list(seeded.json()["external_userids"])
        brand = wecom_brand(
            stack, home, fake_url, name="继承测试品牌", slug="acme", password=PASSWORD
        )
        _sync_customers(brand, customers)
        server = stack.enter_context(serve(home))
        yield Site(server, fake, customers)


@pytest.fixture
def page(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop page on this test's server (not the demo's), screenshot kept on failure."""
    with desktop_page(browser, site.server, request, "transfers") as page:
        yield page


@e2e
def test_admin_hands_a_guides_customers_over_and_retries_the_refusal(
    site: Site, page: Page
) -> None:
    sign_in(page, "boss", password=PASSWORD)
    nav_link(page, "客户继承").click()
    expect(page).to_have_url(re.compile(r"/transfers$"))
    expect(page.get_by_role("heading", name="客户继承", level=1)).to_be_visible()

    page.get_by_role("button", name="在职继承").click()
    pick(page, "原跟进员工", "张三 (zhangsan)")
    expect(page.get_by_text("共 4 位客户，其中 4 位可以继承")).to_be_visible()
    pick(page, "接替员工", "李四 (lisi)")
    page.get_by_label("转接提示语（在职继承）").fill("您好，我是您的新顾问李四。")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "transfers-start-zh.png", full_page=True)
    page.get_by_role("button", name="开始继承").click()
    expect(page).to_have_url(re.compile(r"/transfers/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name="继承详情", level=1)).to_be_visible()
    page.get_by_role("button", name="刷新结果").click()  # sends anything the worker has not yet
    expect(page.get_by_text("等待中 4")).to_be_visible()
    expect(page.get_by_text("转接提示语：您好，我是您的新顾问李四。")).to_be_visible()

    refused = site.customers[0]
    assert site.fake.post("/_fake/transfers/refuse", json={"external_userid": refused}).is_success
    assert site.fake.post("/_fake/time/advance", json={"seconds": DAY + 1}).is_success
    page.get_by_role("button", name="刷新结果").click()
    expect(page.get_by_text("已接替 3")).to_be_visible()
    expect(page.get_by_text("客户拒绝 1")).to_be_visible()
    expect(page.get_by_text("有 1 项没有成功")).to_be_visible()
    items = page.get_by_role("region", name="继承明细", exact=True).get_by_role("table")
    expect(items.locator("tbody tr", has_text=refused)).to_contain_text("客户拒绝了继承")
    page.screenshot(path=ARTIFACTS / "transfers-batch-zh.png", full_page=True)
    first = page.url

    pick(page, "接替员工", "王五 (wangwu)")
    page.get_by_role("button", name="重新继承").click()
    expect(page).not_to_have_url(first)
    expect(page).to_have_url(re.compile(r"/transfers/[0-9a-f-]{36}$"))
    items = page.get_by_role("region", name="继承明细", exact=True).get_by_role("table")
    expect(items.locator("tbody tr")).to_have_count(1)
    expect(items).to_contain_text(refused)
    expect(items).to_contain_text("wangwu")

    # lisi leaves: a resigned transfer offers them with the customers WeCom left unassigned
    assert site.fake.post("/_fake/members/lisi/resign").is_success
    page.get_by_role("link", name="返回继承记录").click()
    expect(page.get_by_role("button", name="离职继承")).to_have_attribute("aria-pressed", "true")
    page.get_by_label("原跟进员工", exact=True).click()
    expect(page.get_by_role("option", name="李四（lisi）· 待分配客户 3 位")).to_be_visible()
    page.keyboard.press("Escape")
    page.goto(first)

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Transfer", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Refresh results")).to_be_visible()
    page.get_by_role("link", name="Back to transfers").click()
    table = page.get_by_role("region", name="Transfer history", exact=True).get_by_role("table")
    expect(table.locator("tbody tr")).to_have_count(2)
    page.screenshot(path=ARTIFACTS / "transfers-list-en.png", full_page=True)
    assert uuid.UUID(first.rsplit("/", 1)[1])
