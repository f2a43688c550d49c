"""POST /customers/batch: OneID resolution per customer, profile rules, bridging merges."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import World, auth, make_world


def post(client: TestClient, w: World, body: dict[str, Any]) -> Any:
    response = client.post("/api/v1/customers/batch", headers=auth(w.users["admin"]), json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_create_then_match_with_overwrite_and_rejections(client: TestClient) -> None:
    w = make_world("upc")
    h = auth(w.users["admin"])
    body = {
        "source": "crm",
        "customers": [
            {
                "member_no": "M-001",
                "phone": "+86 137-0000-1111",
                "name": "韩梅梅",
                "gender": "female",
                "city": "杭州",
                "store_code": "upc-S2",
                "staff_code": "upc_guide3",
            },
            {"name": "no keys at all"},
            {"member_no": "M-002", "phone": "138****1234"},
            {"member_no": "M-003", "store_code": "nowhere"},
            {"member_no": "M-004", "nickname": "typo"},
            {"keys": [{"kind": "openid", "value": "o-1"}]},
        ],
    }
    first = post(client, w, body)
    assert (first["received"], first["created"], first["matched"]) == (6, 1, 0)
    (made,) = first["results"]
    assert (made["index"], made["outcome"], made["merged_ids"]) == (0, "created", [])
    assert made["updated_fields"] == [
        "city",
        "gender",
        "member_no",
        "name",
        "org_unit_id",
        "owner_staff_id",
        "phone",
    ]
    rejected = {r["index"]: r for r in first["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5]
    assert "no key to identify" in rejected[1]["reason"]
    assert rejected[2]["errors"][0]["field"] == "phone"
    assert rejected[3]["errors"][0]["field"] == "store_code"
    assert rejected[4]["errors"][0]["field"] == "nickname"
    assert rejected[5]["errors"][0]["field"] == "keys.0"
    assert "namespace" in rejected[5]["reason"]

    customer = client.get(f"/api/v1/customers/{made['customer_id']}", headers=h).json()
    assert (customer["name"], customer["phone"], customer["member_no"]) == (
        "韩梅梅",
        "13700001111",
        "M-001",
    )
    assert (customer["org_unit_id"], customer["owner_staff_id"]) == (
        str(w.store_ids[1]),
        str(w.staff["guide3"]),
    )
    identities = client.get(f"/api/v1/customers/{made['customer_id']}/identities", headers=h).json()
    assert {(i["kind"], i["source"]) for i in identities} == {
        ("member_no", "crm"),
        ("phone", "crm"),
    }

    # the same payload again: matched, nothing changes
    again = post(client, w, {"source": "crm", "customers": body["customers"][:1]})
    assert again["results"][0] | {"customer_id": None} == {
        "index": 0,
        "customer_id": None,
        "outcome": "matched",
        "merged_ids": [],
        "updated_fields": [],
        "junk_keys": [],
    }
    assert again["results"][0]["customer_id"] == made["customer_id"]

    # the member system is authoritative for what it sends; unsent fields stay
    renamed = post(client, w, {"customers": [{"member_no": "M-001", "name": "韩梅"}]})
    assert renamed["results"][0]["updated_fields"] == ["name"]
    gaps = post(
        client,
        w,
        {
            "update_mode": "fill_gaps",
            "customers": [{"member_no": "M-001", "name": "Meimei", "province": "浙江"}],
        },
    )
    assert gaps["results"][0]["updated_fields"] == ["province"]
    customer = client.get(f"/api/v1/customers/{made['customer_id']}", headers=h).json()
    assert (customer["name"], customer["province"], customer["city"]) == ("韩梅", "浙江", "杭州")


def test_a_bridging_key_merges_two_customers(client: TestClient) -> None:
    w = make_world("upm")
    h = auth(w.users["admin"])
    # c1 is known by phone (registered by hand); a member record arrives with a unionid only
    member = post(
        client,
        w,
        {"customers": [{"member_no": "VIP-7", "keys": [{"kind": "unionid", "value": "u-777"}]}]},
    )
    member_id = member["results"][0]["customer_id"]
    assert member_id != str(w.customers["c1"])
    # the CRM now knows both the member number and c1's phone: the same person
    bridged = post(
        client,
        w,
        {"customers": [{"member_no": "VIP-7", "phone": w.phones["c1"], "city": "苏州"}]},
    )
    (result,) = bridged["results"]
    assert result["outcome"] == "merged"
    assert bridged["merged"] == 1
    # the oldest customer survives: c1 was registered first
    assert result["customer_id"] == str(w.customers["c1"])
    assert result["merged_ids"] == [member_id]
    assert "city" in result["updated_fields"]
    gone = client.get(f"/api/v1/customers/{member_id}", headers=h)
    assert gone.status_code == 404
    assert str(w.customers["c1"]) in gone.json()["detail"]
    kinds = {
        i["kind"]
        for i in client.get(f"/api/v1/customers/{w.customers['c1']}/identities", headers=h).json()
    }
    assert {"phone", "email", "member_no", "unionid"} <= kinds
    merges = client.get(f"/api/v1/customers/{w.customers['c1']}/merges", headers=h).json()
    assert any(m["merged_id"] == member_id and m["method"] == "deterministic" for m in merges)


def test_junk_only_customers_and_conflicts_are_rejected_alone(client: TestClient) -> None:
    w = make_world("upj")
    result = post(
        client,
        w,
        {
            "customers": [
                {"phone": "13800138000", "name": "placeholder"},
                {"member_no": "OK-1", "phone": "13800138000"},
            ]
        },
    )
    assert [r["index"] for r in result["rejected"]] == [0]
    assert "junk" in result["rejected"][0]["reason"]
    (ok,) = result["results"]
    assert ok["junk_keys"] == ["phone"]
    assert "phone" not in ok["updated_fields"]
    assert result["created"] == 1
    h = auth(w.users["admin"])
    found = client.get("/api/v1/customers", params={"q": "OK-1"}, headers=h).json()["items"]
    assert [c["phone"] for c in found] == [None]
    assert (
        client.get("/api/v1/customers", params={"q": "placeholder"}, headers=h).json()["items"]
        == []
    )


def test_guides_upsert_into_their_own_book_and_batches_are_bounded(client: TestClient) -> None:
    w = make_world("upq")
    guide = client.post(
        "/api/v1/customers/batch",
        headers=auth(w.users["guide1"]),
        json={"customers": [{"member_no": "G-1", "name": "到店新客"}]},
    )
    assert guide.status_code == 200, guide.text
    made = guide.json()["results"][0]
    shown = client.get(
        f"/api/v1/customers/{made['customer_id']}", headers=auth(w.users["admin"])
    ).json()
    assert shown["owner_staff_id"] == str(w.staff["guide1"])
    assert shown["org_unit_id"] == str(w.store_ids[0])
    too_many = client.post(
        "/api/v1/customers/batch",
        headers=auth(w.users["admin"]),
        json={"customers": [{"member_no": str(i)} for i in range(1001)]},
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "customers"
