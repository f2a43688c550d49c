"""Order webhooks in a real browser against ``siyu demo``: an admin adds an endpoint, an order
system posts a signed delivery to the URL the console shows, then rotates and disables it."""

from __future__ import annotations

import json
import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, DemoServer
from tests.e2e.test_console import data_table, e2e, nav_link, open_dialog, reload, sign_in
from tests.factories import signed


def post_signed(url: str, secret: str, external_id: str) -> httpx.Response:
    body = json.dumps(
        {
            "orders": [
                {
                    "external_id": external_id,
                    "keys": [{"kind": "member_no", "value": f"E2E-{external_id}"}],
                    "paid_fen": 3_900,
                    "paid_at": "2026-06-01T10:00:00+08:00",
                }
            ]
        }
    ).encode()
    return httpx.post(url, content=body, headers=signed(secret, body), timeout=30)


@e2e
def test_admin_adds_rotates_and_disables_an_order_webhook(
    page: Page, demo_server: DemoServer
) -> None:
    sign_in(page, "admin")
    nav_link(page, "订单推送").click()
    expect(page).to_have_url(re.compile(r"/order-webhooks$"))
    expect(page.get_by_role("heading", name="订单推送", level=1)).to_be_visible()

    name = f"POS-{uuid.uuid4().hex[:6]}"
    page.get_by_label("订单系统", exact=True).fill(name)
    page.get_by_role("button", name="创建端点").click()
    dialog = page.get_by_role("dialog", name="端点地址与密钥")
    expect(dialog).to_be_visible()
    url = dialog.get_by_label("地址（POST）").input_value()
    secret = dialog.get_by_label("签名密钥").input_value()
    assert url.startswith(demo_server.base_url + "/api/v1/hooks/orders/")
    assert secret.startswith("whsec_")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "webhooks-secret-zh.png", full_page=True)
    dialog.get_by_role("button", name="完成").click()
    expect(dialog).to_be_hidden()

    received = post_signed(url, secret, "E2E-1")
    assert received.status_code == 200, received.text
    assert received.json()["inserted"] == 1

    reload(page)
    row = data_table(page, "订单推送端点").locator("tbody tr", has_text=name)
    expect(row).to_contain_text("启用中")
    expect(row).to_contain_text("门店 POS")
    expect(row).not_to_contain_text("从未")
    page.screenshot(path=ARTIFACTS / "webhooks-zh.png", full_page=True)
    button = row.get_by_role("button", name=f"推送记录 {name}")
    log = open_dialog(page, button, f"「{name}」最近的推送")
    expect(log.get_by_role("table")).to_contain_text("1")
    log.get_by_role("button", name="关闭").click()

    row.get_by_role("button", name=f"更换密钥 {name}").click()
    page.get_by_role("alertdialog").get_by_role("button", name="更换密钥").click()
    dialog = page.get_by_role("dialog", name="端点地址与密钥")
    new_secret = dialog.get_by_label("签名密钥").input_value()
    assert new_secret != secret
    dialog.get_by_role("button", name="完成").click()
    assert post_signed(url, secret, "E2E-2").status_code == 401
    assert post_signed(url, new_secret, "E2E-2").status_code == 200

    row.get_by_role("button", name=f"停用 {name}").click()
    page.get_by_role("alertdialog").get_by_role("button", name="停用").click()
    expect(row).to_contain_text("已停用")
    assert post_signed(url, new_secret, "E2E-3").status_code == 404
    row.get_by_role("button", name=f"启用 {name}").click()
    expect(row).to_contain_text("启用中")

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Order webhooks", level=1)).to_be_visible()
    expect(
        data_table(page, "Order webhook endpoints").locator("tbody tr", has_text=name)
    ).to_contain_text("Active")
    page.screenshot(path=ARTIFACTS / "webhooks-en.png", full_page=True)


@e2e
def test_guides_have_no_order_webhooks(page: Page) -> None:
    sign_in(page, "guide")
    expect(nav_link(page, "订单推送")).to_have_count(0)
    page.goto("/order-webhooks")
    expect(page.get_by_role("alert")).to_contain_text("无权使用此页面")
