"""API tokens checked in the last seconds are not checked again, but no change goes unseen.

A change made in this process (revoking a token, disabling its user, moving its staff) clears
the cache when it commits; a change made elsewhere (another server process, a script) shows
within ``GRANT_CACHE_SECONDS``; a token's expiry is honoured even while it is cached.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from siyu.core.clock import FixedClock, utcnow
from siyu.core.db import Database, system_unit_of_work, unit_of_work
from siyu.security import service as security
from siyu.security.models import ApiToken
from tests.factories import PASSWORD, make_world


def _token(username: str, *, expires_in_days: int | None = None) -> tuple[str, uuid.UUID]:
    with system_unit_of_work(reason="test login") as db:
        actor = security.login(db, username=username, password=PASSWORD).actor
    with unit_of_work(actor) as db:
        issued = security.create_api_token(
            db, actor, name="cache test", expires_in_days=expires_in_days
        )
        return issued.secret, issued.token.id


def _use(client: TestClient, token: str) -> int:
    """A call authenticated by ``current_actor`` (the cached path): 404 here means signed in."""
    response = client.get(
        "/api/v1/customers/00000000-0000-0000-0000-000000000000/events",
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code


def _cached_token(
    client: TestClient, username: str, *, expires_in_days: int | None = None
) -> tuple[str, uuid.UUID]:
    """A token used twice: checked and touched, then checked again and kept."""
    token, token_id = _token(username, expires_in_days=expires_in_days)
    assert _use(client, token) == 404  # checked against the database (and touched)
    assert _use(client, token) == 404  # checked again: the touch cleared the cache
    assert security.cached_actor(token) is not None
    return token, token_id


@pytest.fixture(autouse=True)
def _short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security._GRANTS, "seconds", 0.5)
    security._GRANTS.clear()


def test_a_checked_token_is_served_from_the_cache(client: TestClient, database: Database) -> None:
    w = make_world("gcache")
    token, _ = _cached_token(client, w.users["admin"])
    assert security.cached_actor(token) == security.cached_actor(token)
    assert _use(client, token) == 404


def test_revoking_in_this_process_takes_effect_at_once(
    client: TestClient, database: Database
) -> None:
    w = make_world("gcrev", phone_seed=2)
    token, token_id = _cached_token(client, w.users["admin"])
    with unit_of_work(w.admin) as db:
        security.revoke_api_token(db, w.admin, token_id)
    assert security.cached_actor(token) is None
    assert _use(client, token) == 401


def test_disabling_the_user_in_this_process_takes_effect_at_once(
    client: TestClient, database: Database
) -> None:
    w = make_world("gcdis", phone_seed=3)
    token, _ = _cached_token(client, w.users["manager1"])
    with system_unit_of_work(reason="test disable") as db:
        user = security.find_user(db, w.users["manager1"])
        assert user is not None
        user.is_active = False
    assert _use(client, token) == 401


def test_a_change_made_elsewhere_shows_within_the_window(
    client: TestClient, database: Database
) -> None:
    w = make_world("gcelse", phone_seed=4)
    token, token_id = _cached_token(client, w.users["admin"])
    with system_unit_of_work(reason="another process revokes") as db:
        # a Core statement, as another process's change: nothing in this process notices it
        db.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=utcnow()))
    assert _use(client, token) == 404  # still inside the window
    time.sleep(0.6)  # the window (0.5 s here) has passed
    assert _use(client, token) == 401


def test_expiry_is_honoured_while_cached(client: TestClient, database: Database) -> None:
    w = make_world("gcexp", phone_seed=5)
    token, _ = _cached_token(client, w.users["admin"], expires_in_days=1)
    later = FixedClock(utcnow() + timedelta(days=1, minutes=1))
    assert security.cached_actor(token, clock=later) is None
