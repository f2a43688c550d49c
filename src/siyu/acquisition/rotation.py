"""Daily caps of rotating codes: which members a code's contact way offers right now.

A rotating code with ``daily_cap_per_staff`` takes a member out of its contact way once they got
that many adds in the tenant's day. Callback processing calls ``on_contact_added`` after
writing the relation; the change reaches WeCom through the outbox
(``wecom.update_contact_way``, handled in ``siyu.acquisition.jobs``), whose handler asks
``rotation_users`` for the list at delivery time. ``restore_rotations`` brings the full list
back on the next day. When every member is capped, the code keeps the one who reached the cap
last: WeCom needs at least one member, and the overflow goes to one person.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition import stats
from siyu.acquisition.models import ChannelCode
from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.core.actor import Actor
from siyu.core.clock import FixedClock, local_day_range
from siyu.jobs import outbox
from siyu.security.rbac import Perm, require

UPDATE_CONTACT_WAY = "wecom.update_contact_way"


def on_contact_added(
    db: Session, actor: Actor, *, code: ChannelCode, wecom_userid: str, now: datetime
) -> None:
    """Take a member out of a rotating code once they reached today's cap.

    Call after the new relation is flushed: today's count includes it. The change reaches
    WeCom through the outbox; ``rotation_users`` says which members stay.
    """
    cap = code.daily_cap_per_staff
    if not (code.is_active and code.is_rotating and cap) or code.config_id is None:
        return
    if wecom_userid not in code.staff_userids:
        return
    start, end = local_day_range(now, ZoneInfo(actor.timezone))
    counts = stats.adds_by_staff(db, actor.tenant_id, code.id, start=start, end=end)
    if counts.get(wecom_userid, 0) < cap:
        return
    users = live_userids(code, counts, keep=wecom_userid)
    day = now.astimezone(ZoneInfo(actor.timezone)).date()
    _enqueue_way_update(db, actor, code, users, key=f"cap:{day.isoformat()}", now=now)


def live_userids(
    code: ChannelCode, counts: dict[str, int], *, keep: str | None = None
) -> list[str]:
    """Return the members of a code still under today's cap, in the code's order.

    When every member reached the cap the code keeps one member (WeCom needs at least one):
    ``keep`` (the one who reached it last) if it is a member, else the code's last member.
    """
    cap = code.daily_cap_per_staff
    if not code.is_rotating or cap is None:
        return list(code.staff_userids)
    under = [userid for userid in code.staff_userids if counts.get(userid, 0) < cap]
    if under:
        return under
    return [keep if keep in code.staff_userids else code.staff_userids[-1]]


def users_now(
    db: Session, actor: Actor, code: ChannelCode, *, now: datetime, keep: str | None = None
) -> list[str]:
    """Return the members a code's contact way should offer at ``now`` (the tenant's day)."""
    start, end = local_day_range(now, ZoneInfo(actor.timezone))
    counts = stats.adds_by_staff(db, actor.tenant_id, code.id, start=start, end=end)
    return live_userids(code, counts, keep=keep)


def _enqueue_way_update(
    db: Session, actor: Actor, code: ChannelCode, users: Sequence[str], *, key: str, now: datetime
) -> None:
    digest = hashlib.sha256(",".join(users).encode()).hexdigest()[:16]
    outbox.enqueue(
        db,
        actor,
        kind=UPDATE_CONTACT_WAY,
        key=f"channel_code:{code.id}:{key}:{digest}",
        payload={"code_id": str(code.id), "users": list(users)},
        clock=FixedClock(now),
    )


@dataclass(frozen=True)
class WayUpdate:
    """What the outbox handler sends: the member list a code's contact way should have now."""

    account: ChannelAccount
    config_id: str
    users: list[str]


def rotation_users(
    db: Session, actor: Actor, code_id: uuid.UUID, *, now: datetime, queued: Sequence[str] = ()
) -> WayUpdate | None:
    """Return the member list a code's way should have at ``now``; ``None`` for a disabled code.

    Computed when the message is delivered, not when it was queued, so a late or repeated
    delivery sends the current list; ``queued`` (the list computed when queued) names the
    member to keep should everyone be capped.
    """
    require(actor, Perm.ACQUISITION_READ)
    code = db.get(ChannelCode, (actor.tenant_id, code_id))
    if code is None or not code.is_active or code.config_id is None:
        return None
    users = users_now(db, actor, code, now=now, keep=queued[-1] if queued else None)
    account = channels.get_account(db, actor, code.account_id)
    return WayUpdate(account=account, config_id=code.config_id, users=users)


def restore_rotations(db: Session, actor: Actor, *, now: datetime) -> int:
    """Queue the full member lists of codes whose members were capped yesterday; return how many.

    Run hourly: the first run of the tenant's day queues each code once (idempotent by day).
    """
    require(actor, Perm.ACQUISITION_READ)
    tz = ZoneInfo(actor.timezone)
    today_start, _ = local_day_range(now, tz)
    yesterday_start, _ = local_day_range(today_start - timedelta(hours=1), tz)
    code_ids = stats.codes_with_capped_staff(
        db, actor.tenant_id, start=yesterday_start, end=today_start
    )
    day = now.astimezone(tz).date()
    for code in db.scalars(select(ChannelCode).where(ChannelCode.id.in_(code_ids))):
        _enqueue_way_update(
            db, actor, code, code.staff_userids, key=f"restore:{day.isoformat()}", now=now
        )
    return len(code_ids)
