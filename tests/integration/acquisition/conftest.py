"""A tenant with staff, a WeCom account and the fake WeCom wired in-process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from siyu.acquisition import flows
from siyu.acquisition.schemas import CodeCreate, CodeRead
from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom.fake.app import FakeWeCom, create_fake_app, fake_of
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.channels.wecom.fake.state import ContactWay, OffsetClock
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, unit_of_work
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from siyu.tenancy import service as tenancy
from tests.factories import World, make_world

FAKE_URL = "http://fake.wecom"


@dataclass
class Corp:
    """The fake corp: its server state and control API."""

    fake: FakeWeCom
    control: TestClient

    def way(self, config_id: str | None) -> ContactWay | None:
        return self.fake.state.contact_ways.get(config_id or "")

    def do(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.control.post(f"/_fake/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()


@dataclass
class Shop:
    """A tenant (``make_world``) with a WeCom account on the fake and staff userids."""

    world: World
    admin: Actor
    account_id: uuid.UUID
    corp: Corp
    userids: dict[str, str]  # staff label -> WeCom userid
    unlinked_staff_id: uuid.UUID  # a staff member without a WeCom userid

    def uid(self, label: str) -> str:
        return self.userids[label]

    def create(self, **fields: Any) -> CodeRead:
        data = {"owner_kind": "store", "staff_userids": [self.uid("guide1")], **fields}
        return flows.create_code(self.admin, CodeCreate.model_validate(data))


@pytest.fixture
def corp() -> Iterator[Corp]:
    labels = ["guide1", "guide2", "guide3", "manager1", "region_manager"]
    members = [f"{slug}_{label}" for slug in ("acq", "acq2") for label in labels]
    app = create_fake_app(FakeConfig(members=members), OffsetClock(base=SYSTEM_CLOCK))
    control = TestClient(app)
    channels.register_http(FAKE_URL, control)
    try:
        yield Corp(fake=fake_of(app), control=control)
    finally:
        channels.unregister_http(FAKE_URL)
        control.close()


def make_shop(corp: Corp, slug: str = "acq") -> Shop:
    world = make_world(slug)
    admin = world.admin
    config = WeComConfig(
        corp_id=DEFAULT_CORP_ID,
        secret=SecretStr(DEFAULT_SECRET),
        callback_token=SecretStr("callback-token"),
        callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
        base_url=FAKE_URL,
    )
    with unit_of_work(admin) as db:
        account = channels.create_wecom_account(db, admin, name="main", config=config)
        unlinked = tenancy.create_staff(
            db, admin, name="No WeCom", org_unit_id=world.store_ids[0], role=Role.GUIDE
        )
        account_id, unlinked_id = account.id, unlinked.id
    userids = {label: f"{slug}_{label}" for label in world.staff}
    return Shop(world, admin, account_id, corp, userids, unlinked_id)


@pytest.fixture
def shop(database: Database, corp: Corp) -> Shop:
    return make_shop(corp)


def new_customer(admin: Actor, name: str) -> uuid.UUID:
    with unit_of_work(admin) as db:
        return customers.create_customer(db, admin, data=CustomerCreate(name=name)).id


class HasAccount(Protocol):
    admin: Actor
    account_id: uuid.UUID


def relate(
    shop: HasAccount,
    code_id: uuid.UUID | None,
    customer_id: uuid.UUID,
    wecom_userid: str,
    added_at: datetime,
    *,
    new: bool = True,
    status: RelationStatus = RelationStatus.ACTIVE,
    ended_at: datetime | None = None,
) -> uuid.UUID:
    """Write a contact relation the way callback processing would (the contacts domain's row)."""
    with unit_of_work(shop.admin) as db:
        relation = ContactRelation(
            id=new_id(),
            account_id=shop.account_id,
            customer_id=customer_id,
            wecom_userid=wecom_userid,
            external_userid=f"wm_{uuid.uuid4().hex}",
            status=status,
            added_at=added_at,
            add_way=1,
            channel_code_id=code_id,
            is_new_customer=new,
            ended_at=ended_at,
            tag_ids=[],
        )
        db.add(relation)
        db.flush()
        return relation.id
