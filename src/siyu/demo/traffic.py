"""Make the demo's fake WeCom customers behave like real ones, through the real paths.

On the first start the demo brand gets channel codes (two stores, a package insert, an agency)
created through ``siyu.acquisition.flows`` — real contact ways on the fake — and a burst of
customers scanning them; then, every ``interval`` seconds, one more thing happens: a new customer
adds a guide, a guide notes a known customer's phone (OneID joins the WeCom contact with their
orders), a customer deletes the guide, a customer joins a group. Every one of them reaches siyu
the way production traffic does: the fake sends an encrypted callback, siyu stores it, a job
processes it, the welcome message goes out through the outbox within WeCom's 20 seconds.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable

import httpx
import structlog
from sqlalchemy import select

from siyu.acquisition import flows
from siyu.acquisition.models import ChannelCode, CodeOwner
from siyu.acquisition.schemas import CodeCreate, CodeRead, WelcomeIn
from siyu.channels.wecom import sync
from siyu.core.actor import Actor, Role
from siyu.core.db import Database, unit_of_work
from siyu.customers.models import Customer
from siyu.demo.wecom import DemoWeCom
from siyu.tenancy.models import OrgKind, OrgUnit, Staff

log = structlog.get_logger(__name__)

WELCOME = (
    "{customer_name}您好，我是{staff_name}，暖山的专属顾问～新朋友送您一张满200减30的券，"
    "有任何护肤问题随时问我。"
)
BURST = 40


class Traffic:
    """The demo's simulated customers (one daemon thread)."""

    def __init__(
        self,
        database: Database,
        actor: Actor,
        demo: DemoWeCom,
        *,
        siyu_url: str,
        interval: float = 20.0,
        seed: int = 20261123,
    ) -> None:
        self.siyu_url = siyu_url.rstrip("/")
        self.database = database
        self.actor = actor
        self.demo = demo
        self.interval = interval
        self.rng = random.Random(seed)
        self.http = httpx.Client(base_url=demo.fake_url, timeout=10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.http.close()

    def _wait_for_siyu(self) -> bool:
        """Wait until the demo server answers (callbacks need it); False if stopped first."""
        while not self._stop.is_set():
            try:
                if httpx.get(f"{self.siyu_url}/readyz", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            self._stop.wait(0.5)
        return False

    def _run(self) -> None:
        if not self._wait_for_siyu():
            return
        try:
            configs = self.set_up()
        except Exception:
            log.exception("demo_traffic_setup_failed")
            return
        actions: list[Callable[[list[str]], None]] = [
            self.new_customer,
            self.new_customer,
            self.new_customer,
            self.note_known_phone,
            self.customer_deletes,
            self.join_group,
        ]
        while not self._stop.wait(self.interval):
            try:
                self.rng.choice(actions)(configs)
            except Exception:
                log.exception("demo_traffic_step_failed")

    # set-up --------------------------------------------------------------------------------

    def set_up(self) -> list[str]:
        """Create the codes and the first burst once; return the codes' contact-way ids."""
        with unit_of_work(self.actor, database=self.database) as db:
            existing = list(
                db.scalars(
                    select(ChannelCode.config_id).where(
                        ChannelCode.account_id == self.demo.account_id,
                        ChannelCode.is_active.is_(True),
                        ChannelCode.config_id.is_not(None),
                    )
                )
            )
        if existing:
            return [c for c in existing if c]
        configs = [code.config_id for code in self._create_codes() if code.config_id]
        for _ in range(BURST):
            self.new_customer(configs)
        for _ in range(8):
            self.note_known_phone(configs)
        self._create_groups()
        self.customer_deletes(configs)
        sync.run_full_sync(self.actor, self.demo.account_id)
        log.info("demo_traffic_ready", codes=len(configs))
        return configs

    def _create_codes(self) -> list[CodeRead]:
        with unit_of_work(self.actor, database=self.database) as db:
            stores = db.execute(
                select(OrgUnit.id, OrgUnit.name).where(OrgUnit.kind == OrgKind.STORE).limit(2)
            ).all()
            guides = {
                store.id: [
                    u
                    for u in db.scalars(
                        select(Staff.wecom_userid).where(
                            Staff.org_unit_id == store.id,
                            Staff.role == Role.GUIDE,
                            Staff.wecom_userid.is_not(None),
                        )
                    )
                    if u
                ]
                for store in stores
            }
        welcome = WelcomeIn(text=WELCOME)
        made = []
        for store in stores:
            if guides[store.id]:
                made.append(
                    flows.create_code(
                        self.actor,
                        CodeCreate(
                            name=f"{store.name}·门店活码",
                            account_id=self.demo.account_id,
                            owner_kind=CodeOwner.STORE,
                            org_unit_id=store.id,
                            staff_userids=guides[store.id],
                            is_rotating=True,
                            daily_cap_per_staff=50,
                            welcome=welcome,
                        ),
                    )
                )
        everyone = sorted({u for users in guides.values() for u in users})
        if everyone:
            for name, owner, label in (
                ("双11包裹卡", CodeOwner.PACKAGE_INSERT, "天猫旗舰店"),
                ("星火代运营·直播间", CodeOwner.AGENCY, "星火代运营"),
            ):
                made.append(
                    flows.create_code(
                        self.actor,
                        CodeCreate(
                            name=name,
                            account_id=self.demo.account_id,
                            owner_kind=owner,
                            owner_label=label,
                            staff_userids=everyone[:3],
                            is_rotating=True,
                            welcome=welcome,
                        ),
                    )
                )
        return made

    def _create_groups(self) -> None:
        members = self._fake_follows()
        by_owner: dict[str, list[str]] = {}
        for userid, external_userid in members:
            by_owner.setdefault(userid, []).append(external_userid)
        for index, (owner, customers) in enumerate(sorted(by_owner.items())[:2]):
            self._post(
                "/_fake/groups",
                {"owner": owner, "name": f"暖山VIP会员群{index + 1}", "members": customers[:12]},
            )

    # steps ---------------------------------------------------------------------------------

    def new_customer(self, configs: list[str]) -> None:
        """A new WeChat user scans one of the codes and adds a guide."""
        if configs:
            self._post(f"/_fake/contact_ways/{self.rng.choice(configs)}/scan", {})

    def note_known_phone(self, configs: list[str]) -> None:
        """A shopper the brand knows from Tmall adds a guide, who notes their phone."""
        if not configs:
            return
        phone = self._known_phone()
        if phone is None:
            return
        added = self._post(f"/_fake/contact_ways/{self.rng.choice(configs)}/scan", {})
        self._post(
            "/_fake/follows/edit",
            {
                "userid": added["userid"],
                "external_userid": added["external_userid"],
                "remark": "老客户",
                "remark_mobiles": [phone],
            },
        )

    def customer_deletes(self, configs: list[str]) -> None:
        """A customer deletes the guide (shows on the relation in siyu)."""
        follows = self._fake_follows()
        if follows:
            userid, external_userid = self.rng.choice(follows)
            self._post(
                "/_fake/follows/delete",
                {"userid": userid, "external_userid": external_userid, "by": "customer"},
            )

    def join_group(self, configs: list[str]) -> None:
        groups = self.http.get("/_fake/state/groups")
        if groups.status_code != 200:
            return
        chats = groups.json().get("groups", [])
        follows = self._fake_follows()
        if chats and follows:
            chat = self.rng.choice(chats)
            self._post(
                f"/_fake/groups/{chat['chat_id']}/join",
                {"userids": [self.rng.choice(follows)[1]], "scene": 3},
            )

    # helpers -------------------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        response = self.http.post(path, json=body)
        response.raise_for_status()
        data: dict[str, object] = response.json() or {}
        return data

    def _fake_follows(self) -> list[tuple[str, str]]:
        response = self.http.get("/_fake/state/follows")
        response.raise_for_status()
        return [(f["userid"], f["external_userid"]) for f in response.json()["follows"]]

    def _known_phone(self) -> str | None:
        with unit_of_work(self.actor, database=self.database) as db:
            offset = self.rng.randrange(500)
            customer_id: uuid.UUID | None = db.scalar(
                select(Customer.id)
                .where(Customer.phone.is_not(None))
                .order_by(Customer.id)
                .offset(offset)
                .limit(1)
            )
            if customer_id is None:
                return None
            customer = db.get(Customer, (self.actor.tenant_id, customer_id))
            return customer.phone if customer is not None else None
