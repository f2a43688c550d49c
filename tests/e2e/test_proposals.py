"""The merge-proposal review queue in a real browser against ``siyu demo``.

The demo seeds near-duplicate customers and runs the proposal model, so the queue opens with
proposals. The tests that decide proposals come last and leave the customer count as they found
it: the merge they make is undone from the customer page.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ARTIFACTS, PHONE, NewPage
from tests.e2e.test_console import (
    FULL_PHONE,
    MASKED_PHONE,
    assert_fits_width,
    connected,
    data_table,
    e2e,
    kpi_value,
    nav_link,
    open_dialog,
    sign_in,
)

PATH = "/identity/merge-proposals"
PERCENT = re.compile(r"^\d{1,3}\.\d{2}%$")


def cards(page: Page) -> Locator:
    return page.get_by_role("article")


def phones_on(card: Locator) -> list[str]:
    return card.locator(".font-mono").all_inner_texts()


def names_on(card: Locator) -> list[str]:
    return card.get_by_role("link").all_inner_texts()


def open_queue(page: Page) -> None:
    page.goto(PATH)
    expect(page.get_by_role("heading", name="合并建议", level=1)).to_be_visible()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name, full_page=True)


@e2e
def test_admin_reviews_the_seeded_queue_in_chinese_and_english(page: Page) -> None:
    sign_in(page, "admin")
    nav_link(page, "合并建议").click()
    expect(page).to_have_url(re.compile(re.escape(PATH) + "$"))
    expect(page.get_by_role("heading", name="合并建议", level=1)).to_be_visible()
    expect(cards(page).first).to_be_visible()
    assert cards(page).count() >= 3, "the demo seeds near-duplicate customers"
    expect(page.get_by_text(f"共 {cards(page).count()} 条")).to_be_visible()

    first = cards(page).first
    left, right = names_on(first)
    expect(first).to_have_accessible_name(f"合并建议：{left} 与 {right}")
    percent = first.get_by_text(PERCENT)
    expect(percent).to_be_visible()
    assert float(percent.inner_text().rstrip("%")) >= 90.0  # the default proposal threshold
    expect(first).to_contain_text("手机号: 一致")  # the seeded twins share the masked phone
    expect(first).to_contain_text("净成交额")
    phones = phones_on(first)
    assert len(phones) == 2
    assert all(FULL_PHONE.fullmatch(p) for p in phones), phones  # admins read PII
    assert phones[0] != phones[1]
    assert phones[0][:3] + phones[0][-4:] == phones[1][:3] + phones[1][-4:]  # masked alike
    expect(page.get_by_role("button", name="立即运行")).to_be_visible()
    expect(first.get_by_role("button", name="合并")).to_be_visible()
    screenshot(page, "proposals-zh.png")

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Merge proposals", level=1)).to_be_visible()
    expect(nav_link(page, "Merge proposals")).to_be_visible()
    expect(cards(page).first).to_have_accessible_name(re.compile(r"^Merge proposal: "))
    expect(cards(page).first).to_contain_text("Phone: same")
    expect(page.get_by_role("button", name="Run now")).to_be_visible()
    screenshot(page, "proposals-en.png")

    page.get_by_label("Minimum match").click()
    page.get_by_role("option", name="≥ 99.00%").click()
    for text in cards(page).get_by_text(PERCENT).all_inner_texts():
        assert float(text.rstrip("%")) >= 99.0, text
    page.get_by_label("Status").click()
    page.get_by_role("option", name="Rejected").click()
    expect(page.get_by_text("No merge proposals match these filters.")).to_be_visible()

    page.get_by_role("button", name="中文").click()  # leave the admin in Chinese
    expect(page.get_by_role("heading", name="合并建议", level=1)).to_be_visible()


@e2e
def test_agency_sees_masked_phones_and_the_queue_fits_a_phone(new_page: NewPage) -> None:
    page = new_page(PHONE)
    sign_in(page, "agency")  # agencies act on customers but do not read PII
    open_queue(page)
    expect(cards(page).first).to_be_visible()
    assert_fits_width(page, PHONE["width"])
    phones = [p for card in cards(page).all() for p in phones_on(card)]
    assert phones
    assert all(MASKED_PHONE.fullmatch(p) for p in phones), phones
    screenshot(page, "proposals-phone.png")


@e2e
def test_guide_sees_no_pairs_outside_their_own_customers(page: Page) -> None:
    sign_in(page, "guide")
    open_queue(page)  # the seeded twins belong to no guide, so neither pair is all theirs
    expect(page.get_by_role("status").filter(has_text="暂无待处理的合并建议")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="立即运行")).to_be_visible()
    expect(cards(page)).to_have_count(0)


# --- decisions (these write data: keep them last) -----------------------------------------------


@e2e
def test_reject_then_accept_and_undo_from_the_customer_page(page: Page) -> None:
    sign_in(page, "admin")
    customers_before = kpi_value(page, "范围内客户数")
    open_queue(page)
    expect(cards(page).first).to_be_visible()
    count = cards(page).count()
    assert count >= 2

    first = cards(page).first
    rejected = first.get_attribute("aria-label")
    first.get_by_role("button", name="不是同一人").click()
    page.get_by_role("alertdialog").get_by_role("button", name="不是同一人").click()
    expect(page.get_by_role("alert").filter(has_text="已标记为不是同一人")).to_be_visible()
    expect(cards(page)).to_have_count(count - 1)
    expect(page.get_by_role("article", name=rejected, exact=True)).to_have_count(0)

    target = cards(page).first
    pair = target.get_attribute("aria-label")
    target.get_by_role("button", name="合并").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("可以在客户详情页")
    dialog.get_by_role("button", name="合并").click()
    notice = page.get_by_role("alert").filter(has_text="已合并到")
    expect(notice).to_be_visible()
    expect(cards(page)).to_have_count(count - 2)

    page.get_by_label("状态").click()
    page.get_by_role("option", name="已合并").click()
    accepted = page.get_by_role("article", name=pair, exact=True)
    expect(accepted).to_be_visible()
    expect(accepted).to_contain_text("已合并 · ")  # the decision, who made it and when
    expect(accepted.get_by_text("已合并", exact=True)).to_have_count(1)  # the merged side
    page.get_by_label("状态").click()
    page.get_by_role("option", name="已拒绝").click()
    expect(page.get_by_role("article", name=rejected, exact=True)).to_be_visible()

    page.get_by_label("状态").click()
    page.get_by_role("option", name="已合并").click()
    accepted.get_by_role("link").first.click()  # either side leads to the surviving customer
    expect(page).to_have_url(re.compile(r"/customers/[0-9a-f-]{36}$"))
    connected(page)
    merges = data_table(page, "合并记录")
    row = merges.locator("tbody tr", has_text="采纳的疑似重复")
    expect(row).to_contain_text("生效中")
    confirm = open_dialog(page, row.get_by_role("button", name="撤销合并"), role="alertdialog")
    confirm.get_by_role("button", name="撤销合并").click()
    expect(row).to_contain_text(re.compile(r"已于 .+ 撤销"))  # the page reloads with the time
    expect(row.get_by_role("button", name="撤销合并")).to_have_count(0)

    page.goto("/")
    assert kpi_value(page, "范围内客户数") == customers_before


@e2e
def test_run_now_reports_counts_and_bulk_reject_empties_the_queue(page: Page) -> None:
    sign_in(page, "admin")
    open_queue(page)
    expect(cards(page).first).to_be_visible()
    page.get_by_role("button", name="立即运行").click()
    report = page.get_by_role("alert").filter(has_text=re.compile(r"比对了 [\d,]+ 条证据"))
    expect(report).to_be_visible(timeout=60_000)
    expect(report).to_contain_text("新增 0 条建议")  # every seeded pair is already queued

    count = cards(page).count()
    page.get_by_role("checkbox", name="全选").click()
    expect(page.get_by_text(f"已选 {count} 条")).to_be_visible()
    page.get_by_role("button", name="拒绝所选").click()
    page.get_by_role("alertdialog").get_by_role("button", name="拒绝所选").click()
    expect(page.get_by_role("alert").filter(has_text=f"已处理 {count} 对")).to_be_visible()
    expect(cards(page)).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="暂无待处理的合并建议")).to_be_visible()
