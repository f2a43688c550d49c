"""Channel codes (渠道活码): rules, attribution hooks and statistics.

A code is a WeCom contact way with a unique ``state``. Creating, changing and disabling one
talks to WeCom, which must not happen inside a transaction, so each is split in two: a
``prepare_*`` that validates in one unit of work and returns a plan, and a ``*_code`` that
writes the plan in a second one once WeCom has answered (``siyu.acquisition.flows`` runs the
three steps for every entry point). Callback processing calls ``code_for_state``,
``render_welcome`` and ``on_contact_added``; the last one keeps a rotating code's member list to
the members under their daily cap, through the outbox (``wecom.update_contact_way``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session

from siyu.acquisition import stats, welcome
from siyu.acquisition.models import ChannelCode, CodeOwner
from siyu.acquisition.schemas import (
    STATE_MAX,
    CodeCounts,
    CodeCreate,
    CodeStats,
    CodeUpdate,
    GroupStats,
    StatsReport,
)
from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.core.actor import Actor
from siyu.core.clock import FixedClock, local_day_range
from siyu.core.errors import Conflict, FieldError, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.jobs import outbox
from siyu.security import service as security
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import OrgUnit, Staff

UPDATE_CONTACT_WAY = "wecom.update_contact_way"
WAY_TYPE_MULTI = 2  # always "several members": a code's members may change later
WAY_SCENE_QR = 2
REMARK_MAX = 30
TAG_ID_MAX = 64
MAX_PAGE = 200
DEFAULT_DELETION_WINDOW_DAYS = 7
_STATE = re.compile(r"^[\w\-.:]+$")
_Row = TypeVar("_Row")


def _not_found(code_id: object) -> NotFound:
    return NotFound(
        f"channel code {code_id} not found",
        hint="list codes with GET /api/v1/channel-codes or `siyu codes list`",
    )


# --- lookups used by callback processing -------------------------------------------------


def code_for_state(db: Session, actor: Actor, state: str | None) -> ChannelCode | None:
    """Return the code whose ``state`` came with an add, or ``None``.

    A disabled code is returned too: a late callback still belongs to it.
    """
    if not state:
        return None
    return db.scalar(select(ChannelCode).where(ChannelCode.state == state))


def render_welcome(code: ChannelCode, *, customer_name: str, staff_name: str) -> dict[str, Any]:
    """Return ``{"text": str | None, "attachments": [wire dicts]}`` for ``send_welcome_msg``.

    Both are empty when the code has no welcome message; variables are substituted.
    """
    return welcome.render(code.welcome or {}, customer_name=customer_name, staff_name=staff_name)


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
    users = live_userids(code, counts, last=wecom_userid)
    day = now.astimezone(ZoneInfo(actor.timezone)).date()
    _enqueue_way_update(db, actor, code, users, key=f"cap:{day.isoformat()}", now=now)


def live_userids(
    code: ChannelCode, counts: dict[str, int], *, last: str | None = None
) -> list[str]:
    """Return the members of a code still under today's cap, in the code's order.

    When every member reached the cap the code keeps one member (WeCom needs at least one):
    ``last``, the one who reached it last, or else the code's last member.
    """
    cap = code.daily_cap_per_staff
    if not code.is_rotating or cap is None:
        return list(code.staff_userids)
    under = [userid for userid in code.staff_userids if counts.get(userid, 0) < cap]
    if under:
        return under
    return [last if last in code.staff_userids else code.staff_userids[-1]]


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
    db: Session, actor: Actor, code_id: uuid.UUID, *, now: datetime
) -> WayUpdate | None:
    """Return the member list a code's way should have at ``now``; ``None`` for a disabled code.

    Computed when the message is delivered, not when it was queued, so a late or repeated
    delivery sends the current list.
    """
    require(actor, Perm.ACQUISITION_READ)
    code = db.get(ChannelCode, (actor.tenant_id, code_id))
    if code is None or not code.is_active or code.config_id is None:
        return None
    start, end = local_day_range(now, ZoneInfo(actor.timezone))
    counts = stats.adds_by_staff(db, actor.tenant_id, code.id, start=start, end=end)
    account = channels.get_account(db, actor, code.account_id)
    return WayUpdate(account=account, config_id=code.config_id, users=live_userids(code, counts))


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


# --- create, change, disable ---------------------------------------------------------------


def generate_state(code_id: uuid.UUID) -> str:
    """Return ``c_`` and the id in base32: unique by construction, 28 characters."""
    return "c_" + base64.b32encode(code_id.bytes).decode().rstrip("=").lower()


def _check_state(db: Session, state: str) -> str:
    state = state.strip()
    if not state or len(state) > STATE_MAX or not _STATE.match(state):
        raise InvalidInput(
            f"state {state!r} is not valid",
            hint=f"1 to {STATE_MAX} letters, digits, '_', '-', '.' or ':' (WeCom's limit is "
            f"{STATE_MAX}); leave it out to have one generated",
            errors=[FieldError(field="state", reason="invalid", value=state)],
        )
    if db.scalar(select(ChannelCode.id).where(ChannelCode.state == state)) is not None:
        raise Conflict(
            f"a channel code with state {state!r} exists",
            hint="states are unique per tenant (they attribute each add); pick another",
            errors=[FieldError(field="state", reason="taken", value=state)],
        )
    return state


def _check_name(db: Session, name: str, *, except_id: uuid.UUID | None = None) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name is empty", hint="give the code a name, e.g. the store or campaign")
    other = db.scalar(select(ChannelCode.id).where(ChannelCode.name == name))
    if other is not None and other != except_id:
        raise Conflict(
            f"a channel code named {name!r} exists",
            hint="names are unique per tenant; pick another name",
            errors=[FieldError(field="name", reason="taken", value=name)],
        )
    return name


def _check_staff(db: Session, actor: Actor, userids: Sequence[str]) -> list[str]:
    cleaned = [u.strip() for u in userids]
    duplicates = sorted({u for u in cleaned if cleaned.count(u) > 1})
    if duplicates:
        raise InvalidInput(
            f"staff_userids lists {', '.join(duplicates)} more than once",
            hint="name each WeCom member once",
        )
    stmt = select(Staff.wecom_userid).where(
        Staff.wecom_userid.in_(cleaned), Staff.is_active.is_(True)
    )
    if actor.scope_path is not None:
        stmt = stmt.join(
            OrgUnit, (OrgUnit.tenant_id == Staff.tenant_id) & (OrgUnit.id == Staff.org_unit_id)
        ).where(OrgUnit.path.startswith(actor.scope_path, autoescape=True))
    known = set(db.scalars(stmt))
    unknown = [u for u in cleaned if u not in known]
    if unknown:
        raise InvalidInput(
            f"no active staff member has the WeCom userid {', '.join(map(repr, unknown))}",
            hint="codes add customers to staff with a WeCom userid; set it on the staff record "
            "(`siyu staff update`) or pick others",
            errors=[
                FieldError(field="staff_userids", reason="unknown staff", value=u) for u in unknown
            ],
        )
    return cleaned


def _check_rotation(staff: Sequence[str], is_rotating: bool, cap: int | None) -> None:
    if len(staff) > 1 and not is_rotating:
        raise InvalidInput(
            f"{len(staff)} staff members but rotation is off",
            hint="turn rotation on to offer the members in turn, or keep one member",
            errors=[FieldError(field="is_rotating", reason="needed for several staff")],
        )
    if cap is not None and not is_rotating:
        raise InvalidInput(
            "a daily cap per staff member needs rotation",
            hint="turn rotation on (the cap takes a member out of the rotation for the day)",
            errors=[FieldError(field="daily_cap_per_staff", reason="needs is_rotating")],
        )


def _check_tags(tag_ids: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(t.strip() for t in tag_ids))
    bad = [t for t in cleaned if not t or len(t) > TAG_ID_MAX]
    if bad:
        raise InvalidInput(
            "tag ids must be 1 to 64 characters",
            hint="use the corp tag ids from `siyu wecom tags` (or WeCom's get_corp_tag_list)",
            errors=[FieldError(field="tag_ids", reason="invalid", value=t) for t in bad],
        )
    return cleaned


def _check_org_unit(db: Session, actor: Actor, org_unit_id: uuid.UUID | None) -> None:
    if org_unit_id is None:
        if actor.scope_path is not None:
            raise InvalidInput(
                "codes made by a store or region user need an org unit",
                hint="set org_unit_id to a unit within your scope",
            )
        return
    tenancy.get_org_unit(db, actor, org_unit_id)


@dataclass(frozen=True)
class CodePlan:
    """A validated new code, before WeCom has created its contact way."""

    id: uuid.UUID
    account_id: uuid.UUID
    name: str
    state: str
    owner_kind: CodeOwner
    org_unit_id: uuid.UUID | None
    owner_label: str
    staff_userids: list[str]
    is_rotating: bool
    daily_cap_per_staff: int | None
    welcome: dict[str, Any]
    tag_ids: list[str]
    skip_verify: bool
    account: ChannelAccount = field(repr=False)

    @property
    def remark(self) -> str:
        return self.name[:REMARK_MAX]


def prepare_create(db: Session, actor: Actor, *, data: CodeCreate) -> CodePlan:
    """Validate a new code; raise an ``AppError`` naming every problem found first."""
    require(actor, Perm.ACQUISITION_WRITE)
    account = channels.find_account(
        db, actor, str(data.account_id) if data.account_id is not None else None
    )
    if not account.is_active:
        raise InvalidInput(
            f"channel account {account.name!r} is disabled",
            hint="enable it (`siyu wecom accounts`) or pick another account",
        )
    code_id = new_id()
    name = _check_name(db, data.name)
    state = _check_state(db, data.state) if data.state is not None else generate_state(code_id)
    staff = _check_staff(db, actor, data.staff_userids)
    _check_rotation(staff, data.is_rotating, data.daily_cap_per_staff)
    _check_org_unit(db, actor, data.org_unit_id)
    return CodePlan(
        id=code_id,
        account_id=account.id,
        name=name,
        state=state,
        owner_kind=data.owner_kind,
        org_unit_id=data.org_unit_id,
        owner_label=data.owner_label.strip(),
        staff_userids=staff,
        is_rotating=data.is_rotating,
        daily_cap_per_staff=data.daily_cap_per_staff,
        welcome=welcome.validate_welcome(data.welcome),
        tag_ids=_check_tags(data.tag_ids),
        skip_verify=data.skip_verify,
        account=account,
    )


def create_code(
    db: Session, actor: Actor, *, plan: CodePlan, config_id: str, qr_code: str, now: datetime
) -> ChannelCode:
    """Insert a code whose contact way WeCom has created (name and state are checked again)."""
    require(actor, Perm.ACQUISITION_WRITE)
    _check_name(db, plan.name)
    _check_state(db, plan.state)
    code = ChannelCode(
        id=plan.id,
        account_id=plan.account_id,
        name=plan.name,
        state=plan.state,
        owner_kind=plan.owner_kind,
        org_unit_id=plan.org_unit_id,
        owner_label=plan.owner_label,
        staff_userids=plan.staff_userids,
        is_rotating=plan.is_rotating,
        daily_cap_per_staff=plan.daily_cap_per_staff,
        welcome=plan.welcome,
        tag_ids=plan.tag_ids,
        skip_verify=plan.skip_verify,
        config_id=config_id,
        qr_code=qr_code or None,
        is_active=True,
        created_by=actor.label[:200],
        created_at=now,
    )
    db.add(code)
    security.record_audit(
        db,
        actor,
        "channel_code.create",
        subject_type="channel_code",
        subject_id=code.id,
        detail={"name": code.name, "state": code.state, "staff": code.staff_userids},
    )
    db.flush()
    return code


def _visible(actor: Actor, stmt: Select[_Row]) -> Select[_Row]:
    if actor.scope_path is None:
        return stmt
    return stmt.join(
        OrgUnit,
        (OrgUnit.tenant_id == ChannelCode.tenant_id) & (OrgUnit.id == ChannelCode.org_unit_id),
    ).where(OrgUnit.path.startswith(actor.scope_path, autoescape=True))


def get_code(db: Session, actor: Actor, code_id: uuid.UUID) -> ChannelCode:
    """Return a code the actor may see; another tenant's or out of scope is ``NotFound``."""
    require(actor, Perm.ACQUISITION_READ)
    code = db.scalar(_visible(actor, select(ChannelCode).where(ChannelCode.id == code_id)))
    if code is None:
        raise _not_found(code_id)
    return code


