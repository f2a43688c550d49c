"""Jobs of WeCom callbacks: process stored callbacks, and the outbox handlers they enqueue.

``process_callback`` (one callback, by ids) runs ``inbox.process`` and reschedules a failure
with backoff; ``wecom.callbacks.sweep`` runs every minute and picks up callbacks whose job was
lost and failed ones due a retry. ``wecom.welcome`` sends a welcome message with its code at
once (the outbox drops it once the code's 20 seconds passed); ``wecom.mark_tag`` marks a new
contact with the channel code's corp tags and notes them on the relation.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from huey import crontab

from siyu.channels import service as channels
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import errors as wecom_errors
from siyu.channels.wecom import inbox, reactions
from siyu.channels.wecom.schemas import Attachment, File, Image, Link, Miniprogram, Video
from siyu.contacts import service as contacts
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import unit_of_work
from siyu.core.errors import NotFound
from siyu.jobs import outbox
from siyu.jobs.queue import huey

log = structlog.get_logger(__name__)

# send_welcome_msg refusals that no retry can fix (spec §3.4): missing, expired, used codes,
# a customer already chatting, one who has not accepted the chat-archive notice
WELCOME_FINAL = frozenset({41049, 41050, 41051, 41053})
INVALID_PARAMETER = 40058
_ATTACHMENTS: dict[str, type[Attachment]] = {
    "image": Image,
    "link": Link,
    "miniprogram": Miniprogram,
    "video": Video,
    "file": File,
}


def queue_processing(tenant_id: uuid.UUID, callback_id: uuid.UUID) -> None:
    """Hand a stored callback to a worker (at once in immediate mode)."""
    process_callback(str(tenant_id), str(callback_id))


def run(tenant_id: uuid.UUID, callback_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Process a callback; schedule a retry of a failure while attempts remain."""
    done = inbox.process(tenant_id, callback_id, clock=clock)
    if done is not None and done.retry_in is not None and not huey.immediate:
        process_callback.schedule((str(tenant_id), str(callback_id)), delay=done.retry_in)


@huey.task(name="wecom.process_callback")  # type: ignore[untyped-decorator]  # huey has no hints
def process_callback(tenant_id: str, callback_id: str) -> None:
    run(uuid.UUID(tenant_id), uuid.UUID(callback_id))


def sweep(*, clock: Clock = SYSTEM_CLOCK) -> int:
    """Process every callback waiting for a lost or retried job; return how many were tried."""
    due = inbox.due_callbacks(clock.now())
    for tenant_id, callback_id in due:
        try:
            run(tenant_id, callback_id, clock=clock)
        except Exception:
            log.exception("wecom_callback_sweep_failed", callback_id=str(callback_id))
    return len(due)


@huey.periodic_task(crontab(minute="*"), name="wecom.callbacks.sweep")  # type: ignore[untyped-decorator]  # huey has no hints
def sweep_job() -> None:
    sweep()


def _account_for(call: outbox.OutboxCall) -> tuple[Actor, ChannelAccount]:
    """Return the account a message is for and the actor its writes use; ``Drop`` if gone."""
    account_id = uuid.UUID(str(call.payload["account_id"]))
    target = channels.find_callback_account(account_id)
    if target is None or target.tenant_id != call.tenant_id:
        raise outbox.Drop("the channel account is disabled or deleted")
    actor = target.actor()
    with unit_of_work(actor) as db:
        try:
            return actor, channels.get_account(db, actor, account_id)
        except NotFound as exc:
            raise outbox.Drop("the channel account is deleted") from exc


def attachments_of(wires: list[dict[str, Any]]) -> list[Attachment]:
    """Turn stored wire attachments (``{"msgtype": "link", "link": {...}}``) into models."""
    found: list[Attachment] = []
    for wire in wires:
        kind = str(wire.get("msgtype"))
        model = _ATTACHMENTS.get(kind)
        if model is None:
            raise outbox.Drop(f"unknown attachment type {kind!r}")
        found.append(model.model_validate(wire.get(kind) or {}))
    return found


@outbox.handler(reactions.WELCOME)
def send_welcome(call: outbox.OutboxCall) -> dict[str, Any]:
    """Send a welcome message with its code (valid 20 s and once)."""
    _, account = _account_for(call)
    text = call.payload.get("text")
    attachments = attachments_of(list(call.payload.get("attachments") or []))
    with channels.client_for(account) as client:
        try:
            client.send_welcome_msg(
                str(call.payload["welcome_code"]),
                text=str(text) if text else None,
                attachments=attachments,
            )
        except wecom_errors.RateLimited as exc:
            raise outbox.Retry(str(exc)) from exc
        except wecom_errors.WeComApiError as exc:
            if exc.errcode in WELCOME_FINAL:
                raise outbox.Drop(f"WeCom refused the welcome code: errcode {exc.errcode}") from exc
            raise
    return {"sent": True, "attachments": len(attachments)}


@outbox.handler(reactions.MARK_TAG)
def mark_tag(call: outbox.OutboxCall) -> dict[str, Any]:
    """Mark a contact with corp tags, then note them on the relation."""
    actor, account = _account_for(call)
    userid = str(call.payload["userid"])
    external_userid = str(call.payload["external_userid"])
    tags = [str(t) for t in call.payload.get("add_tag") or []]
    with channels.client_for(account) as client:
        try:
            client.mark_tag(userid, external_userid, add_tag=tags)
        except wecom_errors.RateLimited as exc:
            raise outbox.Retry(str(exc)) from exc
        except wecom_errors.NoRelationship as exc:
            raise outbox.Drop("the customer is no longer a contact of the member") from exc
        except wecom_errors.WeComApiError as exc:
            if exc.errcode == INVALID_PARAMETER:
                raise outbox.Drop(f"WeCom refused the tags {tags}: {exc.errmsg}") from exc
            raise
    with reactions.writing(actor) as db:
        contacts.add_relation_tags(
            db,
            actor,
            account_id=account.id,
            wecom_userid=userid,
            external_userid=external_userid,
            tag_ids=tags,
        )
    return {"tags": tags}
