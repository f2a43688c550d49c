"""The console in a real browser against ``siyu demo``: sign-in, language, data scope and
masking per role, the agency's tenant switcher, the main pages, and a phone-sized screen."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Literal

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from siyu.console import i18n
from siyu.core.actor import Role
from siyu.customers.models import Gender
from siyu.orders.models import OrderSource, OrderStatus
from siyu.security.rbac import Perm
from siyu.tenancy.models import OrgKind
from tests.e2e.conftest import DEMO_PASSWORD, PHONE, DemoServer, NewPage

MASKED_PHONE = re.compile(r"1\d{2}\*{4}\d{4}")
FULL_PHONE = re.compile(r"1\d{10}")
e2e = pytest.mark.e2e


# --- helpers ----------------------------------------------------------------------------------


def sign_in(page: Page, username: str, *, password: str = DEMO_PASSWORD) -> None:
    """Sign in on the (Chinese) login page and wait for the overview, in Chinese.

    A user's console language is kept with the user: another test on the same demo server may
    have left this one in English, so switch back before the test reads Chinese labels.
    """
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_label("密码", exact=True).press("Enter")
    expect(page).not_to_have_url(re.compile(r"/login"))
    menu = page.get_by_role("button", name=re.compile(r"^(用户菜单|User menu)$"))
    expect(menu).to_be_visible()
    if page.get_by_role("button", name="User menu").is_visible():
        page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("button", name="用户菜单")).to_be_visible()


def connected(page: Page) -> None:
    """Wait until the page's NiceGUI socket has shaken hands with the server.

    A click on a freshly loaded page waits in the browser for the handshake; on a loaded CI
    machine such a click was lost now and then (after a reload, after following a link).
    """
    page.wait_for_function("() => window.did_handshake === true")


def reload(page: Page) -> None:
    """Reload the page and wait for its socket (``connected``)."""
    page.reload()
    connected(page)


def open_dialog(
    page: Page,
    button: Locator,
    name: str | None = None,
    *,
    role: Literal["dialog", "alertdialog"] = "dialog",
) -> Locator:
    """Click ``button`` and return the dialog (named ``name``) it opens, clicking once more, as a
    person would, if the first click was lost."""
    dialog = page.get_by_role(role, name=name) if name is not None else page.get_by_role(role)
    button.click()
    try:
        expect(dialog).to_be_visible(timeout=10_000)
    except AssertionError:
        button.click()
        expect(dialog).to_be_visible(timeout=30_000)
    return dialog


def follow(page: Page, link: Locator, url: re.Pattern[str]) -> None:
    """Click ``link``, wait until the page is at ``url`` and its socket is up, clicking once more,
    as a person would, if the first click was lost (a table re-rendered its rows between the
    press and the release of the button on a loaded CI machine)."""
    link.click()
    try:
        expect(page).to_have_url(url, timeout=10_000)
    except AssertionError:
        link.click()
        expect(page).to_have_url(url, timeout=30_000)
    connected(page)


def nav_link(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation").get_by_role("link", name=name, exact=True)


def data_table(page: Page, name: str) -> Locator:
    """Return the table in the region named ``name``."""
    return page.get_by_role("region", name=name, exact=True).get_by_role("table")


def table_column(table: Locator, index: int) -> list[str]:
    """Return the texts of one column (1-based) of a table's body rows."""
    return table.locator(f"tbody tr td:nth-child({index})").all_inner_texts()


def kpi_value(page: Page, label: str) -> int:
    text = page.get_by_role("group", name=label).inner_text()
    return int(text.replace(label, "").strip().replace(",", ""))


def assert_fits_width(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width}px wide on a {width}px screen"


# --- translations (no browser) ------------------------------------------------------------------


def test_locales_have_the_same_keys() -> None:
    assert i18n.missing_keys() == {}


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("role", list(Role)),
        ("kind", list(OrgKind)),
        ("gender", list(Gender)),
        ("source", list(OrderSource)),
        ("status", list(OrderStatus)),
    ],
)
def test_every_enum_value_has_a_label(prefix: str, values: list[str]) -> None:
    for code in i18n.LOCALES:
        missing = [v for v in values if f"{prefix}.{v}" not in i18n.catalog(code)]
        assert not missing, f"{code}.json lacks {prefix}.* for {missing}"


def test_every_permission_has_a_label() -> None:
    for code in i18n.LOCALES:
        missing = [p for p in Perm if f"perm.{p.name.lower()}" not in i18n.catalog(code)]
        assert not missing, f"{code}.json lacks perm.* for {missing}"


