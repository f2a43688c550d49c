"""Channel codes in a real browser: ``siyu serve`` on a prepared SQLite home and a fake WeCom on a
real port. An admin creates a rotating code with a welcome and a tag, sees its QR code, reads its
statistics once customers came in, changes its staff, switches to English and disables it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from siyu.acquisition.models import ChannelCode
from siyu.channels import service as channels
from siyu.channels.wecom.fake.config import DEFAULT_CORP_ID, DEFAULT_SECRET
from siyu.channels.wecom.models import WeComCorpTag
from siyu.channels.wecom.schemas import NewTag
from siyu.config import Settings
from siyu.contacts.models import ContactRelation
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, unit_of_work
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from tests.e2e.conftest import ARTIFACTS, DemoServer
from tests.e2e.test_console import data_table, e2e, nav_link, sign_in
from tests.e2e.wecom_site import Brand, desktop_page, fake_wecom, pick, serve, wecom_brand

PASSWORD = "codes-e2e-pass"


@dataclass(frozen=True)
class Site:
    server: DemoServer
    fake: httpx.Client
    database: Database
    admin: Actor
    account_id: uuid.UUID


def _vip_tag(brand: Brand) -> None:
    """A corp tag to mark customers with; it exists in WeCom too, so the server's scheduled
    reconciliation keeps it."""
    with channels.client_for(brand.account) as client:
        group = client.add_corp_tag([NewTag(name="VIP")], group_name="客户等级")
    with unit_of_work(brand.admin, database=brand.database) as db:
        db.add(
            WeComCorpTag(
                id=new_id(),
                account_id=brand.account_id,
                tag_id=group.tag[0].id,
                name="VIP",
                group_id=group.group_id,
                group_name="客户等级",
            )
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, test_settings: Settings) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("siyu-codes-home")
    with ExitStack() as stack:
        fake_url, fake = fake_wecom(stack)
        brand = wecom_brand(
            stack, home, fake_url, name="活码测试品牌", slug="codes", password=PASSWORD
        )
        _vip_tag(brand)
        server = stack.enter_context(serve(home))
        yield Site(server, fake, brand.database, brand.admin, brand.account_id)


@pytest.fixture
def page(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop page on this test's server (not the demo's), screenshot kept on failure."""
    with desktop_page(browser, site.server, request, "codes") as page:
        yield page


def _way(site: Site, config_id: str) -> dict[str, object] | None:
    """Read a contact way from the fake WeCom the way siyu does (its cgi-bin API)."""
    token = site.fake.get(
        "/cgi-bin/gettoken", params={"corpid": DEFAULT_CORP_ID, "corpsecret": DEFAULT_SECRET}
    ).json()["access_token"]
    answer = site.fake.post(
        "/cgi-bin/externalcontact/get_contact_way",
        params={"access_token": token},
        json={"config_id": config_id},
    ).json()
    way: dict[str, object] | None = answer.get("contact_way")
    return way


def _stored_code(site: Site, state: str) -> ChannelCode:
    with unit_of_work(site.admin, database=site.database) as db:
        code = db.scalar(select(ChannelCode).where(ChannelCode.state == state))
        assert code is not None
        return code


def _customers_added(site: Site, code: ChannelCode, count: int) -> None:
    """Customers scanned the code (what callback processing records for each add)."""
    with unit_of_work(site.admin, database=site.database) as db:
        for n in range(count):
            customer = customers.create_customer(
                db, site.admin, data=CustomerCreate(name=f"扫码客户{n}")
            )
            db.add(
                ContactRelation(
                    id=new_id(),
                    account_id=site.account_id,
                    customer_id=customer.id,
                    wecom_userid="zhangsan",
                    external_userid=f"wm_e2e_{uuid.uuid4().hex}",
                    added_at=SYSTEM_CLOCK.now(),
                    add_way=1,
                    state=code.state,
                    channel_code_id=code.id,
                    is_new_customer=True,
                    tag_ids=[],
                )
            )


