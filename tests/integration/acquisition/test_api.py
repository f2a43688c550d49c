"""The channel-code REST API: routes, permissions, problem+json errors, tenant isolation."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from siyu.core.clock import SYSTEM_CLOCK
from tests.factories import auth
from tests.integration.acquisition.conftest import Corp, Shop, make_shop, new_customer, relate

BASE = "/api/v1/channel-codes"


def test_create_list_read_change_disable(client: TestClient, shop: Shop) -> None:
    headers = auth(shop.world.users["admin"])
    body = {
        "name": "Store 1 counter",
        "owner_kind": "store",
        "org_unit_id": str(shop.world.store_ids[0]),
        "staff_userids": [shop.uid("guide1"), shop.uid("guide2")],
        "is_rotating": True,
        "daily_cap_per_staff": 50,
        "welcome": {"text": "您好 {customer_name}"},
        "tag_ids": ["et_store1"],
    }
    created = client.post(BASE, json=body, headers=headers)
    assert created.status_code == 201, created.text
    code = created.json()
    assert code["state"].startswith("c_")
    assert code["qr_code"].startswith("https://")
    way = shop.corp.way(code["config_id"])
    assert way is not None
    assert way.user == body["staff_userids"]

    amy = new_customer(shop.admin, "Amy")
    relate(shop, uuid.UUID(code["id"]), amy, shop.uid("guide1"), SYSTEM_CLOCK.now())
    listed = client.get(BASE, headers=headers)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["id"] == code["id"]
    assert item["stats"]["adds"] == 1
    assert item["stats"]["new_customers"] == 1

    got = client.get(f"{BASE}/{code['id']}", headers=headers)
    assert got.json()["name"] == "Store 1 counter"

    stats = client.get(f"{BASE}/{code['id']}/stats", headers=headers)
    assert stats.status_code == 200, stats.text
    assert stats.json()["codes"][0]["adds"] == 1
    everything = client.get(f"{BASE}/stats?deletion_window_days=3", headers=headers).json()
    assert everything["totals"]["adds"] == 1
    assert everything["deletion_window_days"] == 3

    changed = client.patch(
        f"{BASE}/{code['id']}", json={"staff_userids": [shop.uid("guide3")]}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert way.user == [shop.uid("guide3")]

    disabled = client.delete(f"{BASE}/{code['id']}", headers=headers)
    assert disabled.status_code == 200
    assert disabled.json()["is_active"] is False
    assert shop.corp.way(code["config_id"]) is None
    assert client.get(BASE, headers=headers).json()["items"] == []
    assert len(client.get(f"{BASE}?include_inactive=true", headers=headers).json()["items"]) == 1


def test_errors_are_problem_json_with_hints(client: TestClient, shop: Shop) -> None:
    headers = auth(shop.world.users["admin"])
    base = {"owner_kind": "campaign", "staff_userids": [shop.uid("guide1")]}
    long_state = client.post(BASE, json={**base, "name": "A", "state": "s" * 31}, headers=headers)
    assert long_state.status_code == 422
    assert long_state.headers["content-type"].startswith("application/problem+json")
    assert "30" in long_state.json()["hint"]

    unknown = client.post(
        BASE, json={**base, "name": "B", "staff_userids": ["ghost"]}, headers=headers
    )
    assert unknown.status_code == 422
    assert "'ghost'" in unknown.json()["detail"]

    bad_welcome = client.post(
        BASE, json={**base, "name": "C", "welcome": {"text": "{nickname}"}}, headers=headers
    )
    assert bad_welcome.status_code == 422
    assert bad_welcome.json()["errors"][0]["field"] == "welcome.text"

    ok = client.post(BASE, json={**base, "name": "D", "state": "dup"}, headers=headers)
    assert ok.status_code == 201
    taken = client.post(BASE, json={**base, "name": "E", "state": "dup"}, headers=headers)
    assert taken.status_code == 409

    period = client.get(f"{BASE}/stats?since=2026-11-02&until=2026-11-01", headers=headers)
    assert period.status_code == 422


def test_readers_read_and_writers_write(client: TestClient, shop: Shop) -> None:
    admin = auth(shop.world.users["admin"])
    made = client.post(
        BASE,
        json={
            "name": "Store 1",
            "owner_kind": "store",
            "org_unit_id": str(shop.world.store_ids[0]),
            "staff_userids": [shop.uid("guide1")],
        },
        headers=admin,
    ).json()
    manager = auth(shop.world.users["manager1"])  # store manager: reads codes of their store
    assert client.get(f"{BASE}/{made['id']}", headers=manager).status_code == 200
    refused = client.patch(f"{BASE}/{made['id']}", json={"name": "x"}, headers=manager)
    assert refused.status_code == 403
    guide = auth(shop.world.users["guide1"])
    assert client.get(BASE, headers=guide).status_code == 403
    other_store = auth(shop.world.users["region_manager"])
    assert client.get(f"{BASE}/{made['id']}", headers=other_store).status_code == 200


def test_another_tenants_code_is_404(client: TestClient, shop: Shop, corp: Corp) -> None:
    code = shop.create(name="Mine")
    other = make_shop(corp, "acq2")
    headers = auth(other.world.users["admin"])
    for response in (
        client.get(f"{BASE}/{code.id}", headers=headers),
        client.get(f"{BASE}/{code.id}/stats", headers=headers),
        client.patch(f"{BASE}/{code.id}", json={"name": "x"}, headers=headers),
        client.delete(f"{BASE}/{code.id}", headers=headers),
    ):
        assert response.status_code == 404, response.text
    assert shop.corp.way(code.config_id) is not None
