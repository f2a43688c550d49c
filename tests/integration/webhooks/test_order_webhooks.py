"""Signed inbound order webhooks: endpoint management, signatures, replays, rotation, refunds."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from siyu.core.db import Database
from tests.factories import World, auth, make_world, signed


def delivery(*orders: dict[str, Any]) -> bytes:
    return json.dumps({"orders": list(orders)}, ensure_ascii=False).encode()


def pos_order(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "keys": [{"kind": "member_no", "value": "VIP-1"}],
        "receiver_name": "赵敏",
        "paid_fen": 8_800,
        "paid_at": "2026-06-01T10:00:00+08:00",
        **fields,
    }


def hook_url(w: World, endpoint_id: uuid.UUID | None = None) -> str:
    return f"/api/v1/hooks/orders/{endpoint_id or w.webhook_id}"


def send(
    client: TestClient, w: World, body: bytes, *, secret: str | None = None, **kwargs: Any
) -> Any:
    headers = signed(secret or w.webhook_secret, body, **kwargs)
    return client.post(hook_url(w), content=body, headers=headers)


def test_endpoints_are_managed_by_admins_and_secrets_shown_once(
    client: TestClient, database: Database
) -> None:
    w = make_world("whm")
    h = auth(w.users["admin"])
    created = client.post(
        "/api/v1/order-webhooks", headers=h, json={"name": " 小程序商城 ", "source": "miniprogram"}
    )
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["name"] == "小程序商城"
    assert made["secret"].startswith("whsec_")
    assert made["secret"].startswith(made["secret_prefix"])
    assert made["path"] == f"/api/v1/hooks/orders/{made['id']}"
    shown = client.get(f"/api/v1/order-webhooks/{made['id']}", headers=h).json()
    assert "secret" not in shown
    assert shown["is_active"] is True
    assert shown["created_by"] == w.users["admin"]
    listed = client.get("/api/v1/order-webhooks", headers=h).json()
    assert [e["name"] for e in listed] == ["POS", "小程序商城"]
    generic = client.post(
        "/api/v1/order-webhooks", headers=h, json={"name": "ERP", "source": "generic"}
    )
    assert generic.json()["source"] == "other"
    dup = client.post("/api/v1/order-webhooks", headers=h, json={"name": "POS", "source": "pos"})
    assert dup.status_code == 409
    bad = client.post("/api/v1/order-webhooks", headers=h, json={"name": "X", "source": "ebay"})
    assert bad.status_code == 422
    # the secret is stored encrypted
    with database.session_factory() as s:
        stored = s.execute(
            text("SELECT secret FROM order_webhook WHERE name = :name"), {"name": "小程序商城"}
        ).scalar_one()
    assert stored.startswith("v1:k1:")
    assert made["secret"] not in stored
    # store managers and guides cannot manage endpoints
    manager = client.get("/api/v1/order-webhooks", headers=auth(w.users["manager1"]))
    assert manager.status_code == 403
    audit = client.get("/api/v1/audit", headers=h).json()
    assert "order_webhook.create" in {a["action"] for a in audit}
    deleted = client.delete(f"/api/v1/order-webhooks/{made['id']}", headers=h)
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/order-webhooks/{made['id']}", headers=h).status_code == 404


def test_a_signed_delivery_writes_orders_and_is_logged(client: TestClient) -> None:
    w = make_world("whd")
    h = auth(w.users["admin"])
    body = delivery(
        pos_order("P-1", store_code="whd-S1", staff_code="whd_guide2"),
        pos_order("P-2", source="tmall"),
        pos_order("P-3", paid_at="yesterday"),
    )
    response = send(client, w, body)
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert (receipt["accepted"], receipt["inserted"], receipt["customers_created"]) == (1, 1, 1)
    assert receipt["duplicate"] is False
    assert [r["index"] for r in receipt["rejected"]] == [1, 2]
    assert "this endpoint receives pos orders" in receipt["rejected"][0]["reason"]
    member = client.get("/api/v1/customers", params={"q": "VIP-1"}, headers=h).json()["items"]
    assert [c["name"] for c in member] == ["赵敏"]
    (stored,) = client.get(f"/api/v1/customers/{member[0]['id']}/orders", headers=h).json()
    assert (stored["source"], stored["external_id"]) == ("pos", "P-1")
    assert (stored["org_unit_id"], stored["staff_id"]) == (
        str(w.store_ids[0]),
        str(w.staff["guide2"]),
    )
    endpoint = client.get(f"/api/v1/order-webhooks/{w.webhook_id}", headers=h).json()
    assert endpoint["last_received_at"] is not None
    (logged,) = client.get(f"/api/v1/order-webhooks/{w.webhook_id}/deliveries", headers=h).json()
    assert (logged["order_count"], logged["inserted"], logged["rejected"]) == (3, 1, 2)
    # a delivery records the same events as a file import
    events = client.get(f"/api/v1/customers/{member[0]['id']}/events", headers=h).json()
    assert {"customer.created", "order.paid"} <= {e["type"] for e in events}


def test_bad_missing_and_stale_signatures_are_refused(client: TestClient) -> None:
    w = make_world("whs")
    body = delivery(pos_order("S-1"))
    cases = {
        "wrong secret": signed("whsec_not-the-secret", body),
        "tampered body": signed(w.webhook_secret, body.replace(b"8800", b"8")),
        "stale": signed(w.webhook_secret, body, at=int(time.time()) - 6 * 60),
        "early": signed(w.webhook_secret, body, at=int(time.time()) + 6 * 60),
    }
    hints = {}
    for case, headers in cases.items():
        response = client.post(hook_url(w), content=body, headers=headers)
        assert response.status_code == 401, case
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["code"] == "authentication_failed"
        hints[case] = problem["detail"] + " " + problem.get("hint", "")
    assert "does not match this endpoint's secret" in hints["wrong secret"]
    assert "exact bytes you send" in hints["tampered body"]
    assert "behind siyu's clock" in hints["stale"]
    assert "NTP" in hints["stale"]
    assert "ahead of siyu's clock" in hints["early"]
    missing = client.post(hook_url(w), content=body, headers={"content-type": "application/json"})
    assert missing.status_code == 401
    assert "missing X-Siyu-Timestamp" in missing.json()["detail"]
    malformed = signed(w.webhook_secret, body)
    malformed["X-Siyu-Signature"] = "md5=abc"
    response = client.post(hook_url(w), content=body, headers=malformed)
    assert response.status_code == 401
    assert "sha256=" in response.json()["detail"]
    # a bearer token is no substitute for the signature
    bearer = auth(w.users["admin"]) | {"content-type": "application/json"}
    assert client.post(hook_url(w), content=body, headers=bearer).status_code == 401
    h = auth(w.users["admin"])
    assert client.get("/api/v1/customers", params={"q": "VIP-1"}, headers=h).json()["items"] == []
    assert client.get(f"/api/v1/order-webhooks/{w.webhook_id}/deliveries", headers=h).json() == []


def test_unknown_and_disabled_endpoints_are_not_found(client: TestClient) -> None:
    w = make_world("whx")
    h = auth(w.users["admin"])
    body = delivery(pos_order("X-1"))
    unknown = client.post(hook_url(w, uuid.uuid4()), content=body, headers=signed("s", body))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    off = client.patch(
        f"/api/v1/order-webhooks/{w.webhook_id}", headers=h, json={"is_active": False}
    )
    assert off.json()["is_active"] is False
    assert send(client, w, body).status_code == 404
    client.patch(f"/api/v1/order-webhooks/{w.webhook_id}", headers=h, json={"is_active": True})
    assert send(client, w, body).status_code == 200
    not_json = b"orders=1"
    response = send(client, w, not_json)
    assert response.status_code == 422
    assert "not an order batch" in response.json()["detail"]


def test_replayed_deliveries_are_answered_not_redone(client: TestClient) -> None:
    w = make_world("whr")
    h = auth(w.users["admin"])
    body = delivery(pos_order("R-1"))
    first = send(client, w, body, delivery="evt-001")
    assert first.json()["inserted"] == 1
    again = send(client, w, body, delivery="evt-001")
    assert again.status_code == 200
    assert again.json() | {"duplicate": False} == first.json()
    assert again.json()["duplicate"] is True
    reused = send(client, w, delivery(pos_order("R-2")), delivery="evt-001")
    assert reused.status_code == 409
    assert "different body" in reused.json()["detail"]
    # without a delivery id a re-send is still harmless: orders are idempotent
    assert send(client, w, body).json()["unchanged"] == 1
    member = client.get("/api/v1/customers", params={"q": "VIP-1"}, headers=h).json()["items"]
    orders = client.get(f"/api/v1/customers/{member[0]['id']}/orders", headers=h).json()
    assert [o["external_id"] for o in orders] == ["R-1"]
    events = client.get(f"/api/v1/customers/{member[0]['id']}/events", headers=h).json()
    assert [e["type"] for e in events].count("order.paid") == 1
    logged = client.get(f"/api/v1/order-webhooks/{w.webhook_id}/deliveries", headers=h).json()
    assert [d["delivery_id"] for d in logged] == [None, "evt-001"]


def test_a_refund_arrives_by_webhook(client: TestClient) -> None:
    w = make_world("whf")
    h = auth(w.users["admin"])
    assert send(client, w, delivery(pos_order("F-1"))).json()["inserted"] == 1
    refund = pos_order("F-1", refunded_fen=3_800, refunded_at="2026-06-02T10:00:00+08:00")
    receipt = send(client, w, delivery(refund)).json()
    assert (receipt["updated"], receipt["inserted"]) == (1, 0)
    member = client.get("/api/v1/customers", params={"q": "VIP-1"}, headers=h).json()["items"]
    (stored,) = client.get(f"/api/v1/customers/{member[0]['id']}/orders", headers=h).json()
    assert (stored["status"], stored["net_fen"]) == ("partially_refunded", 5_000)
    events = client.get(f"/api/v1/customers/{member[0]['id']}/events", headers=h).json()
    assert [e["type"] for e in events if e["type"].startswith("order.")] == [
        "order.partially_refunded",
        "order.paid",
    ]


def test_rotation_with_and_without_a_grace_period(client: TestClient) -> None:
    w = make_world("wht")
    h = auth(w.users["admin"])
    old = w.webhook_secret
    url = f"/api/v1/order-webhooks/{w.webhook_id}/rotate-secret"
    graced = client.post(url, headers=h, json={"keep_previous_hours": 24})
    assert graced.status_code == 200, graced.text
    new = graced.json()["secret"]
    assert new != old
    assert graced.json()["previous_secret_expires_at"] is not None
    body = delivery(pos_order("T-1"))
    assert send(client, w, body, secret=old).status_code == 200
    assert send(client, w, body, secret=new).status_code == 200
    # a sender mid-switch may send both signatures
    stamp = str(int(time.time()))
    both = signed(new, body, at=int(stamp))
    both["X-Siyu-Signature"] = (
        signed("whsec_wrong", body, at=int(stamp))["X-Siyu-Signature"]
        + ", "
        + both["X-Siyu-Signature"]
    )
    assert client.post(hook_url(w), content=body, headers=both).status_code == 200
    at_once = client.post(url, headers=h)
    newest = at_once.json()["secret"]
    assert at_once.json()["previous_secret_expires_at"] is None
    assert send(client, w, body, secret=new).status_code == 401
    assert send(client, w, body, secret=newest).status_code == 200
    too_long = client.post(url, headers=h, json={"keep_previous_hours": 169})
    assert too_long.status_code == 422
