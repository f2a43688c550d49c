"""POST /events parses its body in one pass: the same 422 problems, the same documented schema."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import auth, make_world


def test_bad_bodies_are_422_problems_naming_the_field(client: TestClient) -> None:
    w = make_world("evbody")
    h = {**auth(w.users["admin"]), "Content-Type": "application/json"}
    broken = client.post("/api/v1/events", headers=h, content=b'{"events": [')
    assert broken.status_code == 422
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["code"] == "invalid_input"
    assert "JSON" in broken.json()["detail"]
    wrong = client.post(
        "/api/v1/events",
        headers=h,
        json={"events": [{"type": "page.viewed", "idempotency_key": "k", "occurred_at": "soon"}]},
    )
    assert wrong.status_code == 422
    fields = [e["field"] for e in wrong.json()["errors"]]
    assert fields == ["events.0.occurred_at"]
    missing = client.post("/api/v1/events", headers=h, json={})
    assert [e["field"] for e in missing.json()["errors"]] == ["events"]
    # the token is checked first: strangers learn nothing about the body
    stranger = client.post("/api/v1/events", content=b"not json")
    assert stranger.status_code == 401
    fine = client.post(
        "/api/v1/events",
        headers=h,
        json={
            "events": [
                {
                    "type": "page.viewed",
                    "idempotency_key": "body-1",
                    "occurred_at": "2026-11-01T10:00:00+08:00",
                    "customer_id": str(w.customers["c1"]),
                }
            ]
        },
    )
    assert fine.status_code == 200, fine.text
    assert fine.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_the_body_schema_is_documented_without_dangling_references(api_app: FastAPI) -> None:
    op = api_app.openapi()["paths"]["/api/v1/events"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert op["requestBody"]["required"] is True
    assert schema["required"] == ["events"]
    event = schema["properties"]["events"]["items"]
    assert {"type", "idempotency_key", "occurred_at", "keys"} <= set(event["properties"])
    assert "$ref" not in str(schema)
