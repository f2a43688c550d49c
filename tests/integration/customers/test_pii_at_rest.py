"""Phones and emails are never stored in plain text; lookups go through the blind index."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from siyu.core.db import Database
from tests.factories import auth, make_world


def test_phone_is_not_stored_in_plain_text(client: TestClient, database: Database) -> None:
    w = make_world("pii")
    phone = w.phones["c1"]
    headers = auth(w.users["admin"])
    created = client.post(
        "/api/v1/customers",
        headers=headers,
        json={"name": "王芳", "phone": "+86 186-0000-1234", "email": "Wang.Fang@Example.com"},
    )
    assert created.status_code == 201, created.text
    with database.session_factory() as s:
        rows = s.execute(text("SELECT * FROM customer")).mappings().all()
        identities = s.execute(text("SELECT * FROM identity")).mappings().all()
    assert len(rows) == 5  # three customers, one merged duplicate, the new one
    assert {r["kind"] for r in identities} >= {"phone", "email"}
    dump = repr([dict(r) for r in rows]) + repr([dict(r) for r in identities])
    for plain in (phone, "18600001234", "wang.fang@example.com", phone[-8:]):
        assert plain not in dump
    for identity in identities:
        assert identity["value"].startswith("v1:k1:")
    for row in rows:
        if row["phone"] is not None:
            assert row["phone"].startswith("v1:k1:")
            assert len(row["phone_bidx"]) == 64
    # search by phone still finds the customer, in any common spelling
    for spelling in ("18600001234", "186 0000 1234", "+8618600001234"):
        found = client.get("/api/v1/customers", params={"q": spelling}, headers=headers).json()
        assert [i["name"] for i in found["items"]] == ["王芳"]


def test_same_phone_in_two_tenants_has_different_blind_indexes(database: Database) -> None:
    import uuid

    from siyu.security.pii import blind_index

    a, b = uuid.uuid4(), uuid.uuid4()
    assert blind_index(a, "phone", "13800001111") != blind_index(b, "phone", "13800001111")
    assert blind_index(a, "phone", "13800001111") == blind_index(a, "phone", "13800001111")


def test_bad_phone_gets_field_error(client: TestClient) -> None:
    w = make_world("badphone")
    response = client.post(
        "/api/v1/customers",
        headers=auth(w.users["admin"]),
        json={"name": "x", "phone": "138****1234"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "phone"
    assert "hint" in body
