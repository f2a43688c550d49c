"""A tenant whose WeCom account points at an in-process fake corp, for sync and reconciliation.

Staff guide1..guide3 of the world have WeCom userids ``syn_guide1``…; the fake also has a member
no staff record maps (``UNMAPPED``). Callbacks go to siyu's own callback route, so a test can let
the fake deliver them or drop them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom.fake.app import FakeWeCom, create_fake_app, fake_of
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.core.actor import Actor, Role
from siyu.core.db import Database, unit_of_work
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import OrgKind
from tests.factories import World, bare_tenant, make_world

FAKE_URL = "http://sync.fake.wecom"
SLUG = "syn"
GUIDE1, GUIDE2, GUIDE3 = (f"{SLUG}_guide{i}" for i in (1, 2, 3))
UNMAPPED = "bob_no_staff"


@dataclass
class Brand:
    """A tenant without logins: HQ, two stores, guides 1 and 2 in store 1, guide 3 in store 2."""

    tenant_id: uuid.UUID
    admin: Actor
    store_ids: list[uuid.UUID]
    staff: dict[str, uuid.UUID]


def make_brand() -> Brand:
    admin = bare_tenant()
    with unit_of_work(admin) as db:
        hq = tenancy.root_unit(db)
        stores = [
            tenancy.create_org_unit(db, admin, parent_id=hq.id, kind=OrgKind.STORE, name=f"S{i}")
            for i in (1, 2)
        ]
        staff = {
            f"guide{i}": tenancy.create_staff(
                db,
                admin,
                name=f"guide{i}",
                org_unit_id=stores[0 if i < 3 else 1].id,
                role=Role.GUIDE,
                wecom_userid=f"{SLUG}_guide{i}",
            ).id
            for i in (1, 2, 3)
        }
        return Brand(admin.tenant_id, admin, [s.id for s in stores], staff)


@dataclass
class Corp:
    """The tenant, its WeCom account on the fake, and the fake's control API."""

    world: Brand | World
    admin: Actor
    account_id: uuid.UUID
    fake: FakeWeCom
    control: TestClient

    def do(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.control.post(f"/_fake/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def seed(self, userid: str, count: int, state: str | None = None) -> list[str]:
        body = {"userid": userid, "count": count, "state": state}
        return list(self.do("customers/seed", body)["external_userids"])

    def active(self) -> set[tuple[str, str]]:
        """The (member, external_userid) pairs siyu holds as active."""
        with unit_of_work(self.admin) as db:
            rows = db.execute(
                select(ContactRelation.wecom_userid, ContactRelation.external_userid).where(
                    ContactRelation.account_id == self.account_id,
                    ContactRelation.status == RelationStatus.ACTIVE.value,
                )
            )
            return {(r.wecom_userid, r.external_userid) for r in rows}

    def wecom_pairs(self) -> set[tuple[str, str]]:
        """The (member, external_userid) pairs the fake corp has."""
        with self.fake.state.lock:
            return {(f.userid, f.external_userid) for f in self.fake.state.follows.values()}

    def count(self, model: type[Any]) -> int:
        with unit_of_work(self.admin) as db:
            return int(db.scalar(select(func.count()).select_from(model)) or 0)


def make_corp(
    api: TestClient | None,
    *,
    members: list[str] | None = None,
    world: Brand | World | None = None,
    **overrides: Any,
) -> Iterator[Corp]:
    """Yield a corp of ``world`` (default: a brand without logins) on a fresh fake."""
    world = world or make_brand()
    config = FakeConfig(members=members or [GUIDE1, GUIDE2, GUIDE3, UNMAPPED], **overrides)
    app = create_fake_app(config, callback_http=api)
    control = TestClient(app)
    channels.register_http(FAKE_URL, control)
    try:
        with unit_of_work(world.admin) as db:
            account = channels.create_wecom_account(
                db,
                world.admin,
                name="main",
                config=WeComConfig.model_validate(
                    {
                        "corp_id": DEFAULT_CORP_ID,
                        "secret": DEFAULT_SECRET,
                        "callback_token": DEFAULT_CALLBACK_TOKEN,
                        "callback_aes_key": DEFAULT_CALLBACK_AES_KEY,
                        "base_url": FAKE_URL,
                    }
                ),
            )
            account_id = account.id
        if api is not None:
            config.callback_url = f"http://testserver{channels.callback_path(account_id)}"
        yield Corp(world, world.admin, account_id, fake_of(app), control)
    finally:
        channels.unregister_http(FAKE_URL)
        control.close()


@pytest.fixture
def corp(database: Database) -> Iterator[Corp]:
    """A fake corp that sends no callbacks (siyu learns only by syncing)."""
    yield from make_corp(None)


@pytest.fixture
def live_corp(client: TestClient) -> Iterator[Corp]:
    """A fake corp that delivers its callbacks to siyu's callback route."""
    yield from make_corp(client)


@pytest.fixture
def api_corp(client: TestClient) -> Iterator[Corp]:
    """A corp of a tenant with logins (``factories.make_world``), for API tests."""
    yield from make_corp(client, world=make_world(SLUG))
