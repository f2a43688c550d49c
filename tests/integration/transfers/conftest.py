"""A tenant with staff, a WeCom account on the fake WeCom (in-process) and synced customers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

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
from siyu.channels.wecom.fake.state import OffsetClock
from siyu.contacts import service as contacts
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import Database, unit_of_work
from siyu.groups import service as groups
from tests.factories import World, auth, make_world

FAKE_URL = "http://fake.wecom"
DAY = 86_400
LABELS = ("guide1", "guide2", "guide3", "manager1", "region_manager")


@dataclass
class Corp:
    """The fake corp: its state, its control API and the WeCom requests siyu made."""

    fake: FakeWeCom
    http: TestClient
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def do(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(f"/_fake/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()

    def advance(self, seconds: int) -> None:
        self.do("time/advance", {"seconds": seconds})

    def seed(self, userid: str, count: int) -> list[str]:
        return list(
            self.do("customers/seed", {"userid": userid, "count": count})["external_userids"]
        )

    def calls(self, api: str) -> list[dict[str, Any]]:
        """Return the bodies siyu posted to ``api`` (e.g. ``externalcontact/transfer_customer``)."""
        return [body for path, body in self.requests if path.endswith("/cgi-bin/" + api)]

    def followers(self, external_userid: str) -> list[str]:
        return [f.userid for f in self.fake.state.followers(external_userid)]


@dataclass
class Shop:
    """A tenant (``make_world``) with a WeCom account on the fake; staff userids by label."""

    world: World
    admin: Actor
    account_id: uuid.UUID
    corp: Corp

    def uid(self, label: str) -> str:
        return f"{self.world.slug}_{label}"

    def headers(self, label: str = "admin") -> dict[str, str]:
        return auth(self.world.users[label])

    def sync(self, label: str) -> dict[str, uuid.UUID]:
        """Bring a member's customers into siyu (as the contacts sync does); ext id → customer."""
        found: dict[str, uuid.UUID] = {}
        with unit_of_work(self.admin) as db:
            account = channels.get_account(db, self.admin, self.account_id)
        with channels.client_for(account) as client:
            pages = list(client.iter_contacts_by_user([self.uid(label)]))
        with unit_of_work(self.admin) as db:
            for page in pages:
                for item in page.external_contact_list:
                    applied = contacts.apply_contact(
                        db,
                        self.admin,
                        account_id=self.account_id,
                        corp_id=DEFAULT_CORP_ID,
                        contact=item.external_contact,
                        follow=item.follow_info,
                        now=SYSTEM_CLOCK.now(),
                    )
                    found[item.external_contact.external_userid] = applied.customer_id
        return found

    def sync_group(self, chat_id: str) -> None:
        with unit_of_work(self.admin) as db:
            account = channels.get_account(db, self.admin, self.account_id)
        with channels.client_for(account) as client:
            chat = client.groupchat_get(chat_id)
        with unit_of_work(self.admin) as db:
            groups.apply_group(
                db, self.admin, account_id=self.account_id, chat=chat, now=SYSTEM_CLOCK.now()
            )

    def relations(self, external_userid: str) -> dict[str, str]:
        """Return the relations siyu holds for a customer: member userid → status."""
        with unit_of_work(self.admin) as db:
            rows = contacts.list_relations(db, self.admin, account_id=self.account_id)
            return {r.wecom_userid: r.status for r in rows if r.external_userid == external_userid}

    def active_holder(self, external_userid: str) -> list[str]:
        return sorted(
            u for u, s in self.relations(external_userid).items() if s == RelationStatus.ACTIVE
        )


def make_corp(members: list[str]) -> tuple[Corp, TestClient]:
    app = create_fake_app(FakeConfig(members=members), OffsetClock(base=SYSTEM_CLOCK))
    corp = Corp(fake=fake_of(app), http=TestClient(app))

    def capture(request: httpx.Request) -> None:
        if request.method == "POST" and "/cgi-bin/" in request.url.path:
            corp.requests.append((request.url.path, json.loads(request.content or b"{}")))

    wire = TestClient(app)
    wire.event_hooks = {"request": [capture], "response": []}
    return corp, wire


def make_account(admin: Actor, name: str = "企业微信") -> uuid.UUID:
    config = WeComConfig(
        corp_id=DEFAULT_CORP_ID,
        secret=SecretStr(DEFAULT_SECRET),
        callback_token=SecretStr(DEFAULT_CALLBACK_TOKEN),
        callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
        base_url=FAKE_URL,
    )
    with unit_of_work(admin) as db:
        return channels.create_wecom_account(db, admin, name=name, config=config).id


@pytest.fixture
def corp() -> Iterator[Corp]:
    members = [f"{slug}_{label}" for slug in ("tr", "tr2") for label in LABELS]
    corp, wire = make_corp(members)
    channels.register_http(FAKE_URL, wire)
    try:
        yield corp
    finally:
        channels.unregister_http(FAKE_URL)


@pytest.fixture
def shop(database: Database, corp: Corp) -> Shop:
    world = make_world("tr", phone_seed=31)
    return Shop(world=world, admin=world.admin, account_id=make_account(world.admin), corp=corp)


def relation_rows(admin: Actor, account_id: uuid.UUID) -> list[ContactRelation]:
    with unit_of_work(admin) as db:
        return contacts.list_relations(db, admin, account_id=account_id)


def at(unix: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(unix, UTC)
