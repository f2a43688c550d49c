"""WeCom accounts in a real browser against ``siyu demo``: an admin adds an app, WeCom verifies
the callback URL the console shows and posts an event, and the callbacks dialog shows it."""

from __future__ import annotations

import re
import time
import uuid

import httpx
from playwright.sync_api import Page, expect

from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.fake.callbacks import event_xml
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_console import data_table, e2e, nav_link, open_dialog, reload, sign_in

CORP_ID = "wwe2e0000000000001"
TOKEN = "e2e-callback-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # spec §8 Set B


@e2e
def test_admin_adds_a_wecom_app_and_sees_its_callbacks(page: Page) -> None:
    sign_in(page, "admin")
    nav_link(page, "企业微信").click()
    expect(page).to_have_url(re.compile(r"/channels$"))
    expect(page.get_by_role("heading", name="企业微信", level=1)).to_be_visible()

    name = f"E2E-{uuid.uuid4().hex[:6]}"
    page.get_by_role("button", name="添加企业微信应用").click()
    form = page.get_by_role("dialog", name="添加企业微信应用")
    form.get_by_label("名称").fill(name)
    form.get_by_label("企业 ID（CorpID）").fill(CORP_ID)
    form.get_by_label("应用 Secret").fill("e2e-app-secret-9876")
    form.get_by_label("回调 Token").fill(TOKEN)
    form.get_by_label("回调 EncodingAESKey").fill(AES_KEY)
    form.get_by_role("button", name="添加企业微信应用").click()

    dialog = page.get_by_role("dialog", name="回调地址")
    expect(dialog).to_be_visible()
    url = dialog.get_by_label("回调 URL").input_value()
    assert re.search(r"/api/v1/channels/wecom/[0-9a-f-]{36}/callback$", url), url
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "channels-callback-url-zh.png", full_page=True)
    dialog.get_by_role("button", name="完成").click()

    table = data_table(page, "企业微信应用")
    row = table.locator("tbody tr", has_text=name)
    expect(row).to_contain_text("尚未收到")
    expect(row).not_to_contain_text("e2e-app-secret-9876")

    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    timestamp, nonce = str(int(time.time())), "20261123"
    echostr = crypto.encrypt("8123456789")
    verify = httpx.get(
        url,
        params={"msg_signature": crypto.sign(timestamp, nonce, echostr), "timestamp": timestamp,
                "nonce": nonce, "echostr": echostr},
        timeout=30,
    )  # fmt: skip
    assert verify.status_code == 200
    assert verify.text == "8123456789"
    xml = event_xml(CORP_ID, int(time.time()), "change_external_contact",
                    [("ChangeType", "del_follow_user"), ("UserID", "nobody"),
                     ("ExternalUserID", "wm_e2e")])  # fmt: skip
    encrypt, signature = crypto.encrypt_message(xml, timestamp=timestamp, nonce=nonce)
    posted = httpx.post(
        url,
        params={"msg_signature": signature, "timestamp": timestamp, "nonce": nonce},
        content=f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode(),
        timeout=30,
    )
    assert posted.status_code == 200

    reload(page)
    row = data_table(page, "企业微信应用").locator("tbody tr", has_text=name)
    expect(row).not_to_contain_text("尚未收到")
    button = row.get_by_role("button", name=f"回调记录 {name}")
    open_dialog(page, button, f"「{name}」的回调记录")
    first = data_table(page, f"「{name}」的回调记录").locator("tbody tr").first
    expect(first).to_contain_text("del_follow_user")
    expect(first).to_contain_text(re.compile("已忽略|待处理"))
    page.screenshot(path=ARTIFACTS / "channels-callbacks-zh.png", full_page=True)
