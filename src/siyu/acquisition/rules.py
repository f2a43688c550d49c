"""The rules a channel code's fields follow, checked before WeCom is asked for anything."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.acquisition.models import ChannelCode
from siyu.acquisition.schemas import STATE_MAX
from siyu.core.actor import Actor
from siyu.core.errors import Conflict, FieldError, InvalidInput
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import OrgUnit, Staff

TAG_ID_MAX = 64
_STATE = re.compile(r"^[\w\-.:]+$")


def generate_state(code_id: uuid.UUID) -> str:
    """Return ``c_`` and the id in base32: unique by construction, 28 characters."""
    return "c_" + base64.b32encode(code_id.bytes).decode().rstrip("=").lower()


def check_state(db: Session, state: str) -> str:
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


def check_name(db: Session, name: str, *, except_id: uuid.UUID | None = None) -> str:
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


def check_staff(db: Session, actor: Actor, userids: Sequence[str]) -> list[str]:
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


def check_rotation(staff: Sequence[str], is_rotating: bool, cap: int | None) -> None:
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


def check_tags(tag_ids: Sequence[str]) -> list[str]:
    cleaned = list(dict.fromkeys(t.strip() for t in tag_ids))
    bad = [t for t in cleaned if not t or len(t) > TAG_ID_MAX]
    if bad:
        raise InvalidInput(
            "tag ids must be 1 to 64 characters",
            hint="use the corp tag ids from `siyu wecom tags` (or WeCom's get_corp_tag_list)",
            errors=[FieldError(field="tag_ids", reason="invalid", value=t) for t in bad],
        )
    return cleaned


def check_org_unit(db: Session, actor: Actor, org_unit_id: uuid.UUID | None) -> None:
    if org_unit_id is None:
        if actor.scope_path is not None:
            raise InvalidInput(
                "codes made by a store or region user need an org unit",
                hint="set org_unit_id to a unit within your scope",
            )
        return
    tenancy.get_org_unit(db, actor, org_unit_id)
