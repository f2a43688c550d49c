"""Channel codes of a tenant, for sweeps that need another tenant's (tenant isolation)."""

from __future__ import annotations

import uuid

from siyu.acquisition.models import ChannelCode, CodeOwner
from siyu.core.db import unit_of_work
from siyu.core.ids import new_id
from tests.factories import World
from tests.integration.channels.objects import account_of


def code_of(world: World) -> uuid.UUID:
    """Store a channel code (as if WeCom had made its contact way) in ``world``'s tenant."""
    account_id = account_of(world)
    with unit_of_work(world.admin) as db:
        code = ChannelCode(
            id=new_id(),
            account_id=account_id,
            name=f"isolation-{uuid.uuid4().hex[:6]}",
            state=f"iso-{uuid.uuid4().hex[:8]}",
            owner_kind=CodeOwner.CAMPAIGN,
            staff_userids=[f"{world.slug}_guide1"],
            welcome={},
            tag_ids=[],
            config_id=f"way{uuid.uuid4().hex}",
            qr_code="https://wework.qpic.cn/wwpic/isolation/0",
        )
        db.add(code)
        return code.id
