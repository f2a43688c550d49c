"""Login, sessions, API tokens, tenant switching for agency users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from siyu.core.clock import FixedClock
from siyu.core.db import Database, system_unit_of_work
from siyu.core.errors import AuthenticationFailed
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from tests.factories import PASSWORD, auth, make_world


def test_login_and_me(client: TestClient) -> None:
    w = make_world("auth")
    response = client.post(
        "/api/v1/auth/login", json={"username": "auth-admin", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"].startswith("sy_")
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
    assert me["role"] == "admin"
    assert me["tenant_id"] == str(w.tenant_id)
    assert "pii:read" in me["permissions"]


def test_wrong_password_is_a_clear_401(client: TestClient) -> None:
    make_world("auth2")
    for username in ("auth2-admin", "nobody"):
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "password": "wrong-pass"}
        )
        assert response.status_code == 401
        body = response.json()
        assert body["detail"] == "wrong username or password"
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/customers").status_code == 401
    bad = client.get("/api/v1/customers", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "hint" in bad.json()


def test_api_token_lifecycle(client: TestClient, database: Database) -> None:
    w = make_world("tokens")
    session = auth(w.users["admin"])
    created = client.post("/api/v1/tokens", headers=session, json={"name": "erp sync"})
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    token_headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/customers", headers=token_headers).status_code == 200
    listed = client.get("/api/v1/tokens", headers=session).json()
    assert all("token" not in t for t in listed)
    with database.session_factory() as s:
        from sqlalchemy import text

        hashes = s.execute(text("SELECT token_hash FROM api_token")).scalars().all()
    assert secret not in hashes
    revoked = client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=session)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    again = client.get("/api/v1/customers", headers=token_headers)
    assert again.status_code == 401
    assert "revoked" in again.json()["detail"]


def test_logout_and_expiry(client: TestClient) -> None:
    make_world("expiry")
    with system_unit_of_work(reason="test") as db:
        login = security.login(db, username="expiry-admin", password=PASSWORD, session_hours=1)
    headers = {"Authorization": f"Bearer {login.token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    later = FixedClock(datetime.now(UTC) + timedelta(hours=2))
    with (
        system_unit_of_work(reason="test") as db,
        pytest.raises(AuthenticationFailed, match="expired"),
    ):
        security.resolve_token(db, login.token, clock=later)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_agency_user_switches_between_its_tenants(client: TestClient) -> None:
    a = make_world("brand-a", phone_seed=7)
    b = make_world("brand-b", phone_seed=8)
    make_world("brand-c", phone_seed=9)
    with system_unit_of_work(reason="test agency") as db:
        agency = tenancy.create_agency(db, name="星河代运营")
        for t in (a, b):
            tenancy.link_agency(db, agency_id=agency.id, tenant_id=t.tenant_id)
        security.create_user(db, username="ag", password=PASSWORD, agency_id=agency.id)
    login = client.post("/api/v1/auth/login", json={"username": "ag", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    assert {t["slug"] for t in login["me"]["tenants"]} == {"brand-a", "brand-b"}
    assert login["me"]["role"] == "agency"
    first = login["me"]["tenant_id"]
    other = b.tenant_id if first == str(a.tenant_id) else a.tenant_id
    switched = client.post("/api/v1/me/tenant", headers=headers, json={"tenant_id": str(other)})
    assert switched.status_code == 200
    assert switched.json()["tenant_id"] == str(other)
    names = {c["name"] for c in client.get("/api/v1/customers", headers=headers).json()["items"]}
    assert len(names) == 3
    # a tenant the agency does not run is invisible
    from tests.factories import World  # noqa: F401 - type context

    with system_unit_of_work(reason="test") as db:
        c = tenancy.find_tenant_by_slug(db, "brand-c")
        assert c is not None
        c_id = c.id
    refused = client.post("/api/v1/me/tenant", headers=headers, json={"tenant_id": str(c_id)})
    assert refused.status_code == 404
