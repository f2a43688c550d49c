"""WeCom sync and customer groups in a real browser against ``siyu demo`` and its fake WeCom:
an admin starts a full sync, watches it finish, and reads the groups it brought in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from siyu.channels.wecom.sync_state import RunStatus, SyncMode
from siyu.console import i18n
from siyu.groups.models import GroupStatus, MemberKind
from tests.e2e.conftest import ARTIFACTS, DemoServer
from tests.e2e.test_console import data_table, e2e, follow, nav_link, sign_in

SYNC_TIMEOUT_MS = 120_000  # the demo's worker runs the job; a busy machine takes its time


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("group_status", list(GroupStatus)),
        ("group_member_kind", list(MemberKind)),
        ("sync.status", list(RunStatus)),
        ("sync.started", list(SyncMode)),
    ],
)
def test_every_value_shown_has_a_label(prefix: str, values: list[str]) -> None:
    for code in i18n.LOCALES:
        missing = [v for v in values if f"{prefix}.{v}" not in i18n.catalog(code)]
        assert not missing, f"{code} lacks {prefix}.* for {missing}"


@pytest.fixture
def demo_server(wecom_demo_server: DemoServer) -> DemoServer:
    """These tests run against the demo with its fake WeCom and simulated customers."""
    return wecom_demo_server


@e2e
def test_admin_syncs_wecom_and_reads_groups_and_members(page: Page) -> None:
    sign_in(page, "admin")
    nav_link(page, "企微同步").click()
    expect(page).to_have_url(re.compile(r"/wecom-sync$"))
    card = page.get_by_label("企业微信（演示）", exact=True)
    expect(card.get_by_role("heading", name="全量同步", level=3)).to_be_visible()
    card.get_by_role("button", name="立即全量同步").click()
    full = card.get_by_role("progressbar", name=re.compile(r"^全量同步 100%"))
    expect(full).to_be_visible(timeout=SYNC_TIMEOUT_MS)
    expect(card).to_contain_text("已完成")
    expect(card).to_contain_text("每 60 分钟对账一次")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "wecom-sync-zh.png", full_page=True)

    nav_link(page, "客户群").click()
    expect(page).to_have_url(re.compile(r"/groups$"))
    table = data_table(page, "客户群列表")
    first = table.locator("tbody tr").first
    expect(first).to_contain_text("正常")
    follow(page, first.get_by_role("link"), re.compile(r"/groups/[0-9a-f-]{36}$"))
    members = data_table(page, "群成员")
    expect(members.locator("tbody tr").first).to_contain_text("在群中")
    page.screenshot(path=ARTIFACTS / "group-detail-zh.png", full_page=True)
    customer = members.locator("tbody tr", has_text="客户").first.get_by_role("link")
    if customer.count():
        follow(page, customer, re.compile(r"/customers/[0-9a-f-]{36}$"))

    page.get_by_role("button", name="English").click()
    nav_link(page, "Customer groups").click()
    expect(page.get_by_role("heading", name="Customer groups", level=1)).to_be_visible()
    nav_link(page, "WeCom sync").click()
    expect(page.get_by_role("button", name="Reconcile now")).to_be_visible()