def find_code(db: Session, actor: Actor, name_or_id: str) -> ChannelCode:
    """Return the code with this id, name or state (CLI and console look-ups)."""
    require(actor, Perm.ACQUISITION_READ)
    try:
        return get_code(db, actor, uuid.UUID(name_or_id))
    except ValueError:
        pass
    key = name_or_id.strip()
    code = db.scalar(
        _visible(
            actor,
            select(ChannelCode).where((ChannelCode.name == key) | (ChannelCode.state == key)),
        )
    )
    if code is None:
        raise _not_found(repr(name_or_id))
    return code


@dataclass(frozen=True)
class UpdatePlan:
    """A validated change; ``way`` says what WeCom's contact way must become (None: no call)."""

    code_id: uuid.UUID
    changes: dict[str, Any]
    account: ChannelAccount = field(repr=False)
    config_id: str | None
    way_users: list[str] | None
    way_remark: str | None
    way_skip_verify: bool | None

    @property
    def touches_way(self) -> bool:
        return self.config_id is not None and (
            self.way_users is not None
            or self.way_remark is not None
            or self.way_skip_verify is not None
        )


def prepare_update(
    db: Session, actor: Actor, code_id: uuid.UUID, *, data: CodeUpdate, now: datetime
) -> UpdatePlan:
    """Validate a change to a code and work out what WeCom must change."""
    require(actor, Perm.ACQUISITION_WRITE)
    code = get_code(db, actor, code_id)
    if not code.is_active:
        raise Conflict(
            f"channel code {code.name!r} is disabled",
            hint="a disabled code's contact way is deleted; create a new code instead",
        )
    given = data.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "name" in given and data.name is not None:
        changes["name"] = _check_name(db, data.name, except_id=code.id)
    if "owner_kind" in given and data.owner_kind is not None:
        changes["owner_kind"] = data.owner_kind
    if "org_unit_id" in given:
        _check_org_unit(db, actor, data.org_unit_id)
        changes["org_unit_id"] = data.org_unit_id
    if "owner_label" in given and data.owner_label is not None:
        changes["owner_label"] = data.owner_label.strip()
    if "staff_userids" in given and data.staff_userids is not None:
        changes["staff_userids"] = _check_staff(db, actor, data.staff_userids)
    if "is_rotating" in given and data.is_rotating is not None:
        changes["is_rotating"] = data.is_rotating
    if "daily_cap_per_staff" in given:
        changes["daily_cap_per_staff"] = data.daily_cap_per_staff
    if "welcome" in given:
        changes["welcome"] = welcome.validate_welcome(data.welcome)
    if "tag_ids" in given and data.tag_ids is not None:
        changes["tag_ids"] = _check_tags(data.tag_ids)
    if "skip_verify" in given and data.skip_verify is not None:
        changes["skip_verify"] = data.skip_verify
    staff = changes.get("staff_userids", code.staff_userids)
    rotating = changes.get("is_rotating", code.is_rotating)
    cap = changes.get("daily_cap_per_staff", code.daily_cap_per_staff)
    _check_rotation(staff, rotating, cap)
    changes = {k: v for k, v in changes.items() if getattr(code, k) != v}
    way_users = None
    if {"staff_userids", "is_rotating", "daily_cap_per_staff"} & changes.keys():
        start, end = local_day_range(now, ZoneInfo(actor.timezone))
        counts = stats.adds_by_staff(db, actor.tenant_id, code.id, start=start, end=end)
        preview = ChannelCode(staff_userids=staff, is_rotating=rotating, daily_cap_per_staff=cap)
        way_users = live_userids(preview, counts)
    return UpdatePlan(
        code_id=code.id,
        changes=changes,
        account=channels.get_account(db, actor, code.account_id),
        config_id=code.config_id,
        way_users=way_users,
        way_remark=changes["name"][:REMARK_MAX] if "name" in changes else None,
        way_skip_verify=changes.get("skip_verify"),
    )


