"""Orders: integer fen, refunds netted, uniqueness per (source, external id), scoped reads."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import auth, make_world


def test_order_detail_and_customer_summary(client: TestClient) -> None:
    w = make_world("ord")
    h = auth(w.users["admin"])
    detail = client.get(f"/api/v1/orders/{w.order_id}", headers=h).json()
    assert detail["status"] == "partially_refunded"
    assert (detail["paid_fen"], detail["refunded_fen"], detail["net_fen"]) == (12900, 2900, 10000)
    assert detail["lines"][0]["amount_fen"] == 12900
    created = client.post(
        "/api/v1/orders",
        headers=h,
        json={
            "customer_id": str(w.customers["c1"]),
            "source": "pos",
            "external_id": "POS-1",
            "paid_fen": 5000,
            "refunded_fen": 5000,
            "paid_at": "2026-06-01T20:15:00+08:00",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "refunded"
    assert created.json()["paid_at"].startswith("2026-06-01T12:15:00")
    summary = client.get(f"/api/v1/customers/{w.customers['c1']}/order-summary", headers=h).json()
    assert summary == {
        "order_count": 2,
        "paid_fen": 17900,
        "refunded_fen": 7900,
        "net_fen": 10000,
        "first_paid_at": summary["first_paid_at"],
        "last_paid_at": summary["last_paid_at"],
    }
    listed = client.get(f"/api/v1/customers/{w.customers['c1']}/orders", headers=h).json()
    assert [o["source"] for o in listed] == ["pos", "tmall"]


def test_bad_orders_are_refused_clearly(client: TestClient) -> None:
    w = make_world("ordbad")
    h = auth(w.users["admin"])
    base = {
        "customer_id": str(w.customers["c1"]),
        "source": "tmall",
        "external_id": f"{w.slug}-T1",
        "paid_fen": 100,
        "paid_at": "2026-06-01T12:00:00Z",
    }
    dup = client.post("/api/v1/orders", headers=h, json=base)
    assert dup.status_code == 409
    assert "exists" in dup.json()["detail"]
    over = client.post(
        "/api/v1/orders", headers=h, json={**base, "external_id": "T2", "refunded_fen": 101}
    )
    assert over.status_code == 422
    assert "cannot exceed" in over.json()["detail"]
    naive = client.post(
        "/api/v1/orders",
        headers=h,
        json={**base, "external_id": "T3", "paid_at": "2026-06-01T12:00"},
    )
    assert naive.status_code == 422
    assert "timezone" in naive.json()["detail"]
    floaty = client.post(
        "/api/v1/orders", headers=h, json={**base, "external_id": "T4", "paid_fen": 1.5}
    )
    assert floaty.status_code == 422
    assert floaty.json()["errors"][0]["field"] == "paid_fen"


def test_guide_sees_orders_of_own_customers_only(client: TestClient) -> None:
    w = make_world("ordscope")
    assert (
        client.get(f"/api/v1/orders/{w.order_id}", headers=auth(w.users["guide1"])).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/orders/{w.order_id}", headers=auth(w.users["guide2"])).status_code
        == 404
    )
