"""An API token acts exactly as its user does after signing in: same role, scope and checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from siyu.core.clock import FixedClock
from siyu.core.db import Database, system_unit_of_work, unit_of_work
from siyu.core.errors import AuthenticationFailed, NotFound
from siyu.security import service as security
from siyu.security.models import ApiToken, AppUser
from siyu.tenancy import service as tenancy
from tests.factories import PASSWORD, make_world


def _login_actor(username: str):
    with system_unit_of_work(reason="test login") as db:
        return security.login(db, username=username, password=PASSWORD).actor


def _token_for(username: str, *, expires_in_days: int | None = None) -> str:
    actor = _login_actor(username)
    with unit_of_work(actor) as db:
        return security.create_api_token(
            db, actor, name=f"{username} sync", expires_in_days=expires_in_days
        ).secret


def _resolve(token: str, clock: FixedClock | None = None):
    with system_unit_of_work(reason="test resolve") as db:
        if clock is None:
            return security.resolve_token(db, token)
        return security.resolve_token(db, token, clock=clock)


def test_api_token_actor_equals_the_signed_in_actor(database: Database) -> None:
    w = make_world("tokact")
    for label in ("admin", "region_manager", "manager1"):
        username = w.users[label]
        actor, user = _resolve(_token_for(username))
        assert actor == _login_actor(username), label
        assert user.username == username
    manager, _ = _resolve(_token_for(w.users["manager1"]))
    assert manager.scope_path is not None  # a store manager sees the store, not the tenant
    assert manager.staff_id == w.staff["manager1"]


def test_api_token_of_an_agency_user(database: Database) -> None:
    w = make_world("tokag", phone_seed=3)
    with system_unit_of_work(reason="test agency") as db:
        agency = tenancy.create_agency(db, name="tokag agency")
        tenancy.link_agency(db, agency_id=agency.id, tenant_id=w.tenant_id)
        security.create_user(db, username="tokag-ag", password=PASSWORD, agency_id=agency.id)
    actor, _ = _resolve(_token_for("tokag-ag"))
    assert actor.role == "agency"
    assert actor.agency_id == agency.id
    assert actor == _login_actor("tokag-ag")


def test_api_token_refused_when_expired_disabled_or_staff_left(database: Database) -> None:
    w = make_world("tokno", phone_seed=4)
    expiring = _token_for(w.users["manager1"], expires_in_days=1)
    later = FixedClock(datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(AuthenticationFailed, match="revoked or expired"):
        _resolve(expiring, later)

    token = _token_for(w.users["region_manager"])
    with unit_of_work(w.admin) as db:
        tenancy.update_staff(db, w.admin, w.staff["region_manager"], is_active=False)
    with pytest.raises(NotFound, match="tenant"):
        _resolve(token)

    token = _token_for(w.users["manager1"])
    with system_unit_of_work(reason="test disable") as db:
        user = db.scalar(select(AppUser).where(AppUser.username == w.users["manager1"]))
        assert user is not None
        user.is_active = False
    with pytest.raises(AuthenticationFailed, match="disabled"):
        _resolve(token)


def test_api_token_use_is_recorded_once_a_minute(database: Database) -> None:
    w = make_world("tokuse", phone_seed=5)
    token = _token_for(w.users["admin"])
    start = datetime.now(UTC)

    def last_used() -> datetime | None:
        with system_unit_of_work(reason="test read") as db:
            row = db.scalar(select(ApiToken).where(ApiToken.name == f"{w.users['admin']} sync"))
            assert row is not None
            return row.last_used_at

    assert last_used() is None
    _resolve(token, FixedClock(start))
    assert last_used() == start
    _resolve(token, FixedClock(start + timedelta(seconds=30)))
    assert last_used() == start
    _resolve(token, FixedClock(start + timedelta(seconds=90)))
    assert last_used() == start + timedelta(seconds=90)
