"""Customer groups of a tenant, for sweeps that need another tenant's (tenant isolation)."""

from __future__ import annotations

import uuid

from siyu.channels.wecom.schemas import GroupChat, GroupChatMember
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import unit_of_work
from siyu.groups import service as groups
from tests.factories import World
from tests.integration.channels.objects import account_of


def group_of(world: World) -> uuid.UUID:
    """Write a group of ``world``'s guide1 (one customer member) and return its id."""
    account_id = account_of(world)
    owner = f"{world.slug}_guide1"
    chat = GroupChat(
        chat_id=f"wr{uuid.uuid4().hex[:20]}",
        name="isolation",
        owner=owner,
        member_list=[
            GroupChatMember(userid=owner, type=1, join_time=1_800_000_000),
            GroupChatMember(userid="wm-isolation", type=2, join_time=1_800_000_000),
        ],
    )
    with unit_of_work(world.admin) as db:
        applied = groups.apply_group(
            db, world.admin, account_id=account_id, chat=chat, now=SYSTEM_CLOCK.now()
        )
        return applied.group.id
