"""Users, login, sessions, API tokens, actors and the audit log.

Logins and bearer tokens are looked up before a tenant is known, so those functions take a
system session (``system_unit_of_work``); everything else runs in the actor's tenant.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, bindparam, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from siyu.core.actor import Actor, Role
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from siyu.core.ids import new_id
from siyu.security.models import ApiToken, AppUser, AuditEntry, AuthSession
from siyu.security.passwords import DUMMY_HASH, hash_password, verify_password
from siyu.security.rbac import Perm, require
from siyu.tenancy.models import AgencyTenant, OrgUnit, Staff, Tenant

log = structlog.get_logger(__name__)

TOKEN_PREFIX = "sy_"  # noqa: S105 - a prefix, not a secret
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# --- users --------------------------------------------------------------------------------


def create_user(
    db: Session,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
    agency_id: uuid.UUID | None = None,
    locale: str | None = None,
) -> AppUser:
    """Create a login (system scope). Link it to tenants with staff rows or an agency."""
    username = username.strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise InvalidInput(
            f"username {username!r} is not valid", hint="use 1-100 characters without spaces"
        )
    if db.scalar(select(AppUser.id).where(AppUser.username == username)) is not None:
        raise Conflict(f"user {username!r} exists", hint="choose another username")
    user = AppUser(
        id=new_id(),
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        agency_id=agency_id,
        locale=locale,
    )
    db.add(user)
    db.flush()
    return user


def find_user(db: Session, username: str) -> AppUser | None:
    return db.scalar(select(AppUser).where(AppUser.username == username))


def set_password(db: Session, user: AppUser, password: str) -> None:
    user.password_hash = hash_password(password)
    db.flush()


def set_user_locale(db: Session, actor: Actor, locale: str) -> None:
    """Remember the user's console language."""
    if actor.user_id is None:
        return
    user = db.get(AppUser, actor.user_id)
    if user is not None:
        user.locale = locale
        db.flush()


# --- tenants a user may act in --------------------------------------------------------------


@dataclass(frozen=True)
class TenantAccess:
    tenant_id: uuid.UUID
    name: str
    slug: str
    role: Role


def accessible_tenants(db: Session, user: AppUser) -> list[TenantAccess]:
    """Return the tenants the user may switch to: staff memberships and agency tenants."""
    rows: dict[uuid.UUID, TenantAccess] = {}
    staff_rows = db.execute(
        select(Tenant, Staff.role)
        .join(Staff, Staff.tenant_id == Tenant.id)
        .where(Staff.user_id == user.id, Staff.is_active.is_(True), Tenant.is_active.is_(True))
    )
    for tenant, role in staff_rows:
        rows[tenant.id] = TenantAccess(tenant.id, tenant.name, tenant.slug, Role(role))
    if user.agency_id is not None:
        agency_rows = db.scalars(
            select(Tenant)
            .join(AgencyTenant, AgencyTenant.tenant_id == Tenant.id)
            .where(AgencyTenant.agency_id == user.agency_id, Tenant.is_active.is_(True))
        )
        for tenant in agency_rows:
            rows.setdefault(
                tenant.id, TenantAccess(tenant.id, tenant.name, tenant.slug, Role.AGENCY)
            )
    return sorted(rows.values(), key=lambda t: t.name)


def build_actor(db: Session, user: AppUser, tenant_id: uuid.UUID) -> Actor:
    """Return the actor for ``user`` in ``tenant_id``: role and org data scope.

    Admins and agency users see the whole tenant. Others see the subtree of their org unit (the
    whole tenant when that unit is the HQ); guides only the customers they serve.
    """
    tenant = db.get(Tenant, tenant_id)
    if tenant is None or not tenant.is_active:
        raise NotFound(f"tenant {tenant_id} not found")
    staff = db.scalar(
        select(Staff).where(
            Staff.tenant_id == tenant_id, Staff.user_id == user.id, Staff.is_active.is_(True)
        )
    )
    unit = db.get(OrgUnit, (tenant_id, staff.org_unit_id)) if staff is not None else None
    return _actor_of(db, user, tenant_id, tenant, staff, unit)


