"""A tenant whose WeCom account points at the fake, and the fake calling siyu's callback back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.channels import service as channels
from siyu.channels.wecom.fake.app import FakeWeCom, create_fake_app, fake_of
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.channels.wecom.fake.state import OffsetClock
from siyu.channels.wecom.models import WeComCallback
from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, system_unit_of_work, unit_of_work
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from tests.factories import PASSWORD

FAKE_URL = "http://fake.wecom"
SLUG = "inb"
GUIDE1, GUIDE2 = f"{SLUG}_guide1", f"{SLUG}_guide2"


def account_body(name: str = "main", **config: Any) -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "corp_id": DEFAULT_CORP_ID,
            "secret": DEFAULT_SECRET,
            "callback_token": DEFAULT_CALLBACK_TOKEN,
            "callback_aes_key": DEFAULT_CALLBACK_AES_KEY,
            "base_url": FAKE_URL,
            **config,
        },
    }


@dataclass
class Shop:
    """A tenant with one admin login and three guides who are WeCom members."""

    admin: Actor
    headers: dict[str, str]  # the admin's bearer token
    staff: dict[str, uuid.UUID]  # label -> staff id


def make_shop(slug: str = SLUG) -> Shop:
    username = f"{slug}-admin"
    with system_unit_of_work(reason="test tenant") as db:
        tenant = tenancy.create_tenant(db, name=f"Brand {slug}", slug=slug)
        user = security.create_user(db, username=username, password=PASSWORD)
        tenancy.add_staff_at_hq(
            db, tenant_id=tenant.id, user_id=user.id, name="Admin", role=Role.ADMIN
        )
        session = security.login(db, username=username, password=PASSWORD)
        admin, headers = session.actor, {"Authorization": f"Bearer {session.token}"}
    staff = {}
    with unit_of_work(admin) as db:
        root = tenancy.root_unit(db)
        for label in ("guide1", "guide2", "guide3"):
            staff[label] = tenancy.create_staff(
                db, admin, name=label, org_unit_id=root.id, role=Role.GUIDE,
                wecom_userid=f"{slug}_{label}",
            ).id  # fmt: skip
    return Shop(admin=admin, headers=headers, staff=staff)


@dataclass
class Inbound:
    """The tenant, its account on the fake corp, the fake's control API and siyu's API."""

    shop: Shop
    admin: Actor
    headers: dict[str, str]
    account_id: uuid.UUID
    fake: FakeWeCom
    control: TestClient
    api: TestClient
    clock: OffsetClock

    def do(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.control.post(f"/_fake/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def callbacks(self) -> list[WeComCallback]:
        with unit_of_work(self.admin) as db:
            rows = list(db.scalars(select(WeComCallback).order_by(WeComCallback.received_at)))
            for row in rows:
                db.expunge(row)
            return rows


def wire(client: TestClient, *, behind: timedelta = timedelta(0)) -> Iterator[Inbound]:
    shop = make_shop()
    clock = OffsetClock(base=SYSTEM_CLOCK, start=SYSTEM_CLOCK.now() - behind)
    config = FakeConfig(members=[GUIDE1, GUIDE2, f"{SLUG}_guide3"])
    app = create_fake_app(config, clock, callback_http=client)
    control = TestClient(app)
    channels.register_http(FAKE_URL, control)
    try:
        headers = shop.headers
        created = client.post("/api/v1/channel-accounts", json=account_body(), headers=headers)
        assert created.status_code == 201, created.text
        account = created.json()
        config.callback_url = f"http://testserver{account['callback_path']}"
        yield Inbound(
            shop=shop,
            admin=shop.admin,
            headers=headers,
            account_id=uuid.UUID(account["id"]),
            fake=fake_of(app),
            control=control,
            api=client,
            clock=clock,
        )
    finally:
        channels.unregister_http(FAKE_URL)
        control.close()


@pytest.fixture
def inbound(client: TestClient, database: Database) -> Iterator[Inbound]:
    yield from wire(client)


@pytest.fixture
def late_inbound(client: TestClient, database: Database) -> Iterator[Inbound]:
    """The fake's clock a minute behind siyu's: its events are older than their 20 s."""
    yield from wire(client, behind=timedelta(seconds=60))
