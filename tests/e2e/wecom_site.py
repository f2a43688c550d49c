"""A brand of its own for console tests of WeCom features: a fake WeCom on a real port, a migrated
SQLite home with a tenant, an admin login, three guides with WeCom userids and a WeCom account on
the fake, and ``siyu serve`` on that home (not the demo: these tests need WeCom state they
control)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page
from pydantic import SecretStr

from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom.fake.app import create_fake_app
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.core import migrate
from siyu.core.actor import Actor, Role
from siyu.core.db import Database, make_engine, system_unit_of_work, unit_of_work
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from tests.e2e.conftest import ARTIFACTS, DESKTOP, DemoServer, _failed, run_siyu
from tests.integration.test_wecom_cli import serving

STAFF = {"zhangsan": "张三", "lisi": "李四", "wangwu": "王五"}
ADMIN = "boss"


@dataclass(frozen=True)
class Brand:
    """What a test's set-up made: the database, the acting admin, the WeCom account."""

    database: Database
    admin: Actor
    account: ChannelAccount

    @property
    def account_id(self) -> uuid.UUID:
        return self.account.id


def fake_wecom(stack: ExitStack) -> tuple[str, httpx.Client]:
    """Start a fake WeCom on a free port for the life of ``stack``; its URL and a client."""
    port = stack.enter_context(serving(create_fake_app(FakeConfig(), background=True)))
    url = f"http://127.0.0.1:{port}"
    return url, stack.enter_context(httpx.Client(base_url=url, timeout=30))


def wecom_brand(
    stack: ExitStack, home: Path, fake_url: str, *, name: str, slug: str, password: str
) -> Brand:
    """Migrate a SQLite database in ``home`` and make the brand: tenant, admin ``boss``, the
    guides of ``STAFF`` and a WeCom account pointing at the fake."""
    url = f"sqlite:///{home / 'siyu.db'}"
    engine = make_engine(url)
    stack.callback(engine.dispose)
    with engine.begin() as conn:
        migrate.upgrade(url, "head", conn)
    database = Database(engine)
    with system_unit_of_work(reason="e2e tenant", database=database) as db:
        tenant = tenancy.create_tenant(db, name=name, slug=slug)
        user = security.create_user(db, username=ADMIN, password=password)
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
        for userid, staff_name in STAFF.items():
            tenancy.create_staff(
                db,
                admin,
                name=staff_name,
                org_unit_id=root.id,
                role=Role.GUIDE,
                wecom_userid=userid,
            )
        account = channels.create_wecom_account(db, admin, name="企业微信", config=config)
    return Brand(database=database, admin=admin, account=account)


@contextmanager
def serve(home: Path) -> Iterator[DemoServer]:
    """``siyu serve`` on the SQLite home ``wecom_brand`` prepared, until the block ends."""
    url = f"sqlite:///{home / 'siyu.db'}"
    yield from run_siyu(home, ["serve", "--no-migrate"], {"SIYU_DATABASE_URL": url})


@contextmanager
def desktop_page(
    browser: Browser, server: DemoServer, request: pytest.FixtureRequest, name: str
) -> Iterator[Page]:
    """A desktop page on ``server``, its screenshot kept as ``<name>-failure.png`` on failure."""
    context = browser.new_context(viewport=DESKTOP, base_url=server.base_url, locale="zh-CN")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        if _failed(request.node):
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"{name}-failure.png", full_page=True)
        context.close()


def pick(page: Page, label: str, *options: str) -> None:
    """Choose ``options`` in the select labelled ``label`` (Quasar renders them in a menu)."""
    page.get_by_label(label, exact=True).click()
    for option in options:
        page.get_by_role("option", name=option).click()
    page.keyboard.press("Escape")