# --- browser ------------------------------------------------------------------------------------


@e2e
def test_signed_out_visitor_is_sent_to_login_and_back(page: Page) -> None:
    page.goto("/customers")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcustomers$"))
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/customers$"))
    # the console speaks the user's own language, which another test may have left in English
    heading = page.get_by_role("heading", name=re.compile(r"^(客户|Customers)$"), level=1)
    expect(heading).to_be_visible()


@e2e
def test_wrong_password_says_so_and_stays_on_login(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码", exact=True).fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("用户名或密码错误", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login$"))


@e2e
def test_admin_shell_is_chinese_then_english_and_shows_full_phones(page: Page) -> None:
    sign_in(page, "admin")
    expect(page.get_by_role("heading", name="概览", level=1)).to_be_visible()
    expect(nav_link(page, "客户")).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text("siyu 私域")
    assert kpi_value(page, "范围内客户数") == 300

    page.get_by_role("button", name="English").click()
    expect(nav_link(page, "Customers")).to_be_visible()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en-US")
    reload(page)  # the choice is kept
    expect(nav_link(page, "Customers")).to_be_visible()

    nav_link(page, "Customers").click()
    expect(page).to_have_url(re.compile(r"/customers$"))
    table = data_table(page, "Customer list")
    expect(table.locator("tbody tr").first).to_be_visible()
    phones = [p for p in table_column(table, 2) if p != "—"]
    assert phones, "the demo customers have phones"
    assert all(FULL_PHONE.fullmatch(p) for p in phones), phones  # admins read PII

    page.get_by_role("button", name="中文").click()  # leave the admin in Chinese
    expect(nav_link(page, "客户")).to_be_visible()


@e2e
def test_guide_sees_only_own_customers_with_masked_phones(page: Page) -> None:
    sign_in(page, "guide")
    expect(page.get_by_role("main")).to_contain_text("你服务的客户")
    own = kpi_value(page, "范围内客户数")
    assert 0 < own < 300
    expect(nav_link(page, "API 令牌")).to_have_count(0)  # guides cannot manage API tokens

    nav_link(page, "客户").click()
    table = data_table(page, "客户列表")
    expect(table.locator("tbody tr").first).to_be_visible()
    phones = [p for p in table_column(table, 2) if p != "—"]
    assert phones
    assert all(MASKED_PHONE.fullmatch(p) for p in phones), phones
    assert len(set(table_column(table, 5))) == 1, "every customer is served by this guide"


@e2e
def test_agency_switches_between_its_two_tenants(page: Page) -> None:
    sign_in(page, "agency")
    switcher = page.get_by_role("combobox", name="租户")
    expect(switcher).to_be_visible()
    current = switcher.input_value()
    switcher.click()
    options = page.get_by_role("option")
    expect(options).to_have_count(2)
    other = next(o.strip() for o in options.all_inner_texts() if o.strip() != current)
    page.get_by_role("option", name=other).click()

    expect(page.get_by_role("combobox", name="租户")).to_have_value(other)
    expect(page.get_by_role("main")).to_contain_text(other)
    nav_link(page, "客户").click()
    table = data_table(page, "客户列表")
    expect(table.locator("tbody tr").first).to_be_visible()
    phones = [p for p in table_column(table, 2) if p != "—"]
    assert phones
    assert all(MASKED_PHONE.fullmatch(p) for p in phones), phones  # agencies lack PII_READ


