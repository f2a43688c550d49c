"""The org tree: create, move (subtree paths follow), refuse cycles and non-empty deletes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import auth, make_world


def test_org_tree_crud(client: TestClient) -> None:
    w = make_world("org")
    h = auth(w.users["admin"])
    units = client.get("/api/v1/org-units", headers=h).json()
    assert [u["kind"] for u in units][:2] == ["hq", "region"]
    south = client.post(
        "/api/v1/org-units",
        headers=h,
        json={"parent_id": str(w.hq_id), "kind": "region", "name": "华南", "code": "S"},
    )
    assert south.status_code == 201, south.text
    south_id = south.json()["id"]
    # move store 2 (with its customer) under the new region
    moved = client.patch(
        f"/api/v1/org-units/{w.store_ids[1]}", headers=h, json={"parent_id": south_id}
    )
    assert moved.status_code == 200
    assert moved.json()["path"] == f"/{w.hq_id}/{south_id}/{w.store_ids[1]}/"
    # the east region manager no longer sees store 2's customer
    region = {
        c["id"]
        for c in client.get("/api/v1/customers", headers=auth(w.users["region_manager"])).json()[
            "items"
        ]
    }
    assert str(w.customers["c3"]) not in region
    assert len(region) == 2
    # cycles are refused with a hint
    cycle = client.patch(
        f"/api/v1/org-units/{w.region_id}", headers=h, json={"parent_id": str(w.store_ids[0])}
    )
    assert cycle.status_code == 422
    assert "descendant" in cycle.json()["detail"]
    # deleting a unit that still has staff and customers is a conflict, nothing deleted
    busy = client.delete(f"/api/v1/org-units/{w.store_ids[0]}", headers=h)
    assert busy.status_code == 409
    assert "move them" in busy.json()["hint"]
    assert client.get(f"/api/v1/org-units/{w.store_ids[0]}", headers=h).status_code == 200
    # an empty unit can go
    empty = client.post(
        "/api/v1/org-units",
        headers=h,
        json={"parent_id": south_id, "kind": "store", "name": "临时店"},
    ).json()
    assert client.delete(f"/api/v1/org-units/{empty['id']}", headers=h).status_code == 204
    dup = client.post(
        "/api/v1/org-units",
        headers=h,
        json={"parent_id": south_id, "kind": "store", "name": "x", "code": "S"},
    )
    assert dup.status_code == 409


def test_staff_rules(client: TestClient) -> None:
    w = make_world("staffr")
    h = auth(w.users["admin"])
    ok = client.post(
        "/api/v1/staff",
        headers=h,
        json={
            "name": "李雷",
            "org_unit_id": str(w.store_ids[0]),
            "role": "guide",
            "wecom_userid": "lilei",
        },
    )
    assert ok.status_code == 201, ok.text
    dup = client.post(
        "/api/v1/staff",
        headers=h,
        json={
            "name": "韩梅梅",
            "org_unit_id": str(w.store_ids[0]),
            "role": "guide",
            "wecom_userid": "lilei",
        },
    )
    assert dup.status_code == 409
    assert "lilei" in dup.json()["detail"]
    bad_role = client.post(
        "/api/v1/staff",
        headers=h,
        json={"name": "x", "org_unit_id": str(w.store_ids[0]), "role": "boss"},
    )
    assert bad_role.status_code == 422
    assert bad_role.json()["errors"][0]["field"] == "role"
    manager = auth(w.users["manager1"])
    seen = {s["name"] for s in client.get("/api/v1/staff", headers=manager).json()}
    assert seen == {"manager1", "guide1", "guide2", "李雷"}
