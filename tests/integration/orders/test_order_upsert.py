"""POST /orders/batch: per-order checks, idempotent writes through the import path, refunds."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import World, auth, make_world


def order(external_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": external_id,
        "keys": [{"kind": "phone", "value": "+86 186-0000-2222"}],
        "paid_fen": 25_900,
        "paid_at": "2026-06-01T20:15:00+08:00",
    }
    return body | fields


def post(client: TestClient, w: World, body: dict[str, Any], user: str = "admin") -> Any:
    response = client.post("/api/v1/orders/batch", headers=auth(w.users[user]), json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_valid_orders_are_written_and_bad_ones_listed(client: TestClient) -> None:
    w = make_world("upo")
    body = {
        "source": "pos",
        "orders": [
            order(
                "R-1",
                receiver_name="李雷",
                province="上海",
                city="上海市",
                store_code="upo-S1",
                staff_code="upo_guide1",
                lines=[
                    {"sku": "BEAN-1", "title": "Beans", "quantity": 2, "unit_price_fen": 9_900},
                    {"title": "Mug", "unit_price_fen": 6_100},
                ],
            ),
            order("R-2", paid_at="2026-06-01T20:15:00"),
            order("R-3", paid_fen=12.5, refunded_fen=-1),
            order("R-4", keys=[{"kind": "phone", "value": "138****1234"}]),
            order("R-5", store_code="nowhere"),
            order("R-1"),
            order("R-6", customer_id=str(w.customers["c2"]), keys=[]),
            "not an order",
        ],
    }
    result = post(client, w, body)
    assert (result["received"], result["accepted"]) == (8, 2)
    assert (result["inserted"], result["updated"], result["unchanged"]) == (2, 0, 0)
    assert (result["customers_created"], result["customers_matched"]) == (1, 1)
    rejected = {r["index"]: r for r in result["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 7]
    assert rejected[1]["external_id"] == "R-2"
    assert rejected[1]["errors"][0]["field"] == "paid_at"
    assert "timezone offset" in rejected[1]["reason"]
    assert {e["field"] for e in rejected[2]["errors"]} == {"paid_fen", "refunded_fen"}
    assert rejected[3]["errors"][0]["field"] == "keys.0"
    assert "mainland China mobile" in rejected[3]["reason"]
    assert rejected[4]["errors"] == [
        {
            "field": "store_code",
            "reason": "no store has code 'nowhere'; store codes are the org units' codes",
            "value": "nowhere",
        }
    ]
    assert "also item 0 of this batch" in rejected[5]["reason"]
    assert rejected[7]["external_id"] is None

    h = auth(w.users["admin"])
    buyers = client.get("/api/v1/customers", params={"q": "18600002222"}, headers=h).json()
    assert [c["name"] for c in buyers["items"]] == ["李雷"]
    buyer = buyers["items"][0]
    assert (buyer["province"], buyer["city"]) == ("上海", "上海市")
    orders = client.get(f"/api/v1/customers/{buyer['id']}/orders", headers=h).json()
    assert [(o["external_id"], o["source"], o["status"]) for o in orders] == [
        ("R-1", "pos", "paid")
    ]
    assert orders[0]["org_unit_id"] == str(w.store_ids[0])
    assert orders[0]["staff_id"] == str(w.staff["guide1"])
    assert orders[0]["paid_at"].startswith("2026-06-01T12:15:00")
    detail = client.get(f"/api/v1/orders/{orders[0]['id']}", headers=h).json()
    assert [(line["sku"], line["quantity"], line["amount_fen"]) for line in detail["lines"]] == [
        ("BEAN-1", 2, 19_800),
        ("", 1, 6_100),
    ]
    # customer_id: the order joins that customer (through one of its keys)
    c2_orders = client.get(f"/api/v1/customers/{w.customers['c2']}/orders", headers=h).json()
    assert [o["external_id"] for o in c2_orders] == ["R-6"]


def test_resending_changes_nothing_and_a_refund_updates_the_order(client: TestClient) -> None:
    w = make_world("upr")
    h = auth(w.users["admin"])
    keys = [{"kind": "buyer", "value": "tb_9"}, {"kind": "phone", "value": "18600002222"}]
    paid = {"source": "tmall", "orders": [order("T-9", keys=keys)]}
    first = post(client, w, paid)
    assert (first["inserted"], first["customers_created"]) == (1, 1)
    again = post(client, w, paid)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 1)
    assert again["customers_created"] == 0

    refunded = {
        "source": "tmall",
        "orders": [
            order(
                "T-9",
                keys=[{"kind": "buyer", "value": "tb_9", "namespace": "tmall"}],
                status="refunded",
                refunded_at="2026-06-03T09:00:00+08:00",
            )
        ],
    }
    result = post(client, w, refunded)
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 1, 0)
    assert post(client, w, refunded)["unchanged"] == 1

    found = client.get("/api/v1/customers", headers=h).json()["items"]
    buyer_id = next(c["id"] for c in found if c["phone"] == "18600002222")
    (stored,) = client.get(f"/api/v1/customers/{buyer_id}/orders", headers=h).json()
    assert (stored["status"], stored["refunded_fen"], stored["net_fen"]) == ("refunded", 25_900, 0)
    assert stored["refunded_at"].startswith("2026-06-03T01:00:00")
    summary = client.get(f"/api/v1/customers/{buyer_id}/order-summary", headers=h).json()
    assert (summary["paid_fen"], summary["net_fen"]) == (25_900, 0)
    events = client.get(f"/api/v1/customers/{buyer_id}/events", headers=h).json()
    refund_events = [e for e in events if e["type"] == "order.refunded"]
    assert len(refund_events) == 1
    assert refund_events[0]["data"]["previous_status"] == "paid"
    assert refund_events[0]["data"]["refunded_fen"] == 25_900
    assert [e["type"] for e in events].count("order.paid") == 1


def test_partial_refund_and_contradictions(client: TestClient) -> None:
    w = make_world("upp")
    result = post(
        client,
        w,
        {
            "source": "jd",
            "orders": [
                order("J-1", refunded_fen=900),
                order("J-2", status="paid", refunded_fen=900),
                order("J-3", refunded_fen=30_000),
                order("J-4", status="cancelled"),
                order("J-5", status="cancelled", paid_fen=0),
                order("J-6", refunded_at="2026-06-02T00:00:00Z"),
                order("J-7", source="pos", keys=[{"kind": "buyer", "value": "jd_7"}]),
                order("J-8", keys=[{"kind": "openid", "value": "o1", "namespace": "wx1"}]),
            ],
        },
    )
    assert (result["accepted"], result["inserted"]) == (2, 2)
    reasons = {r["external_id"]: r["reason"] for r in result["rejected"]}
    assert "contradicts the amounts" in reasons["J-2"]
    assert "cannot exceed what was paid" in reasons["J-3"]
    assert "never paid" in reasons["J-4"]
    assert "refunded_at without a refund" in reasons["J-6"]
    assert "buyer ids are platform ids" in reasons["J-7"]
    assert "cannot name their buyer by openid" in reasons["J-8"]


def test_batch_limits_and_permissions(client: TestClient) -> None:
    w = make_world("upl")
    h = auth(w.users["admin"])
    too_many = {"source": "pos", "orders": [order(f"X-{i}") for i in range(1001)]}
    response = client.post("/api/v1/orders/batch", headers=h, json=too_many)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "orders"
    no_source = post(client, w, {"orders": [order("X-1")]})
    assert "no source" in no_source["rejected"][0]["reason"]
    guide = client.post(
        "/api/v1/orders/batch", headers=auth(w.users["guide1"]), json={"orders": [order("X")]}
    )
    assert guide.status_code == 403
