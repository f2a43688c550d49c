"""Customer group routes: list groups, read one with its members."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from siyu.core.db import unit_of_work
from siyu.groups import service
from siyu.groups.models import GroupStatus
from siyu.groups.schemas import GroupDetail, GroupPage
from siyu.security.deps import CurrentActor

router = APIRouter(prefix="/groups", tags=["groups"])


@router.get("", operation_id="list_groups")
def list_groups(
    actor: CurrentActor,
    account_id: uuid.UUID | None = None,
    status: GroupStatus | None = None,
    owner_staff_id: uuid.UUID | None = None,
    q: str | None = Query(default=None, max_length=100, description="name contains, or chat id"),
    limit: int = Query(default=50, ge=1, le=service.MAX_PAGE),
    cursor: str | None = None,
) -> GroupPage:
    """Customer groups in the caller's data scope, newest first (keyset pages)."""
    with unit_of_work(actor) as db:
        page = service.list_groups(
            db,
            actor,
            account_id=account_id,
            status=status,
            owner_staff_id=owner_staff_id,
            q=q,
            limit=limit,
            cursor=cursor,
        )
        return GroupPage(items=service.present(db, actor, page.items), next_cursor=page.next_cursor)


@router.get("/{group_id}", operation_id="get_group")
def get_group(group_id: uuid.UUID, actor: CurrentActor) -> GroupDetail:
    """One group with its members: present ones first, then those who left (``left_at``)."""
    with unit_of_work(actor) as db:
        return service.group_detail(db, actor, group_id)