def _actor_of(
    db: Session,
    user: AppUser,
    tenant_id: uuid.UUID,
    tenant: Tenant | None,
    staff: Staff | None,
    unit: OrgUnit | None,
) -> Actor:
    """Build the actor from rows already loaded (the agency link is looked up only if needed)."""
    if tenant is None or not tenant.is_active:
        raise NotFound(f"tenant {tenant_id} not found")
    locale = user.locale or tenant.locale
    if staff is not None:
        if unit is None:
            raise NotFound(f"org unit of staff {staff.id} not found")
        role = Role(staff.role)
        scope: str | None = unit.path
        if role is Role.ADMIN or (unit.parent_id is None and role is not Role.GUIDE):
            scope = None
        return Actor(
            tenant_id=tenant_id,
            user_id=user.id,
            role=role,
            staff_id=staff.id,
            org_unit_id=unit.id,
            scope_path=scope,
            locale=locale,
            timezone=tenant.timezone,
            label=user.username,
        )
    link = db.get(AgencyTenant, (user.agency_id, tenant_id)) if user.agency_id else None
    if link is not None:
        return Actor(
            tenant_id=tenant_id,
            user_id=user.id,
            role=Role.AGENCY,
            agency_id=user.agency_id,
            locale=locale,
            timezone=tenant.timezone,
            label=user.username,
        )
    raise NotFound(f"tenant {tenant_id} not found")


# --- login and sessions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    token: str
    session_id: uuid.UUID
    actor: Actor
    user: AppUser
    expires_at: datetime


def login(
    db: Session,
    *,
    username: str,
    password: str,
    tenant_id: uuid.UUID | None = None,
    session_hours: int = 12,
    clock: Clock = SYSTEM_CLOCK,
) -> Login:
    """Check the password and open a session in ``tenant_id`` (or the user's first tenant)."""
    user = find_user(db, username.strip())
    if user is None or not user.is_active:
        verify_password(DUMMY_HASH, password)
        raise AuthenticationFailed(
            "wrong username or password", hint="check both; ask an admin to reset the password"
        )
    if not verify_password(user.password_hash, password):
        raise AuthenticationFailed(
            "wrong username or password", hint="check both; ask an admin to reset the password"
        )
    tenants = accessible_tenants(db, user)
    if not tenants:
        raise AuthenticationFailed(
            f"user {user.username!r} has no tenant to work in",
            hint="an admin must add this user as staff of a tenant, or link their agency",
        )
    if tenant_id is None:
        tenant_id = tenants[0].tenant_id
    elif tenant_id not in {t.tenant_id for t in tenants}:
        raise NotFound(f"tenant {tenant_id} not found")
    actor = build_actor(db, user, tenant_id)
    now = clock.now()
    token = _new_token()
    session = AuthSession(
        id=new_id(),
        user_id=user.id,
        token_hash=_hash_token(token),
        tenant_id=tenant_id,
        expires_at=now + timedelta(hours=session_hours),
    )
    db.add(session)
    user.last_login_at = now
    record_audit(db, actor, "auth.login", subject_type="session", subject_id=session.id)
    db.flush()
    return Login(
        token=token, session_id=session.id, actor=actor, user=user, expires_at=session.expires_at
    )


