"""Channel accounts: register a WeCom app per tenant, keep its secrets, build its client.

Admins (``channels:manage``) add, change and disable accounts. Secrets are stored encrypted and
only ever returned masked. ``client_for`` and ``crypto_for`` turn an account into a WeCom
client and a callback crypto; clients of one process share the token cache and the per-corp
rate limiter, so every job and request of a corp stays under WeCom's limits together.
``find_callback_account`` routes an unauthenticated callback by account id alone (a system
session: the request names no tenant, its signature proves it).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels.models import ChannelAccount, ChannelKind
from siyu.channels.schemas import WeComConfig, WeComConfigUpdate
from siyu.channels.wecom.client import WeComClient
from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.ratelimit import ApiLimiter, RateLimits
from siyu.channels.wecom.transport import HttpClient, TokenCache
from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import system_unit_of_work
from siyu.core.errors import Conflict, FieldError, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.security import service as security
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy

CALLBACK_PATH = "/api/v1/channels/wecom/{account_id}/callback"

_tokens = TokenCache()
_limiters: dict[tuple[str, str], ApiLimiter] = {}
_limiters_guard = threading.Lock()
_http_overrides: dict[str, HttpClient] = {}


def _not_found(account_id: object) -> NotFound:
    return NotFound(
        f"channel account {account_id} not found",
        hint="list accounts with GET /api/v1/channel-accounts or `siyu wecom accounts`",
    )


def callback_path(account_id: uuid.UUID) -> str:
    """Return the path WeCom must call back, to be set in the app's 接收事件服务器 settings."""
    return CALLBACK_PATH.format(account_id=account_id)


def wecom_config(account: ChannelAccount) -> WeComConfig:
    """Return the decrypted configuration of a WeCom account."""
    return WeComConfig.model_validate(json.loads(account.config))


def _check_name_free(db: Session, name: str, *, except_id: uuid.UUID | None = None) -> None:
    other = db.scalar(select(ChannelAccount.id).where(ChannelAccount.name == name))
    if other is not None and other != except_id:
        raise Conflict(
            f"a channel account named {name!r} exists",
            hint="names are unique per tenant; pick another name",
            errors=[FieldError(field="name", reason="taken", value=name)],
        )


def create_wecom_account(
    db: Session, actor: Actor, *, name: str, config: WeComConfig, clock: Clock = SYSTEM_CLOCK
) -> ChannelAccount:
    """Register a WeCom app of the tenant's corp."""
    require(actor, Perm.CHANNELS_MANAGE)
    name = name.strip()
    _check_name_free(db, name)
    account = ChannelAccount(
        id=new_id(),
        kind=ChannelKind.WECOM,
        name=name,
        config=json.dumps(config.to_json()),
        is_active=True,
        sync_state={},
        created_at=clock.now(),
    )
    db.add(account)
    security.record_audit(
        db,
        actor,
        "channel_account.create",
        subject_type="channel_account",
        subject_id=account.id,
        detail={"name": name, "kind": ChannelKind.WECOM.value, "corp_id": config.corp_id},
    )
    db.flush()
    return account


def list_accounts(db: Session, actor: Actor) -> list[ChannelAccount]:
    """Return the tenant's channel accounts by name (any reader of acquisition may list)."""
    require(actor, Perm.ACQUISITION_READ)
    return list(db.scalars(select(ChannelAccount).order_by(ChannelAccount.name)))


def get_account(db: Session, actor: Actor, account_id: uuid.UUID) -> ChannelAccount:
    """Return an account of the actor's tenant; anything else is ``NotFound``."""
    require(actor, Perm.ACQUISITION_READ)
    account = db.get(ChannelAccount, (actor.tenant_id, account_id))
    if account is None:
        raise _not_found(account_id)
    return account


def find_account(db: Session, actor: Actor, name_or_id: str | None = None) -> ChannelAccount:
    """Return the account with this id or name, or the tenant's only WeCom account."""
    require(actor, Perm.ACQUISITION_READ)
    if name_or_id is None:
        accounts = list(
            db.scalars(select(ChannelAccount).where(ChannelAccount.kind == ChannelKind.WECOM))
        )
        if len(accounts) == 1:
            return accounts[0]
        raise InvalidInput(
            f"the tenant has {len(accounts)} WeCom accounts; say which one",
            hint="pass --account NAME (or account_id in the API); `siyu wecom accounts` lists them",
        )
    try:
        return get_account(db, actor, uuid.UUID(name_or_id))
    except ValueError:
        pass
    account = db.scalar(select(ChannelAccount).where(ChannelAccount.name == name_or_id.strip()))
    if account is None:
        raise _not_found(repr(name_or_id))
    return account


