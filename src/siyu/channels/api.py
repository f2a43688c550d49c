"""Channel account routes (admins) and the WeCom callback endpoint (signed by WeCom, no token)."""

from __future__ import annotations

import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response

from siyu.channels import service
from siyu.channels.models import ChannelAccount
from siyu.channels.schemas import (
    ChannelAccountRead,
    MaskedWeComConfig,
    WeComAccountCreate,
    WeComAccountUpdate,
    WeComCallbackRead,
)
from siyu.channels.wecom import inbox, jobs
from siyu.channels.wecom.callbacks import open_event, verify_url
from siyu.channels.wecom.errors import CallbackRejected
from siyu.channels.wecom.models import CallbackStatus
from siyu.core.db import unit_of_work
from siyu.core.errors import NotFound
from siyu.security.deps import CurrentActor

log = structlog.get_logger(__name__)
router = APIRouter(tags=["channel accounts"])

MAX_CALLBACK_BYTES = 64 * 1024  # an encrypted event is a few kilobytes


def account_read(account: ChannelAccount) -> ChannelAccountRead:
    """Return an account as the API shows it: secrets masked, callback path to give WeCom."""
    config = service.wecom_config(account)
    return ChannelAccountRead(
        id=account.id,
        kind=account.kind,
        name=account.name,
        is_active=account.is_active,
        config=MaskedWeComConfig(
            corp_id=config.corp_id,
            base_url=config.base_url,
            agent_id=config.agent_id,
            secret=service.mask(config.secret.get_secret_value()),
            callback_token=service.mask(config.callback_token.get_secret_value()),
            callback_aes_key=service.mask(config.callback_aes_key.get_secret_value()),
        ),
        callback_path=service.callback_path(account.id),
        last_callback_at=account.last_callback_at,
        last_synced_at=account.last_synced_at,
        last_reconciled_at=account.last_reconciled_at,
        sync_state=dict(account.sync_state or {}),
        created_at=account.created_at,
    )


@router.post("/channel-accounts", status_code=201, operation_id="create_channel_account")
def create_account(data: WeComAccountCreate, actor: CurrentActor) -> ChannelAccountRead:
    """Register a WeCom app (corp id, app secret, callback Token and EncodingAESKey).

    Paste the returned ``callback_path`` (after your public URL) into the app's
    接收事件服务器 settings in the WeCom admin console, with the same Token and EncodingAESKey.
    """
    with unit_of_work(actor) as db:
        return account_read(
            service.create_wecom_account(db, actor, name=data.name, config=data.config)
        )


@router.get("/channel-accounts", operation_id="list_channel_accounts")
def list_accounts(actor: CurrentActor) -> list[ChannelAccountRead]:
    """The tenant's channel accounts with masked secrets and their last callback and sync."""
    with unit_of_work(actor) as db:
        return [account_read(a) for a in service.list_accounts(db, actor)]


@router.get("/channel-accounts/{account_id}", operation_id="get_channel_account")
def get_account(account_id: uuid.UUID, actor: CurrentActor) -> ChannelAccountRead:
    with unit_of_work(actor) as db:
        return account_read(service.get_account(db, actor, account_id))


@router.patch("/channel-accounts/{account_id}", operation_id="update_channel_account")
def update_account(
    account_id: uuid.UUID, data: WeComAccountUpdate, actor: CurrentActor
) -> ChannelAccountRead:
    """Rename, disable (``is_active: false``: callbacks get 404) or change configuration.

    Secrets left out of ``config`` keep their stored values.
    """
    with unit_of_work(actor) as db:
        account = service.update_wecom_account(
            db, actor, account_id, name=data.name, is_active=data.is_active, config=data.config
        )
        return account_read(account)


@router.delete(
    "/channel-accounts/{account_id}", status_code=204, operation_id="delete_channel_account"
)
def delete_account(account_id: uuid.UUID, actor: CurrentActor) -> None:
    """Delete an account with everything synced from it (relations, groups, codes, callbacks)."""
    with unit_of_work(actor) as db:
        service.delete_account(db, actor, account_id)


@router.get(
    "/channel-accounts/{account_id}/callbacks", operation_id="list_channel_account_callbacks"
)
def list_callbacks(
    account_id: uuid.UUID,
    actor: CurrentActor,
    status: CallbackStatus | None = None,
    limit: int = Query(default=50, ge=1, le=500),
) -> list[WeComCallbackRead]:
    """The account's latest WeCom callbacks, newest first, with how processing went."""
    with unit_of_work(actor) as db:
        found = inbox.list_callbacks(db, actor, account_id=account_id, status=status, limit=limit)
        return [WeComCallbackRead.model_validate(c) for c in found]


@router.post(
    "/channel-accounts/{account_id}/callbacks/{callback_id}/retry",
    status_code=202,
    operation_id="retry_channel_account_callback",
)
def retry_callback(
    account_id: uuid.UUID, callback_id: uuid.UUID, actor: CurrentActor
) -> WeComCallbackRead:
    """Process a failed or ignored callback again (with fresh attempts)."""
    with unit_of_work(actor) as db:
        callback = inbox.reopen_callback(db, actor, account_id=account_id, callback_id=callback_id)
        read = WeComCallbackRead.model_validate(callback)
    jobs.queue_processing(actor.tenant_id, callback_id)
    return read


async def _raw_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_CALLBACK_BYTES:
        return b""
    return await request.body()


def _callback_target(account_id: uuid.UUID) -> service.CallbackTarget:
    target = service.find_callback_account(account_id)
    if target is None:
        raise NotFound(
            f"no active WeCom account {account_id}",
            hint="check the callback URL in the WeCom admin console against "
            "GET /api/v1/channel-accounts, and that the account is enabled",
        )
    return target


@router.get("/channels/wecom/{account_id}/callback", include_in_schema=False, response_model=None)
def verify_callback_url(account_id: uuid.UUID, request: Request) -> Response:
    """WeCom's URL verification: answer the decrypted ``echostr`` as bare text."""
    target = _callback_target(account_id)
    try:
        plain = verify_url(target.crypto, request.query_params)
    except CallbackRejected as exc:
        log.warning(
            "wecom_callback_rejected",
            kind="verify",
            account_id=str(account_id),
            local_code=exc.local_code,
        )
        return Response(status_code=400)
    return Response(content=plain.encode(), media_type="text/plain")


@router.post("/channels/wecom/{account_id}/callback", include_in_schema=False, response_model=None)
def receive_callback(
    account_id: uuid.UUID, request: Request, body: Annotated[bytes, Depends(_raw_body)]
) -> Response:
    """Verify, decrypt and store one event, queue its processing, answer an empty 200."""
    target = _callback_target(account_id)
    try:
        event = open_event(target.crypto, request.query_params, body)
    except CallbackRejected as exc:
        log.warning(
            "wecom_callback_rejected",
            kind="event",
            account_id=str(account_id),
            local_code=exc.local_code,
        )
        return Response(status_code=400)
    actor = target.actor()
    with unit_of_work(actor) as db:
        stored = inbox.store(db, actor, account_id=target.account_id, event=event)
    log.info(
        "wecom_callback_received",
        account_id=str(account_id),
        wecom_event=event.event,
        change_type=event.change_type,
        duplicate=not stored.is_new,
    )
    if stored.is_new:
        try:
            jobs.queue_processing(stored.tenant_id, stored.callback_id)
        except Exception:  # stored: the sweep processes it if queueing failed
            log.exception("wecom_callback_queue_failed", callback_id=str(stored.callback_id))
    return Response(status_code=200)
