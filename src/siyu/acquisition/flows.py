"""Create, change and disable channel codes: validate, call WeCom, then write.

WeCom is never called inside a transaction. Each flow validates in one unit of work, calls
WeCom with the plan, and writes in a second unit of work; when that write fails after WeCom
acted, the flow undoes the WeCom side (deletes the new contact way, puts back the old member
list) before re-raising. API, CLI and console all call these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

from siyu.acquisition import service
from siyu.acquisition.schemas import CodeCreate, CodeRead, CodeUpdate
from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import errors as wecom_errors
from siyu.channels.wecom.client import WeComClient
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import unit_of_work
from siyu.core.errors import InvalidInput

log = structlog.get_logger(__name__)

INVALID_CONFIG_ID = 41044
# WeCom refusals caused by what the user asked for, with how to fix them (spec §3.3, §7).
_REFUSALS: dict[int, str] = {
    60111: "a staff member's WeCom userid does not exist in the corp; correct it on the staff "
    "record",
    41054: "a staff member is not activated in WeCom; ask them to activate their account",
    40098: "a staff member has not verified their real name in WeCom",
    84074: "a staff member may not add customers (customer contact is not enabled for them in "
    "the WeCom admin console)",
    41041: "a contact way takes at most 100 members",
    41045: "the corp reached WeCom's limit of 500,000 contact ways; disable unused codes",
    40058: "WeCom rejected a value (state ≤ 30 characters, remark ≤ 30 characters)",
}


@contextmanager
def _wecom(account: ChannelAccount, clock: Clock) -> Iterator[WeComClient]:
    """Yield a client; turn refusals caused by the input into ``InvalidInput``."""
    with channels.client_for(account, clock=clock) as client:
        try:
            yield client
        except wecom_errors.WeComApiError as exc:
            hint = _REFUSALS.get(exc.errcode)
            if hint is None:
                raise
            raise InvalidInput(
                f"WeCom refused the contact way (errcode {exc.errcode}: {exc.errmsg})", hint=hint
            ) from exc


def create_code(actor: Actor, data: CodeCreate, *, clock: Clock = SYSTEM_CLOCK) -> CodeRead:
    """Create a code: its contact way in WeCom, then its row."""
    with unit_of_work(actor) as db:
        plan = service.prepare_create(db, actor, data=data)
    with _wecom(plan.account, clock) as client:
        created = client.add_contact_way(
            type=service.WAY_TYPE_MULTI,
            scene=service.WAY_SCENE_QR,
            state=plan.state,
            user=plan.staff_userids,
            remark=plan.remark,
            skip_verify=plan.skip_verify,
        )
    try:
        with unit_of_work(actor) as db:
            code = service.create_code(
                db,
                actor,
                plan=plan,
                config_id=created.config_id,
                qr_code=created.qr_code,
                now=clock.now(),
            )
            return CodeRead.model_validate(code)
    except BaseException:
        _undo(plan.account, clock, lambda c: c.del_contact_way(created.config_id))
        raise


def update_code(
    actor: Actor, code_id: uuid.UUID, data: CodeUpdate, *, clock: Clock = SYSTEM_CLOCK
) -> CodeRead:
    """Change a code; members, name (the way's remark) and skip_verify are changed in WeCom."""
    with unit_of_work(actor) as db:
        plan = service.prepare_update(db, actor, code_id, data=data, now=clock.now())
    config_id = plan.config_id
    if plan.touches_way and config_id is not None:
        with _wecom(plan.account, clock) as client:
            previous = client.get_contact_way(config_id)
            client.update_contact_way(
                config_id,
                user=plan.way_users,
                remark=plan.way_remark,
                skip_verify=plan.way_skip_verify,
            )
    try:
        with unit_of_work(actor) as db:
            return CodeRead.model_validate(service.update_code(db, actor, plan=plan))
    except BaseException:
        if plan.touches_way and config_id is not None:
            _undo(
                plan.account,
                clock,
                lambda c: c.update_contact_way(
                    config_id,
                    user=previous.user,
                    remark=previous.remark,
                    skip_verify=previous.skip_verify,
                ),
            )
        raise


def disable_code(actor: Actor, code_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK) -> CodeRead:
    """Delete a code's contact way in WeCom and keep the code, inactive, for its history."""
    with unit_of_work(actor) as db:
        plan = service.prepare_disable(db, actor, code_id)
    if plan.config_id is not None:
        with _wecom(plan.account, clock) as client:
            try:
                client.del_contact_way(plan.config_id)
            except wecom_errors.WeComApiError as exc:
                if exc.errcode != INVALID_CONFIG_ID:  # already gone: nothing to delete
                    raise
    with unit_of_work(actor) as db:
        return CodeRead.model_validate(service.disable_code(db, actor, code_id))


def _undo(account: ChannelAccount, clock: Clock, action: Callable[[WeComClient], None]) -> None:
    """Best-effort compensation after a failed write; a failure here is logged, not raised."""
    try:
        with channels.client_for(account, clock=clock) as client:
            action(client)
    except Exception:
        log.exception("channel_code_undo_failed", account_id=str(account.id))