def logout(db: Session, token: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
    session = db.scalar(select(AuthSession).where(AuthSession.token_hash == _hash_token(token)))
    if session is not None and session.revoked_at is None:
        session.revoked_at = clock.now()
        db.flush()


def switch_tenant(
    db: Session, token: str, tenant_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK
) -> Actor:
    """Move a session to another tenant the user may act in."""
    session, user = _live_session(db, token, clock)
    actor = build_actor(db, user, tenant_id)
    session.tenant_id = tenant_id
    record_audit(db, actor, "auth.switch_tenant", subject_type="session", subject_id=session.id)
    db.flush()
    return actor


def _live_session(db: Session, token: str, clock: Clock) -> tuple[AuthSession, AppUser]:
    session = db.scalar(select(AuthSession).where(AuthSession.token_hash == _hash_token(token)))
    if session is None or session.revoked_at is not None or session.expires_at <= clock.now():
        raise AuthenticationFailed("session expired or signed out", hint="sign in again")
    user = db.get(AppUser, session.user_id)
    if user is None or not user.is_active:
        raise AuthenticationFailed("user disabled", hint="ask an admin to re-enable the user")
    return session, user


# An API token with everything its actor is built from (built once: statement construction
# costs as much as running it).
_API_TOKEN_GRANT = (
    select(ApiToken, AppUser, Tenant, Staff, OrgUnit)
    .outerjoin(AppUser, AppUser.id == ApiToken.user_id)
    .outerjoin(Tenant, Tenant.id == ApiToken.tenant_id)
    .outerjoin(
        Staff,
        and_(
            Staff.tenant_id == ApiToken.tenant_id,
            Staff.user_id == ApiToken.user_id,
            Staff.is_active.is_(True),
        ),
    )
    .outerjoin(OrgUnit, and_(OrgUnit.tenant_id == Staff.tenant_id, OrgUnit.id == Staff.org_unit_id))
    .where(ApiToken.token_hash == bindparam("token_hash"))
)


def resolve_token(db: Session, token: str, *, clock: Clock = SYSTEM_CLOCK) -> tuple[Actor, AppUser]:
    """Return the actor behind a bearer token: an API token or a session token.

    An API token is checked in one query that also loads its user, tenant, staff row and org
    unit: integrations send one per request, so this is on the hot path of every API call.
    """
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationFailed(
            "malformed bearer token", hint=f"tokens start with {TOKEN_PREFIX}"
        )
    now = clock.now()
    token_hash = _hash_token(token)
    found = db.execute(_API_TOKEN_GRANT, {"token_hash": token_hash}).first()
    if found is not None:
        api_token, user, tenant, staff, unit = found
        if api_token.revoked_at is not None or (
            api_token.expires_at is not None and api_token.expires_at <= now
        ):
            raise AuthenticationFailed(
                f"API token {api_token.prefix}… is revoked or expired", hint="create a new token"
            )
        if user is None or not user.is_active:
            raise AuthenticationFailed("the token's user is disabled")
        actor = _actor_of(db, user, api_token.tenant_id, tenant, staff, unit)
        if api_token.last_used_at is None or now - api_token.last_used_at > _LAST_USED_RESOLUTION:
            _touch(db, api_token, now)
        else:  # a touch is a change to the token: it would clear the cache at commit
            _GRANTS.put(token_hash, actor, api_token.expires_at)
        return actor, user
    session, user = _live_session(db, token, clock)
    return build_actor(db, user, session.tenant_id), user


def cached_actor(token: str, *, clock: Clock = SYSTEM_CLOCK) -> Actor | None:
    """The actor of an API token checked in the last few seconds, if it is still valid.

    Integrations send their token with every call; re-checking it each time costs a
    transaction and a five-table query, as much as a small batch of events. A checked token's
    actor is kept for ``GRANT_CACHE_SECONDS`` (never past the token's expiry). Changes to
    tokens, sessions, users, staff, org units, tenants or agency links clear the cache when
    they commit in this process; other processes see them within those seconds.
    """
    return _GRANTS.get(_hash_token(token), clock.now())


GRANT_CACHE_SECONDS = 5.0


class _GrantCache:
    """Actors by token hash, each until a monotonic deadline and the token's expiry."""

    def __init__(self, seconds: float, size: int) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[str, tuple[float, Actor, datetime | None]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str, now: datetime) -> Actor | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        deadline, actor, expires_at = entry
        if time.monotonic() >= deadline or (expires_at is not None and expires_at <= now):
            self._entries.pop(token_hash, None)
            return None
        return actor

    def put(self, token_hash: str, actor: Actor, expires_at: datetime | None) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()  # a burst of distinct tokens: start over
            self._entries[token_hash] = (time.monotonic() + self.seconds, actor, expires_at)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_GRANTS = _GrantCache(GRANT_CACHE_SECONDS, size=4096)
_GRANT_SOURCES = (ApiToken, AppUser, AuthSession, Staff, OrgUnit, Tenant, AgencyTenant)


@event.listens_for(Session, "before_flush")
def _note_grant_changes(session: Session, context: Any, instances: Any) -> None:
    if any(
        isinstance(obj, _GRANT_SOURCES)
        for changed in (session.new, session.dirty, session.deleted)
        for obj in changed
    ):
        session.info["grants_changed"] = True


@event.listens_for(Session, "after_commit")
def _forget_changed_grants(session: Session) -> None:
    if session.info.pop("grants_changed", False):
        _GRANTS.clear()


@event.listens_for(Session, "after_rollback")
def _keep_grants_on_rollback(session: Session) -> None:
    session.info.pop("grants_changed", None)


def _touch(db: Session, api_token: ApiToken, now: datetime) -> None:
    """Record when the token was last used; bookkeeping, so a busy SQLite may skip it once.

    SQLite refuses to turn this read transaction into a write one when another connection has
    written since it began ("database is locked", without waiting); the next request a moment
    later records the use instead of this one failing.
    """
    try:
        with db.begin_nested():
            api_token.last_used_at = now
    except OperationalError as exc:
        if db.get_bind().dialect.name != "sqlite":
            raise
        log.info("api_token_touch_skipped", token=api_token.prefix, error=str(exc.orig))


# --- API tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def create_api_token(
    db: Session,
    actor: Actor,
    *,
    name: str,
    expires_in_days: int | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> IssuedToken:
    """Create a token for the acting user in the acting tenant; the secret is shown once."""
    require(actor, Perm.TOKENS_MANAGE)
    if actor.user_id is None:
        raise InvalidInput("only a signed-in user can own API tokens")
    if expires_in_days is not None and expires_in_days < 1:
        raise InvalidInput(
            f"expires_in_days is {expires_in_days}", hint="use 1 or more, or omit for no expiry"
        )
    secret = _new_token()
    token = ApiToken(
        id=new_id(),
        user_id=actor.user_id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=_hash_token(secret),
        expires_at=clock.now() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.add(token)
    record_audit(db, actor, "token.create", subject_type="api_token", subject_id=token.id)
    db.flush()
    return IssuedToken(token=token, secret=secret)


def list_api_tokens(db: Session, actor: Actor) -> Sequence[ApiToken]:
    """Return the acting user's tokens (admins: every token of the tenant)."""
    require(actor, Perm.TOKENS_MANAGE)
    stmt = select(ApiToken).order_by(ApiToken.created_at.desc())
    if actor.role not in (Role.ADMIN, Role.AGENCY):
        stmt = stmt.where(ApiToken.user_id == actor.user_id)
    return list(db.scalars(stmt))


def get_api_token(db: Session, actor: Actor, token_id: uuid.UUID) -> ApiToken:
    require(actor, Perm.TOKENS_MANAGE)
    token = db.get(ApiToken, (actor.tenant_id, token_id))
    if token is None or (
        actor.role not in (Role.ADMIN, Role.AGENCY) and token.user_id != actor.user_id
    ):
        raise NotFound(f"API token {token_id} not found")
    return token


def revoke_api_token(
    db: Session, actor: Actor, token_id: uuid.UUID, *, clock: Clock = SYSTEM_CLOCK
) -> ApiToken:
    token = get_api_token(db, actor, token_id)
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        record_audit(db, actor, "token.revoke", subject_type="api_token", subject_id=token.id)
        db.flush()
    return token


# --- audit ------------------------------------------------------------------------------------


def record_audit(
    db: Session,
    actor: Actor,
    action: str,
    *,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an audit entry in the actor's tenant (other domains call this too)."""
    db.add(
        AuditEntry(
            tenant_id=actor.tenant_id,
            id=new_id(),
            actor_user_id=actor.user_id,
            actor_label=actor.label,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail=detail or {},
        )
    )


def list_audit(db: Session, actor: Actor, *, limit: int = 100) -> Sequence[AuditEntry]:
    require(actor, Perm.AUDIT_READ)
    return list(db.scalars(select(AuditEntry).order_by(AuditEntry.at.desc()).limit(limit)))
