"""Transfers in a real browser: ``siyu serve`` on a prepared SQLite home and a fake WeCom on a real
port. An admin hands a guide's customers to a colleague, follows the 24-hour outcome with
"refresh", sees the refused customer and hands it to someone else."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr

from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom.fake.app import create_fake_app
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.config import Settings
from siyu.contacts import service as contacts
from siyu.core import migrate
from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, make_engine, system_unit_of_work, unit_of_work
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from tests.e2e.conftest import (
    ARTIFACTS,
    DESKTOP,
    DemoServer,
    _failed,
    _free_port,
    _siyu_command,
    _wait_until_ready,
)
from tests.e2e.test_console import e2e, nav_link, sign_in
from tests.integration.test_wecom_cli import serving

PASSWORD = "transfer-e2e-pass"
DAY = 86_400
STAFF = {"zhangsan": "张三", "lisi": "李四", "wangwu": "王五"}


@dataclass(frozen=True)
class Site:
    server: DemoServer
    fake: httpx.Client
    customers: list[str]


def _prepare(url: str, fake_url: str, customers: list[str]) -> None:
    """Tenant, admin login, three staff, a WeCom account on the fake, zhangsan's customers."""
    engine = make_engine(url)
    with engine.begin() as conn:
        migrate.upgrade(url, "head", conn)
    database = Database(engine)
    with system_unit_of_work(reason="e2e tenant", database=database) as db:
        tenant = tenancy.create_tenant(db, name="继承测试品牌", slug="acme")
        user = security.create_user(db, username="boss", password=PASSWORD)
        tenancy.add_staff_at_hq(
            db, tenant_id=tenant.id, user_id=user.id, name="Boss", role=Role.ADMIN
        )
        admin = Actor(tenant_id=tenant.id, user_id=None, role=Role.ADMIN, label="e2e")
    config = WeComConfig(
        corp_id=DEFAULT_CORP_ID,
        secret=SecretStr(DEFAULT_SECRET),
        callback_token=SecretStr(DEFAULT_CALLBACK_TOKEN),
        callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
        base_url=fake_url,
    )
    with unit_of_work(admin, database=database) as db:
        root = tenancy.root_unit(db)
        for userid, name in STAFF.items():
            tenancy.create_staff(
                db, admin, name=name, org_unit_id=root.id, role=Role.GUIDE, wecom_userid=userid
            )
        account = channels.create_wecom_account(db, admin, name="企业微信", config=config)
    with channels.client_for(account) as client:
        pages = list(client.iter_contacts_by_user(["zhangsan"]))
    with unit_of_work(admin, database=database) as db:
        for page in pages:
            for item in page.external_contact_list:
                contacts.apply_contact(
                    db,
                    admin,
                    account_id=account.id,
                    corp_id=DEFAULT_CORP_ID,
                    contact=item.external_contact,
                    follow=item.follow_info,
                    now=SYSTEM_CLOCK.now(),
                )
    synced = {i.external_contact.external_userid for pg in pages for i in pg.external_contact_list}
    assert synced == set(customers)
    engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("siyu-transfers-home")
    url = f"sqlite:///{home / 'siyu.db'}"
    with ExitStack() as stack:
        port = stack.enter_context(serving(create_fake_app(FakeConfig(), background=True)))
        fake_url = f"http://127.0.0.1:{port}"
        fake = stack.enter_context(httpx.Client(base_url=fake_url, timeout=30))
        seeded = fake.post("/_fake/customers/seed", json={"userid": "zhangsan", "count": 4})
        customers = list(seeded.json()["external_userids"])
        _prepare(url, fake_url, customers)
        server_port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
        env |= {"SIYU_HOME": str(home), "SIYU_ENV": "test", "SIYU_DATABASE_URL": url}
        log_path = home / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*_siyu_command(), "serve", "--port", str(server_port), "--no-migrate"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=home,
            )
        server = DemoServer(f"http://127.0.0.1:{server_port}", log_path)
        try:
            _wait_until_ready(process, server)
            yield Site(server, fake, customers)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@pytest.fixture
def page(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop page on this test's server (not the demo's), screenshot kept on failure."""
    context = browser.new_context(viewport=DESKTOP, base_url=site.server.base_url, locale="zh-CN")
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    if _failed(request.node):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "transfers-failure.png", full_page=True)
    context.close()


def _pick(page: Page, label: str, option: str) -> None:
    """Choose ``option`` in the select labelled ``label`` (Quasar renders options in a menu)."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option).click()
    page.keyboard.press("Escape")


@e2e
def test_admin_hands_a_guides_customers_over_and_retries_the_refusal(
    site: Site, page: Page
) -> None:
    sign_in(page, "boss", password=PASSWORD)
    nav_link(page, "客户继承").click()
    expect(page).to_have_url(re.compile(r"/transfers$"))
    expect(page.get_by_role("heading", name="客户继承", level=1)).to_be_visible()

    page.get_by_role("button", name="在职继承").click()
    _pick(page, "原跟进员工", "张三 (zhangsan)")
    expect(page.get_by_text("共 4 位客户，其中 4 位可以继承")).to_be_visible()
    _pick(page, "接替员工", "李四 (lisi)")
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

    _pick(page, "接替员工", "王五 (wangwu)")
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
