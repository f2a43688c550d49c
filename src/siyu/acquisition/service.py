"""Channel codes (渠道活码): create, change, disable, read; the hooks of callback processing.

A code is a WeCom contact way with a unique ``state``. Creating, changing and disabling one
talks to WeCom, which must not happen inside a transaction, so each is split in two: a
``prepare_*`` that validates in one unit of work and returns a plan, and a ``*_code`` that
writes the plan in a second one once WeCom has answered (``siyu.acquisition.flows`` runs the
three steps for every entry point). Callback processing calls ``code_for_state``,
``render_welcome`` and ``on_contact_added`` (``siyu.acquisition.rotation``: a rotating code's
members under their daily cap). Field rules live in ``rules``, counts in ``reports``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from siyu.acquisition import rules, welcome
from siyu.acquisition.models import ChannelCode, CodeOwner
from siyu.acquisition.rotation import UPDATE_CONTACT_WAY as UPDATE_CONTACT_WAY
from siyu.acquisition.rotation import on_contact_added as on_contact_added
from siyu.acquisition.rotation import restore_rotations as restore_rotations
from siyu.acquisition.rotation import rotation_users as rotation_users
from siyu.acquisition.rotation import users_now
from siyu.acquisition.schemas import CodeCreate, CodeUpdate
from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.models import WeComCorpTag
from siyu.core.actor import Actor
from siyu.core.errors import Conflict, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.security import service as security
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import OrgUnit

WAY_TYPE_MULTI = 2  # always "several members": a code's members may change later
WAY_SCENE_QR = 2
REMARK_MAX = 30
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


# --- create, change, disable ---------------------------------------------------------------


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
    name = rules.check_name(db, data.name)
    state = (
        rules.check_state(db, data.state)
        if data.state is not None
        else rules.generate_state(code_id)
    )
    staff = rules.check_staff(db, actor, data.staff_userids)
    rules.check_rotation(staff, data.is_rotating, data.daily_cap_per_staff)
    rules.check_org_unit(db, actor, data.org_unit_id)
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
        tag_ids=rules.check_tags(data.tag_ids),
        skip_verify=data.skip_verify,
        account=account,
    )


def create_code(
    db: Session, actor: Actor, *, plan: CodePlan, config_id: str, qr_code: str, now: datetime
) -> ChannelCode:
    """Insert a code whose contact way WeCom has created (name and state are checked again)."""
    require(actor, Perm.ACQUISITION_WRITE)
    rules.check_name(db, plan.name)
    rules.check_state(db, plan.state)
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


def visible(actor: Actor, stmt: Select[_Row]) -> Select[_Row]:
    """Limit a select of codes to those the actor's org scope covers (all for HQ users)."""
    if actor.scope_path is None:
        return stmt
    return stmt.join(
        OrgUnit,
        (OrgUnit.tenant_id == ChannelCode.tenant_id) & (OrgUnit.id == ChannelCode.org_unit_id),
    ).where(OrgUnit.path.startswith(actor.scope_path, autoescape=True))


def get_code(db: Session, actor: Actor, code_id: uuid.UUID) -> ChannelCode:
    """Return a code the actor may see; another tenant's or out of scope is ``NotFound``."""
    require(actor, Perm.ACQUISITION_READ)
    code = db.scalar(visible(actor, select(ChannelCode).where(ChannelCode.id == code_id)))
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
        visible(
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
        changes["name"] = rules.check_name(db, data.name, except_id=code.id)
    if "owner_kind" in given and data.owner_kind is not None:
        changes["owner_kind"] = data.owner_kind
    if "org_unit_id" in given:
        rules.check_org_unit(db, actor, data.org_unit_id)
        changes["org_unit_id"] = data.org_unit_id
    if "owner_label" in given and data.owner_label is not None:
        changes["owner_label"] = data.owner_label.strip()
    if "staff_userids" in given and data.staff_userids is not None:
        changes["staff_userids"] = rules.check_staff(db, actor, data.staff_userids)
    if "is_rotating" in given and data.is_rotating is not None:
        changes["is_rotating"] = data.is_rotating
    if "daily_cap_per_staff" in given:
        changes["daily_cap_per_staff"] = data.daily_cap_per_staff
    if "welcome" in given:
        changes["welcome"] = welcome.validate_welcome(data.welcome)
    if "tag_ids" in given and data.tag_ids is not None:
        changes["tag_ids"] = rules.check_tags(data.tag_ids)
    if "skip_verify" in given and data.skip_verify is not None:
        changes["skip_verify"] = data.skip_verify
    staff = changes.get("staff_userids", code.staff_userids)
    rotating = changes.get("is_rotating", code.is_rotating)
    cap = changes.get("daily_cap_per_staff", code.daily_cap_per_staff)
    rules.check_rotation(staff, rotating, cap)
    changes = {k: v for k, v in changes.items() if getattr(code, k) != v}
    way_users = None
    if {"staff_userids", "is_rotating", "daily_cap_per_staff"} & changes.keys():
        preview = ChannelCode(
            id=code.id, staff_userids=staff, is_rotating=rotating, daily_cap_per_staff=cap
        )
        way_users = users_now(db, actor, preview, now=now)
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
        rules.check_name(db, plan.changes["name"], except_id=code.id)
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


# --- choices for forms ---------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """An option of a form field: the stored value and what a person reads."""

    value: str
    label: str


def staff_choices(db: Session, actor: Actor) -> list[Choice]:
    """Return the staff in the actor's scope who have a WeCom userid (code members)."""
    require(actor, Perm.ACQUISITION_READ)
    return [
        Choice(s.wecom_userid, f"{s.name} ({s.wecom_userid})")
        for s in tenancy.list_staff(db, actor)
        if s.wecom_userid
    ]


def tag_choices(db: Session, actor: Actor, account_id: uuid.UUID | None = None) -> list[Choice]:
    """Return the corp tags mirrored from WeCom (``wecom_corp_tag``, read-only), by group.

    Other tag ids may still be given: the mirror lags WeCom until the next tag sync.
    """
    require(actor, Perm.ACQUISITION_READ)
    stmt = select(WeComCorpTag).where(WeComCorpTag.is_deleted.is_(False))
    if account_id is not None:
        stmt = stmt.where(WeComCorpTag.account_id == account_id)
    tags = db.scalars(
        stmt.order_by(WeComCorpTag.group_name, WeComCorpTag.sort_order, WeComCorpTag.name)
    )
    return [Choice(t.tag_id, f"{t.group_name} / {t.name}") for t in tags]