def update_code(db: Session, actor: Actor, *, plan: UpdatePlan) -> ChannelCode:
    """Write a change whose contact-way part WeCom has accepted."""
    require(actor, Perm.ACQUISITION_WRITE)
    code = get_code(db, actor, plan.code_id)
    if "name" in plan.changes:
        _check_name(db, plan.changes["name"], except_id=code.id)
    for key, value in plan.changes.items():
        setattr(code, key, value)
    if plan.changes:
        security.record_audit(
            db,
            actor,
            "channel_code.update",
            subject_type="channel_code",
            subject_id=code.id,
            detail={"changed": sorted(plan.changes)},
        )
    db.flush()
    return code


@dataclass(frozen=True)
class DisablePlan:
    code_id: uuid.UUID
    account: ChannelAccount = field(repr=False)
    config_id: str | None


def prepare_disable(db: Session, actor: Actor, code_id: uuid.UUID) -> DisablePlan:
    """Check a code may be disabled; a disabled code stays disabled (idempotent)."""
    require(actor, Perm.ACQUISITION_WRITE)
    code = get_code(db, actor, code_id)
    return DisablePlan(
        code_id=code.id,
        account=channels.get_account(db, actor, code.account_id),
        config_id=code.config_id if code.is_active else None,
    )


def disable_code(db: Session, actor: Actor, code_id: uuid.UUID) -> ChannelCode:
    """Mark a code inactive once its contact way is deleted; its relations keep the code."""
    require(actor, Perm.ACQUISITION_WRITE)
    code = get_code(db, actor, code_id)
    if code.is_active:
        code.is_active = False
        security.record_audit(
            db,
            actor,
            "channel_code.disable",
            subject_type="channel_code",
            subject_id=code.id,
            detail={"name": code.name, "state": code.state},
        )
        db.flush()
    return code


# --- lists and statistics ------------------------------------------------------------------


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
    stmt = _visible(actor, select(ChannelCode))
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


def _encode_cursor(created_at: datetime, code_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{code_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, cid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(cid)
    except ValueError as exc:
        raise InvalidInput(
            "cursor is not valid", hint="pass the next_cursor of the previous page unchanged"
        ) from exc


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
    stmt = _visible(actor, select(ChannelCode))
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
        at, cid = _decode_cursor(cursor)
        stmt = stmt.where(tuple_(ChannelCode.created_at, ChannelCode.id) < tuple_(at, cid))
    codes = list(
        db.scalars(
            stmt.order_by(ChannelCode.created_at.desc(), ChannelCode.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(codes) > limit:
        codes = codes[:limit]
        next_cursor = _encode_cursor(codes[-1].created_at, codes[-1].id)
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
