"""Org data scope: guide → own customers, store → store, region → region's stores, HQ → all."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import auth, make_world


def _visible(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get("/api/v1/customers", headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def test_guide_cannot_read_customer_outside_scope(client: TestClient) -> None:
    w = make_world("scope")
    guide = auth(w.users["guide1"])
    own, same_store_other_guide, other_store = (
        w.customers["c1"],
        w.customers["c2"],
        w.customers["c3"],
    )
    assert client.get(f"/api/v1/customers/{own}", headers=guide).status_code == 200
    for cid in (same_store_other_guide, other_store):
        response = client.get(f"/api/v1/customers/{cid}", headers=guide)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert client.get(f"/api/v1/customers/{cid}/orders", headers=guide).status_code == 404
        assert (
            client.patch(f"/api/v1/customers/{cid}", headers=guide, json={"city": "x"}).status_code
            == 404
        )
    assert _visible(client, guide) == {str(own)}


def test_each_level_sees_its_subtree(client: TestClient) -> None:
    w = make_world("levels")
    c1, c2, c3 = (str(w.customers[k]) for k in ("c1", "c2", "c3"))
    assert _visible(client, auth(w.users["manager1"])) == {c1, c2}
    assert _visible(client, auth(w.users["region_manager"])) == {c1, c2, c3}
    assert _visible(client, auth(w.users["admin"])) == {c1, c2, c3}
    manager = auth(w.users["manager1"])
    assert client.get(f"/api/v1/customers/{c3}", headers=manager).status_code == 404


def test_guide_lacks_admin_permissions(client: TestClient) -> None:
    w = make_world("perm")
    guide = auth(w.users["guide1"])
    response = client.get("/api/v1/staff", headers=guide)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "forbidden"
    assert "hint" in body
    created = client.post(
        "/api/v1/customers", headers=guide, json={"name": "新客", "phone": "13700001111"}
    )
    assert created.status_code == 201, created.text
    # A guide's new customer is theirs, so they can see it.
    assert created.json()["owner_staff_id"] == str(w.staff["guide1"])


def test_masking_by_role(client: TestClient) -> None:
    w = make_world("mask")
    cid = w.customers["c1"]
    phone = w.phones["c1"]
    as_admin = client.get(f"/api/v1/customers/{cid}", headers=auth(w.users["admin"])).json()
    as_guide = client.get(f"/api/v1/customers/{cid}", headers=auth(w.users["guide1"])).json()
    assert as_admin["phone"] == phone
    assert as_guide["phone"] == f"{phone[:3]}****{phone[-4:]}"
    assert as_guide["email"] == "c***@example.com"