@e2e
def test_admin_creates_reads_changes_and_disables_a_channel_code(site: Site, page: Page) -> None:
    sign_in(page, "boss", password=PASSWORD)
    nav_link(page, "渠道活码").click()
    expect(page).to_have_url(re.compile(r"/channel-codes$"))
    expect(page.get_by_role("heading", name="渠道活码", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="渠道活码", exact=True)).to_contain_text(
        "还没有渠道活码"
    )

    page.get_by_role("button", name="新建活码").click()
    form = page.get_by_role("dialog", name="新建渠道活码")
    expect(form).to_be_visible()
    form.get_by_label("名称", exact=True).fill("静安店 收银台")
    form.get_by_label("渠道标识（state）").fill("store ja")
    pick(page, "接待员工（企业微信账号）", "张三 (zhangsan)", "李四 (lisi)")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_text("state 'store ja' is not valid")).to_be_visible()
    form.get_by_label("渠道标识（state）").fill("store-ja")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_text("2 staff members but rotation is off")).to_be_visible()
    form.get_by_role("switch", name="多人轮流接待").click()
    form.get_by_label("每人每日上限").fill("50")
    form.get_by_label("欢迎语文字").fill("{customer_name}您好，我是{staff_name}")
    pick(page, "附件", "链接")
    form.get_by_label("标题", exact=True).fill("新人礼包")
    form.get_by_label("链接地址").fill("https://shop.example.com/gift")
    pick(page, "添加时打的企业标签", "客户等级 / VIP")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "codes-form-zh.png", full_page=True)
    form.get_by_role("button", name="保存").click()

    qr = page.get_by_role("dialog", name="「静安店 收银台」的二维码")
    expect(qr).to_be_visible()
    expect(qr.get_by_text("渠道标识：store-ja")).to_be_visible()
    code = _stored_code(site, "store-ja")
    assert code.config_id is not None
    image = qr.get_by_role("img", name="「静安店 收银台」的二维码")
    expect(image).to_have_attribute("src", code.qr_code or "")
    expect(qr.get_by_role("link", name="打开二维码图片")).to_have_attribute(
        "href", code.qr_code or ""
    )
    way = _way(site, code.config_id)
    assert way is not None
    assert (way["state"], way["user"]) == ("store-ja", ["zhangsan", "lisi"])
    assert code.welcome["attachments"][0]["link"]["title"] == "新人礼包"
    with unit_of_work(site.admin, database=site.database) as db:
        vip = db.scalar(select(WeComCorpTag.tag_id).where(WeComCorpTag.name == "VIP"))
    assert code.tag_ids == [vip]
    qr.get_by_role("button", name="关闭").click()

    _customers_added(site, code, 3)
    page.get_by_role("button", name="刷新").click()
    row = data_table(page, "渠道活码").locator("tbody tr", has_text="静安店 收银台")
    expect(row).to_contain_text("启用中")
    expect(page.get_by_role("region", name="合计")).to_contain_text("3")
    page.screenshot(path=ARTIFACTS / "codes-list-zh.png", full_page=True)
    row.get_by_role("button", name="统计 静安店 收银台").click()
    stats = page.get_by_role("dialog", name="「静安店 收银台」的统计")
    table = stats.get_by_role("table")
    expect(table.locator("tbody tr", has_text="新客户")).to_contain_text("3")
    expect(table.locator("tbody tr", has_text="净增")).to_contain_text("3")
    stats.get_by_role("button", name="关闭").click()

    row.get_by_role("button", name="编辑 静安店 收银台").click()
    form = page.get_by_role("dialog", name="编辑活码「静安店 收银台」")
    expect(form.get_by_label("渠道标识（state）")).to_have_value("store-ja")
    form.get_by_label("名称", exact=True).fill("静安店 门口")
    pick(page, "接待员工（企业微信账号）", "王五 (wangwu)")
    form.get_by_role("button", name="保存").click()
    expect(page.get_by_text("已保存活码「静安店 门口」")).to_be_visible()
    way = _way(site, code.config_id)
    assert way is not None
    assert (way["user"], way["remark"]) == (["zhangsan", "lisi", "wangwu"], "静安店 门口")

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Channel codes", level=1)).to_be_visible()
    row = data_table(page, "Channel codes").locator("tbody tr", has_text="静安店 门口")
    expect(row).to_contain_text("Active")
    page.screenshot(path=ARTIFACTS / "codes-list-en.png", full_page=True)
    row.get_by_role("button", name="Disable 静安店 门口").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("Disabled")
    assert _way(site, code.config_id) is None
    page.get_by_role("button", name="中文").click()
