"""WeCom objects of a tenant, for sweeps that need another tenant's (tenant isolation)."""

from __future__ import annotations

import uuid

from pydantic import SecretStr

from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom import inbox
from siyu.channels.wecom.events import parse_event
from siyu.channels.wecom.fake.callbacks import event_xml
from siyu.channels.wecom.fake.config import DEFAULT_CALLBACK_AES_KEY
from siyu.core.db import unit_of_work
from tests.factories import World


def account_of(world: World) -> uuid.UUID:
    """Create a WeCom account in ``world``'s tenant and return its id."""
    config = WeComConfig(
        corp_id=f"ww{world.slug}",
        secret=SecretStr("isolation-secret"),
        callback_token=SecretStr("isolation-token"),
        callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
    )
    with unit_of_work(world.admin) as db:
        name = f"isolation-{uuid.uuid4().hex[:6]}"
        return channels.create_wecom_account(db, world.admin, name=name, config=config).id


def callback_of(world: World) -> uuid.UUID:
    """Store a callback (a customer's deletion) in a new account of ``world``'s tenant."""
    account_id = account_of(world)
    xml = event_xml(
        f"ww{world.slug}",
        1_800_000_000,
        "change_external_contact",
        [("ChangeType", "del_follow_user"), ("UserID", "u1"), ("ExternalUserID", "wm1")],
    )
    with unit_of_work(world.admin) as db:
        stored = inbox.store(db, world.admin, account_id=account_id, event=parse_event(xml))
        return stored.callback_id