@e2e
def test_customer_search_paging_detail_and_not_found(page: Page) -> None:
    sign_in(page, "admin")
    page.goto("/customers")
    table = data_table(page, "客户列表")
    expect(table.locator("tbody tr")).to_have_count(20)
    first_page = table_column(table, 1)
    page.get_by_role("button", name="下一页").click()
    expect(page.get_by_text("第 2 页")).to_be_visible()
    expect(table.locator("tbody tr").first).not_to_have_text(first_page[0])

    phone = next(p for p in table_column(table, 2) if p != "—")
    search = page.get_by_role("searchbox", name="搜索客户")
    search.fill(phone)
    search.press("Enter")
    expect(page.get_by_text("第 1 页")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr").first).to_contain_text(phone)

    follow(
        page,
        table.locator("tbody tr").first.get_by_role("link"),
        re.compile(r"/customers/[0-9a-f-]{36}$"),
    )
    expect(page.get_by_role("main")).to_contain_text(phone)
    expect(page.get_by_role("heading", name="订单", level=2)).to_be_visible()
    expect(data_table(page, "订单")).to_be_visible()

    page.goto(f"/customers/{uuid.uuid4()}")
    expect(page.get_by_role("alert")).to_contain_text("没有找到这位客户")


@e2e
def test_api_token_is_shown_once_works_and_can_be_revoked(
    page: Page, demo_server: DemoServer
) -> None:
    sign_in(page, "admin")
    nav_link(page, "API 令牌").click()
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    page.get_by_label("令牌名称").fill(name)
    page.get_by_role("button", name="创建令牌").click()
    dialog = page.get_by_role("dialog", name="令牌已创建")
    expect(dialog).to_be_visible()
    secret = dialog.get_by_label("密钥").input_value()
    assert secret.startswith("sy_")
    me = httpx.get(demo_server.url("/api/v1/me"), headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200, me.text
    dialog.get_by_role("button", name="完成").click()
    expect(dialog).to_be_hidden()

    row = data_table(page, "API 令牌列表").locator("tbody tr", has_text=name)
    expect(row).to_contain_text("有效")
    row.get_by_role("button", name=f"撤销 {name}").click()
    page.get_by_role("alertdialog").get_by_role("button", name="撤销").click()
    expect(row).to_contain_text("已撤销")
    me = httpx.get(demo_server.url("/api/v1/me"), headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 401


def submit_form(page: Page, label: str, value: str, button: str) -> None:
    """Fill a console form's field and submit it; the form clears once the server has acted.

    On a loaded CI machine the click was seen to arrive before the field's value (the form then
    warns that the field is required), so click once more, as a person would, before failing.
    """
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")  # let the value reach the server before the click
    page.get_by_role("button", name=button).click()
    try:
        expect(field).to_have_value("", timeout=10_000)
    except AssertionError:
        page.get_by_role("button", name=button).click()
        expect(field).to_have_value("", timeout=30_000)


@e2e
def test_admin_adds_a_store_and_a_guide_in_the_org_tree(page: Page) -> None:
    sign_in(page, "admin")
    nav_link(page, "组织与员工").click()
    region = page.get_by_text(re.compile(r"· 大区$")).first
    region_name = region.inner_text().split(" · ")[0]
    region.click()
    expect(page.get_by_role("heading", name=region_name, level=2)).to_be_visible()

    store = f"测试门店{uuid.uuid4().hex[:4]}"
    page.get_by_role("button", name="新增下级组织").click()
    submit_form(page, "名称", store, "创建组织")
    expect(page.get_by_text(f"{store} · 门店")).to_be_visible()
    expect(page.get_by_role("heading", name=store, level=2)).to_be_visible()

    page.get_by_role("button", name="新增员工").click()
    submit_form(page, "姓名", "测试导购", "创建员工")
    staff = data_table(page, "员工")
    expect(staff.locator("tbody tr", has_text="测试导购").first).to_contain_text(
        "导购", timeout=30_000
    )


@e2e
def test_settings_shows_role_and_sign_out_ends_the_session(page: Page) -> None:
    sign_in(page, "guide")
    nav_link(page, "设置").click()
    main = page.get_by_role("main")
    expect(main).to_contain_text("导购")
    expect(page.get_by_role("list", name="权限")).to_contain_text("查看客户")
    expect(page.get_by_role("list", name="权限")).not_to_contain_text("查看完整个人信息")

    page.get_by_role("button", name="用户菜单").click()
    page.get_by_role("menuitem", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


@e2e
def test_admin_sets_a_survivorship_rule_in_settings(page: Page) -> None:
    sign_in(page, "admin")
    nav_link(page, "设置").click()
    card = page.get_by_role("heading", name="黄金记录：以哪个值为准").locator("..")
    expect(card).to_contain_text("保留最早的值")
    card.get_by_label("城市").click()
    page.get_by_role("option", name="以最新的值为准").click()
    # the menu closes with a transition: open the next one once its options are gone
    expect(page.get_by_role("option")).to_have_count(0)
    card.get_by_label("姓名").click()
    page.get_by_role("option", name="以最可信的来源为准").click()
    card.get_by_label("来源，按可信度从高到低").first.fill("pos, tmall")
    card.get_by_role("button", name="保存规则").click()
    expect(page.get_by_text("取值规则已保存")).to_be_visible()
    reload(page)
    card = page.get_by_role("heading", name="黄金记录：以哪个值为准").locator("..")
    expect(card.get_by_label("来源，按可信度从高到低").first).to_have_value("pos, tmall")


@e2e
def test_phone_sized_screen_renders_login_and_overview(new_page: NewPage) -> None:
    page = new_page(PHONE)
    page.goto("/login")
    expect(page.get_by_label("用户名")).to_be_visible()
    expect(page.get_by_role("button", name="English")).to_be_visible()
    assert_fits_width(page, PHONE["width"])

    sign_in(page, "guide")
    expect(page.get_by_role("heading", name="概览", level=1)).to_be_visible()
    expect(page.get_by_role("group", name="净成交额")).to_be_visible()
    expect(nav_link(page, "客户")).to_be_hidden()  # the drawer is folded away on phones
    assert_fits_width(page, PHONE["width"])

    page.get_by_role("button", name="展开或收起导航").click()
    nav_link(page, "客户").click()
    table = data_table(page, "客户列表")
    expect(table.locator("tbody tr").first).to_be_visible()
    assert_fits_width(page, PHONE["width"])


# --- imports, identities, junk keys (these write data: keep them last) ---------------------------

TMALL_EXPORT = Path(__file__).resolve().parents[1] / "fixtures" / "orders" / "tmall.csv"


def upload_orders(page: Page, path: Path) -> None:
    page.goto("/imports")
    expect(page.get_by_role("heading", name="数据导入", level=1)).to_be_visible()
    page.locator("input[type=file]").set_input_files(path)
    expect(page.get_by_role("heading", name="导入结果", level=2)).to_be_visible(timeout=60_000)


@e2e
def test_admin_imports_a_tmall_export_and_sees_the_bad_row(page: Page) -> None:
    sign_in(page, "admin")
    expect(nav_link(page, "数据导入")).to_be_visible()
    upload_orders(page, TMALL_EXPORT)
    assert kpi_value(page, "新增订单") == 7
    errors = data_table(page, "错误行")
    bad = errors.locator("tbody tr", has_text="买家实际支付金额")
    expect(bad).to_have_count(1)
    expect(bad.locator("td").first).to_have_text("7")
    with page.expect_download() as download:
        page.get_by_role("button", name="下载错误报告 CSV").click()
    report = Path(download.value.path()).read_bytes()
    assert report.startswith(b"\xef\xbb\xbf")
    assert "买家实际支付金额" in report.decode("utf-8-sig")

    page.goto("/customers?q=18600001111")
    table = data_table(page, "客户列表")
    expect(table.locator("tbody tr").first).to_contain_text("18600001111")
    follow(
        page,
        table.locator("tbody tr").first.get_by_role("link"),
        re.compile(r"/customers/[0-9a-f-]{36}$"),
    )
    expect(page.get_by_role("heading", name="身份标识", level=2)).to_be_visible()
    expect(data_table(page, "身份标识")).to_contain_text("18600001111")
    expect(page.get_by_role("heading", name="时间线", level=2)).to_be_visible()
    expect(data_table(page, "时间线")).to_contain_text("订单支付")
    expect(page.get_by_role("heading", name="合并记录", level=2)).to_be_visible()


@e2e
def test_abort_mode_imports_nothing(page: Page) -> None:
    sign_in(page, "admin")
    page.goto("/imports")
    page.get_by_label("遇到错误行时").click()
    page.get_by_role("option", name="有错误则全部不导入").click()
    page.locator("input[type=file]").set_input_files(TMALL_EXPORT)
    expect(page.get_by_role("alert").filter(has_text="没有写入任何数据")).to_be_visible(
        timeout=60_000
    )
    assert kpi_value(page, "新增订单") == 0


@e2e
def test_junk_keys_list_the_placeholder_phone_and_can_be_cleared(page: Page) -> None:
    sign_in(page, "admin")
    upload_orders(page, TMALL_EXPORT)  # idempotent: makes this test independent of the others
    nav_link(page, "异常标识").click()
    expect(page).to_have_url(re.compile(r"/identity/junk-keys$"))
    row = data_table(page, "异常标识列表").locator("tbody tr", has_text="13800138000")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("已标记")
    row.get_by_role("button", name="解除 13800138000").click()
    expect(row).to_contain_text("已解除")
    row.get_by_role("button", name="重新标记 13800138000").click()
    expect(row).to_contain_text("已标记")


@e2e
def test_guide_cannot_import(page: Page) -> None:
    sign_in(page, "guide")
    expect(nav_link(page, "数据导入")).to_have_count(0)
    page.goto("/imports")
    expect(page.get_by_role("main")).to_contain_text("无权")