def update_wecom_account(
    db: Session,
    actor: Actor,
    account_id: uuid.UUID,
    *,
    name: str | None = None,
    is_active: bool | None = None,
    config: WeComConfigUpdate | None = None,
) -> ChannelAccount:
    """Rename, disable/enable, or change configuration; secrets not given are kept."""
    require(actor, Perm.CHANNELS_MANAGE)
    account = get_account(db, actor, account_id)
    changed: list[str] = []
    if name is not None and name.strip() != account.name:
        _check_name_free(db, name.strip(), except_id=account.id)
        account.name = name.strip()
        changed.append("name")
    if is_active is not None and is_active != account.is_active:
        account.is_active = is_active
        changed.append("is_active")
    if config is not None:
        current = wecom_config(account).to_json()
        patch = {
            key: value.get_secret_value() if hasattr(value, "get_secret_value") else value
            for key, value in config.model_dump(exclude_unset=True).items()
        }
        merged = WeComConfig.model_validate({**current, **patch})
        account.config = json.dumps(merged.to_json())
        changed.extend(f"config.{key}" for key in sorted(patch))
    if changed:
        security.record_audit(
            db,
            actor,
            "channel_account.update",
            subject_type="channel_account",
            subject_id=account.id,
            detail={"changed": changed},
        )
    db.flush()
    return account


def delete_account(db: Session, actor: Actor, account_id: uuid.UUID) -> None:
    """Delete an account and everything synced from it (relations, groups, codes, callbacks)."""
    require(actor, Perm.CHANNELS_MANAGE)
    account = get_account(db, actor, account_id)
    security.record_audit(
        db,
        actor,
        "channel_account.delete",
        subject_type="channel_account",
        subject_id=account.id,
        detail={"name": account.name},
    )
    db.delete(account)
    db.flush()


def mask(secret: str) -> str:
    """Show the last four characters of a secret at most."""
    return "****" + secret[-4:] if len(secret) > 8 else "****"


def register_http(base_url: str, http: HttpClient) -> None:
    """Send calls for ``base_url`` through ``http`` (tests and the demo hand in the fake)."""
    _http_overrides[base_url.rstrip("/")] = http


def unregister_http(base_url: str) -> None:
    _http_overrides.pop(base_url.rstrip("/"), None)


def _limiter(config: WeComConfig) -> ApiLimiter:
    with _limiters_guard:
        key = (config.base_url, config.corp_id)
        if key not in _limiters:
            _limiters[key] = ApiLimiter(RateLimits())
        return _limiters[key]


def client_for(account: ChannelAccount, *, clock: Clock = SYSTEM_CLOCK) -> WeComClient:
    """Return a client for a WeCom account (close it when done; it may own an HTTP client)."""
    config = wecom_config(account)
    return WeComClient(
        config.corp_id,
        config.secret,
        base_url=config.base_url,
        http=_http_overrides.get(config.base_url),
        clock=clock,
        tokens=_tokens,
        limiter=_limiter(config),
    )


def crypto_for(account: ChannelAccount) -> WeComCrypto:
    config = wecom_config(account)
    return WeComCrypto(config.callback_token, config.callback_aes_key, config.corp_id)


@dataclass(frozen=True)
class CallbackTarget:
    """What an incoming callback needs before its signature is checked."""

    tenant_id: uuid.UUID
    account_id: uuid.UUID
    account_name: str
    timezone: str
    crypto: WeComCrypto

    def actor(self) -> Actor:
        return channel_actor(self.tenant_id, self.timezone, self.account_name)


def find_callback_account(account_id: uuid.UUID) -> CallbackTarget | None:
    """Return the active WeCom account with this id in any tenant, or ``None``."""
    with system_unit_of_work(reason="route a WeCom callback to its tenant") as db:
        account = db.scalar(
            select(ChannelAccount).where(
                ChannelAccount.id == account_id,
                ChannelAccount.kind == ChannelKind.WECOM,
                ChannelAccount.is_active.is_(True),
            )
        )
        if account is None:
            return None
        tenant = tenancy.get_tenant(db, account.tenant_id)
        return CallbackTarget(
            tenant_id=account.tenant_id,
            account_id=account.id,
            account_name=account.name,
            timezone=tenant.timezone,
            crypto=crypto_for(account),
        )


def channel_actor(tenant_id: uuid.UUID, timezone: str, account_name: str) -> Actor:
    """Return the actor that callbacks, syncs and jobs of an account write as."""
    return Actor(
        tenant_id=tenant_id,
        user_id=None,
        role=Role.OPERATOR,
        timezone=timezone,
        label=f"wecom:{account_name}"[:200],
    )
