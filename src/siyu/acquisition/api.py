"""Channel code routes: create, list with counts, read, change, disable, statistics."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from siyu.acquisition import flows, reports, service
from siyu.acquisition.models import CodeOwner
from siyu.acquisition.schemas import (
    CodeCreate,
    CodePage,
    CodeRead,
    CodeSummary,
    CodeUpdate,
    StatsReport,
)
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import unit_of_work
from siyu.security.deps import CurrentActor

router = APIRouter(prefix="/channel-codes", tags=["channel codes"])

Since = Annotated[date | None, Query(description="First day (tenant's timezone), inclusive")]
Until = Annotated[date | None, Query(description="Last day (tenant's timezone), inclusive")]
Window = Annotated[
    int,
    Query(ge=1, le=365, description="A deletion within this many days of the add is a loss"),
]


def _today(actor: Actor) -> date:
    return SYSTEM_CLOCK.now().astimezone(ZoneInfo(actor.timezone)).date()


@router.post("", status_code=201, operation_id="create_channel_code")
def create_code(data: CodeCreate, actor: CurrentActor) -> CodeRead:
    """Create a code: a WeCom contact way (QR code) with its state, members and welcome."""
    return flows.create_code(actor, data)


@router.get("", operation_id="list_channel_codes")
def list_codes(
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    include_inactive: bool = False,
    owner_kind: CodeOwner | None = None,
    org_unit_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=reports.MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> CodePage:
    """List codes, newest first, with their counts from ``since`` to ``until``.

    The period defaults to the current month; deletions use a 7-day window.
    """
    with unit_of_work(actor) as db:
        page = reports.list_codes(
            db,
            actor,
            today=_today(actor),
            since=since,
            until=until,
            include_inactive=include_inactive,
            owner_kind=owner_kind,
            org_unit_id=org_unit_id,
            q=q,
            limit=limit,
            cursor=cursor,
        )
        items = [
            CodeSummary.model_validate(
                CodeRead.model_validate(code).model_dump() | {"stats": counts}
            )
            for code, counts in page.items
        ]
    return CodePage(items=items, next_cursor=page.next_cursor, since=page.since, until=page.until)


@router.get("/stats", operation_id="channel_code_stats")
def all_stats(
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    deletion_window_days: Window = reports.DEFAULT_DELETION_WINDOW_DAYS,
) -> StatsReport:
    """Counts of every code, totals, and sums by owner kind and by org unit."""
    with unit_of_work(actor) as db:
        return reports.code_stats(
            db,
            actor,
            None,
            since=since,
            until=until,
            today=_today(actor),
            deletion_window_days=deletion_window_days,
        )


@router.get("/{code_id}", operation_id="get_channel_code")
def get_code(code_id: uuid.UUID, actor: CurrentActor) -> CodeRead:
    with unit_of_work(actor) as db:
        return CodeRead.model_validate(service.get_code(db, actor, code_id))


@router.get("/{code_id}/stats", operation_id="get_channel_code_stats")
def code_stats(
    code_id: uuid.UUID,
    actor: CurrentActor,
    since: Since = None,
    until: Until = None,
    deletion_window_days: Window = reports.DEFAULT_DELETION_WINDOW_DAYS,
) -> StatsReport:
    """What one code brought in from ``since`` to ``until`` (money in fen), as a one-code report."""
    with unit_of_work(actor) as db:
        return reports.code_stats(
            db,
            actor,
            code_id,
            since=since,
            until=until,
            today=_today(actor),
            deletion_window_days=deletion_window_days,
        )


@router.patch("/{code_id}", operation_id="update_channel_code")
def update_code(code_id: uuid.UUID, data: CodeUpdate, actor: CurrentActor) -> CodeRead:
    """Change a code; members, name and skip_verify are changed in WeCom too."""
    return flows.update_code(actor, code_id, data)


@router.delete("/{code_id}", operation_id="disable_channel_code")
def disable_code(code_id: uuid.UUID, actor: CurrentActor) -> CodeRead:
    """Disable a code: its WeCom contact way is deleted; the code and its history stay."""
    return flows.disable_code(actor, code_id)
