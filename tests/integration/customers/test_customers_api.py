"""Customer list: search, keyset pagination, validation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import auth, make_world


def test_search_and_pagination(client: TestClient) -> None:
    w = make_world("cust")
    h = auth(w.users["admin"])
    for i in range(5):
        r = client.post(
            "/api/v1/customers",
            headers=h,
            json={"name": f"张{i}", "phone": f"1370000000{i}", "member_no": f"M{i:03d}"},
        )
        assert r.status_code == 201, r.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/customers", headers=h, params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8
    by_member = client.get("/api/v1/customers", headers=h, params={"q": "M003"}).json()["items"]
    assert [c["name"] for c in by_member] == ["张3"]
    by_name = client.get("/api/v1/customers", headers=h, params={"q": "张"}).json()["items"]
    assert len(by_name) == 5
    by_email = client.get("/api/v1/customers", headers=h, params={"q": "C1@example.com"}).json()
    assert [c["id"] for c in by_email["items"]] == [str(w.customers["c1"])]
    bad = client.get("/api/v1/customers", headers=h, params={"cursor": "garbage"})
    assert bad.status_code == 422
    assert "next_cursor" in bad.json()["hint"]


def test_update_customer(client: TestClient) -> None:
    w = make_world("custup")
    h = auth(w.users["admin"])
    cid = w.customers["c1"]
    r = client.patch(
        f"/api/v1/customers/{cid}", headers=h, json={"phone": "13900009999", "city": "杭州"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "13900009999"
    found = client.get("/api/v1/customers", headers=h, params={"q": "13900009999"}).json()["items"]
    assert [c["id"] for c in found] == [str(cid)]
    assert (
        client.get("/api/v1/customers", headers=h, params={"q": w.phones["c1"]}).json()["items"]
        == []
    )
    bad = client.patch(f"/api/v1/customers/{cid}", headers=h, json={"email": "not-an-email"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "email"
