"""The demo's WeCom: the fake WeCom server in a thread, and the demo brand's account on it.

``siyu demo`` starts the fake on its own port with the corp's data kept in
``SIYU_HOME/fake-wecom.state``, points the demo brand's WeCom account at it (callbacks go to the
demo server's callback URL) and registers the brand's guides as members. ``siyu.demo.traffic``
then makes the fake's customers behave like real ones.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog
import uvicorn
from sqlalchemy import select

from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount, ChannelKind
from siyu.channels.schemas import WeComConfig, WeComConfigUpdate
from siyu.channels.wecom.fake.app import create_fake_app
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
)
from siyu.core.actor import Actor, Role
from siyu.core.db import Database, system_unit_of_work, unit_of_work
from siyu.demo.seed import DEMO_SLUG
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import Staff

log = structlog.get_logger(__name__)

ACCOUNT_NAME = "企业微信（演示）"
STATE_FILE = "fake-wecom.state"


@dataclass
class DemoWeCom:
    """The running fake and the account that points at it."""

    tenant_id: uuid.UUID
    account_id: uuid.UUID
    fake_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def demo_actor(database: Database) -> Actor:
    """Return an admin actor of the demo brand."""
    with system_unit_of_work(database=database, reason="demo: find the demo brand") as db:
        tenant = tenancy.find_tenant_by_slug(db, DEMO_SLUG)
        if tenant is None:
            raise LookupError("the demo brand is not seeded")
        return Actor(
            tenant_id=tenant.id,
            user_id=None,
            role=Role.ADMIN,
            timezone=tenant.timezone,
            label="demo",
        )


def ensure_account(
    database: Database, actor: Actor, fake_url: str
) -> tuple[uuid.UUID, dict[str, str]]:
    """Create (or re-point) the demo brand's WeCom account; return its id and staff by userid."""
    with unit_of_work(actor, database=database) as db:
        account = db.scalar(
            select(ChannelAccount).where(
                ChannelAccount.kind == ChannelKind.WECOM, ChannelAccount.name == ACCOUNT_NAME
            )
        )
        if account is None:
            account = channels.create_wecom_account(
                db,
                actor,
                name=ACCOUNT_NAME,
                config=WeComConfig.model_validate(
                    {
                        "corp_id": DEFAULT_CORP_ID,
                        "secret": DEFAULT_SECRET,
                        "callback_token": DEFAULT_CALLBACK_TOKEN,
                        "callback_aes_key": DEFAULT_CALLBACK_AES_KEY,
                        "base_url": fake_url,
                    }
                ),
            )
        elif channels.wecom_config(account).base_url != fake_url:
            channels.update_wecom_account(
                db, actor, account.id, config=WeComConfigUpdate(base_url=fake_url)
            )
        staff = db.execute(
            select(Staff.wecom_userid, Staff.name).where(
                Staff.wecom_userid.is_not(None), Staff.is_active.is_(True)
            )
        ).all()
        return account.id, {row.wecom_userid: row.name for row in staff if row.wecom_userid}


def start(
    database: Database, home: Path, *, siyu_url: str, host: str = "127.0.0.1", port: int = 8900
) -> DemoWeCom:
    """Start the fake WeCom for the demo brand and point the brand's account at it."""
    actor = demo_actor(database)
    fake_url = f"http://{host}:{port}"
    account_id, members = ensure_account(database, actor, fake_url)
    config = FakeConfig(
        corp_id=DEFAULT_CORP_ID,
        secrets=[DEFAULT_SECRET],
        callback_url=siyu_url.rstrip("/") + channels.callback_path(account_id),
        callback_token=DEFAULT_CALLBACK_TOKEN,
        callback_aes_key=DEFAULT_CALLBACK_AES_KEY,
        members=sorted(members),
        auto_confirm_delay=30.0,
    )
    app = create_fake_app(config, background=True, state_file=home / STATE_FILE)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="demo-fake-wecom", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError(f"the fake WeCom server did not start on {host}:{port}")
    with httpx.Client(base_url=fake_url, timeout=10) as http:
        for userid, name in sorted(members.items()):  # staff added since the last start too
            http.post("/_fake/members", json={"userid": userid, "name": name}).raise_for_status()
    log.info("demo_fake_wecom_started", url=fake_url, members=len(members))
    return DemoWeCom(actor.tenant_id, account_id, fake_url, server, thread)
