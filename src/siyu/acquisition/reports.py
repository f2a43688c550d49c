"""Codes with their counts: the statistics report and the code list of API, CLI and console.

Periods are days of the tenant's timezone, both ends inclusive; the counts themselves come from
``siyu.acquisition.stats`` (one SQL aggregation for any number of codes).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from siyu.acquisition import stats
from siyu.acquisition.models import ChannelCode, CodeOwner
from siyu.acquisition.schemas import CodeCounts, CodeStats, GroupStats, StatsReport
from siyu.acquisition.service import get_code, visible
from siyu.core.actor import Actor
from siyu.core.clock import local_day_range
from siyu.core.errors import InvalidInput
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.security.rbac import Perm, require

MAX_PAGE = 200
DEFAULT_DELETION_WINDOW_DAYS = 7


def _period(
    actor: Actor, since: date | None, until: date | None, *, today: date
) -> tuple[date, date, datetime, datetime]:
    """Resolve an inclusive day range in the tenant's timezone to a UTC ``[start, end)``."""
    until = until or today
    since = since or until.replace(day=1)
    if since > until:
        raise InvalidInput(
            f"since {since} is after until {until}", hint="give since ≤ until (both inclusive)"
        )
    tz = ZoneInfo(actor.timezone)
    start = datetime.combine(since, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(until, datetime.min.time(), tzinfo=tz)
    start_utc, _ = local_day_range(start, tz)
    _, end_utc = local_day_range(end, tz)
    return since, until, start_utc, end_utc


def _counts(row: stats.CodeRow | None) -> dict[str, int]:
    if row is None:
        return {}
    return {
        "adds": row.adds,
        "new_customers": row.new_customers,
        "re_adds": row.re_adds,
        "deletions": row.deletions,
        "deletions_within_window": row.deletions_within_window,
        "net_adds": row.net_adds,
        "first_orders": row.first_orders,
        "net_gmv_fen": row.net_gmv_fen,
    }


def _sum(items: Sequence[CodeCounts]) -> dict[str, int]:
    total = CodeCounts()
    for item in items:
        for key in CodeCounts.model_fields:
            setattr(total, key, getattr(total, key) + getattr(item, key))
    return total.model_dump()


def _check_window(days: int) -> None:
    if not 1 <= days <= 365:
        raise InvalidInput(
            f"deletion_window_days is {days}", hint="use 1 to 365 days (the default is 7)"
        )


def code_stats(
    db: Session,
    actor: Actor,
    code_id: uuid.UUID | None,
    *,
    since: date | None,
    until: date | None,
    today: date,
    deletion_window_days: int = DEFAULT_DELETION_WINDOW_DAYS,
) -> StatsReport:
    """Count what one code (or every visible code) brought in from ``since`` to ``until``.

    Days are the tenant's, both inclusive; ``until`` defaults to ``today``, ``since`` to the
    first of that month.
    """
    require(actor, Perm.ACQUISITION_READ)
    _check_window(deletion_window_days)
    since, until, start, end = _period(actor, since, until, today=today)
    stmt = visible(actor, select(ChannelCode))
    if code_id is not None:
        stmt = stmt.where(ChannelCode.id == get_code(db, actor, code_id).id)
    codes = list(db.scalars(stmt.order_by(ChannelCode.name)))
    rows = stats.count_codes(
        db,
        actor.tenant_id,
        [c.id for c in codes] if code_id is not None or actor.scope_path is not None else None,
        start=start,
        end=end,
        deletion_window_days=deletion_window_days,
    )
    per_code = [
        CodeStats(
            code_id=c.id,
            name=c.name,
            state=c.state,
            owner_kind=c.owner_kind,
            org_unit_id=c.org_unit_id,
            owner_label=c.owner_label,
            is_active=c.is_active,
            **_counts(rows.get(c.id)),
        )
        for c in codes
    ]
    by_kind: dict[str, list[CodeStats]] = {}
    by_unit: dict[str | None, list[CodeStats]] = {}
    for item in per_code:
        by_kind.setdefault(item.owner_kind.value, []).append(item)
        unit = str(item.org_unit_id) if item.org_unit_id is not None else None
        by_unit.setdefault(unit, []).append(item)
    return StatsReport(
        since=since,
        until=until,
        deletion_window_days=deletion_window_days,
        codes=per_code,
        totals=CodeCounts(**_sum(per_code)),
        by_owner_kind=[
            GroupStats(key=k, code_count=len(v), **_sum(v)) for k, v in sorted(by_kind.items())
        ],
        by_org_unit=[
            GroupStats(key=k, code_count=len(v), **_sum(v))
            for k, v in sorted(by_unit.items(), key=lambda kv: kv[0] or "")
        ],
    )


@dataclass(frozen=True)
class CodeList:
    """A page of codes, newest first, each with its counts over ``[since, until]``."""

    items: list[tuple[ChannelCode, CodeCounts]]
    next_cursor: str | None
    since: date
    until: date


def list_codes(
    db: Session,
    actor: Actor,
    *,
    today: date,
    since: date | None = None,
    until: date | None = None,
    include_inactive: bool = False,
    owner_kind: CodeOwner | None = None,
    org_unit_id: uuid.UUID | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> CodeList:
    """Return a page of visible codes with their counts (two queries, whatever the page size)."""
    require(actor, Perm.ACQUISITION_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit is {limit}", hint=f"use 1 to {MAX_PAGE}")
    since, until, start, end = _period(actor, since, until, today=today)
    stmt = visible(actor, select(ChannelCode))
    if not include_inactive:
        stmt = stmt.where(ChannelCode.is_active.is_(True))
    if owner_kind is not None:
        stmt = stmt.where(ChannelCode.owner_kind == owner_kind.value)
    if org_unit_id is not None:
        stmt = stmt.where(ChannelCode.org_unit_id == org_unit_id)
    if q:
        needle = q.strip()
        stmt = stmt.where(
            ChannelCode.name.contains(needle, autoescape=True)
            | (ChannelCode.state == needle)
            | ChannelCode.owner_label.contains(needle, autoescape=True)
        )
    if cursor:
        at, cid = decode_cursor(cursor)
        stmt = stmt.where(tuple_(ChannelCode.created_at, ChannelCode.id) < tuple_(at, cid))
    codes = list(
        db.scalars(
            stmt.order_by(ChannelCode.created_at.desc(), ChannelCode.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(codes) > limit:
        codes = codes[:limit]
        next_cursor = encode_cursor(codes[-1].created_at, codes[-1].id)
    rows = (
        stats.count_codes(
            db,
            actor.tenant_id,
            [c.id for c in codes],
            start=start,
            end=end,
            deletion_window_days=DEFAULT_DELETION_WINDOW_DAYS,
        )
        if codes
        else {}
    )
    return CodeList(
        items=[(c, CodeCounts(**_counts(rows.get(c.id)))) for c in codes],
        next_cursor=next_cursor,
        since=since,
        until=until,
    )
