"""The fake corp and the shop on it that transfer tests share (fixtures in ``conftest``)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
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
from siyu.contacts.models import RelationStatus
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import unit_of_work
from siyu.core.ids import new_id
from siyu.groups import service as groups
from siyu.transfers.models import (
    ItemStatus,
    TransferBatch,
    TransferItem,
    TransferKind,
    TransferSubject,
)
from tests.factories import World, auth

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


def make_corp(members: list[str], siyu: TestClient) -> tuple[Corp, TestClient]:
    """Return the fake corp (its callbacks go to ``siyu``) and the client siyu calls it with."""
    app = create_fake_app(
        FakeConfig(members=members), OffsetClock(base=SYSTEM_CLOCK), callback_http=siyu
    )
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


def batch_of(world: World) -> uuid.UUID:
    """Return a transfer of ``world``'s tenant (for sweeps that need one of another tenant)."""
    account_id = make_account(world.admin, name=f"transfers-{uuid.uuid4().hex[:6]}")
    with unit_of_work(world.admin) as db:
        batch = TransferBatch(
            id=new_id(),
            account_id=account_id,
            kind=TransferKind.IN_SERVICE,
            handover_userid=f"{world.slug}_guide1",
            created_by="test",
        )
        db.add(batch)
        db.flush()
        db.add(
            TransferItem(
                id=new_id(),
                batch_id=batch.id,
                subject=TransferSubject.CUSTOMER,
                subject_key="wmIsolation",
                customer_id=world.customers["c1"],
                handover_userid=f"{world.slug}_guide1",
                takeover_userid=f"{world.slug}_guide2",
                status=ItemStatus.REFUSED,
            )
        )
        return batch.id
