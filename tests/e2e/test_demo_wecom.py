"""``siyu demo`` runs a fake WeCom with simulated customers: its traffic reaches the console.

The demo server (session fixture) starts the fake, points the demo brand's WeCom account at it
and lets customers scan channel codes, get welcome messages and join groups through the real
callback, job and outbox paths. This test waits for that traffic to show in the console.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoServer
from tests.e2e.test_console import e2e, sign_in

TRAFFIC_TIMEOUT_S = 120


def _reload_until_visible(page: Page, path: str, text: str) -> None:
    deadline = time.monotonic() + TRAFFIC_TIMEOUT_S
    while True:
        page.goto(path)
        try:
            expect(page.get_by_text(text).first).to_be_visible(timeout=5_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


@pytest.fixture
def demo_server(wecom_demo_server: DemoServer) -> DemoServer:
    """These tests run against the demo with its fake WeCom and simulated customers."""
    return wecom_demo_server


@e2e
def test_demo_customers_add_guides_through_channel_codes_and_join_groups(page: Page) -> None:
    sign_in(page, "admin")  # in Chinese, whatever another test left the admin in
    _reload_until_visible(page, "/channel-codes", "双11包裹卡")
    expect(page.get_by_text("星火代运营·直播间").first).to_be_visible()
    _reload_until_visible(page, "/groups", "暖山VIP会员群1")
