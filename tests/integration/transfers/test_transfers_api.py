"""Transfer API rules: validation with per-field errors, permissions, tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.core.db import unit_of_work
from siyu.tenancy import service as tenancy
from tests.factories import auth, make_world
from tests.integration.transfers.corp import Shop, batch_of, make_account


def start(client: TestClient, shop: Shop, label: str = "admin", **body: Any) -> Any:
    data = {"kind": "in_service", "handover_userid": shop.uid("guide1"), **body}
    return client.post("/api/v1/transfers", headers=shop.headers(label), json=data)


def problem(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def synced(shop: Shop) -> list[str]:
    customers = shop.corp.seed(shop.uid("guide1"), 2)
    shop.sync("guide1")
    return customers


def test_receivers_must_be_other_active_staff(
    client: TestClient, shop: Shop, synced: list[str]
) -> None:
    same = problem(start(client, shop, receivers=[shop.uid("guide1")]))
    assert same["errors"] == [
        {"field": "receivers[0]", "reason": "is the handover member; pick someone else",
         "value": shop.uid("guide1")}
    ]  # fmt: skip
    assert "GET /api/v1/staff" in same["hint"]
    unknown = problem(start(client, shop, receivers=[shop.uid("guide2"), "nobody"]))
    assert [e["field"] for e in unknown["errors"]] == ["receivers[1]"]
    assert "nobody" in unknown["detail"]
    with unit_of_work(shop.admin) as db:
        tenancy.update_staff(db, shop.admin, shop.world.staff["guide3"], is_active=False)
    inactive = problem(start(client, shop, receivers=[shop.uid("guide3")]))
    assert "inactive" in inactive["errors"][0]["reason"]
    empty = problem(start(client, shop, receivers=[]))
    assert empty["code"] == "invalid_input"


def test_chosen_customers_need_a_relation_with_the_handover_member(
    client: TestClient, shop: Shop, synced: list[str]
) -> None:
    stranger = shop.world.customers["c3"]  # a customer guide1 has no WeCom relation with
    answer = problem(
        start(
            client,
            shop,
            receivers=[shop.uid("guide2")],
            customer_ids=[str(stranger)],
        )
    )
    assert answer["errors"][0]["field"] == "customer_ids[0]"
    assert answer["errors"][0]["value"] == str(stranger)
    assert "no active WeCom relation" in answer["errors"][0]["reason"]
    assert "sync contacts" in answer["hint"]
    assert client.get("/api/v1/transfers", headers=shop.headers()).json()["items"] == []


def test_resigned_needs_a_member_who_left_and_no_message(
    client: TestClient, shop: Shop, synced: list[str]
) -> None:
    not_left = problem(start(client, shop, kind="resigned", receivers=[shop.uid("guide2")]))
    assert not_left["errors"][0]["field"] == "handover_userid"
    assert "in_service" in not_left["hint"]
    message = start(
        client,
        shop,
        kind="resigned",
        receivers=[shop.uid("guide2")],
        transfer_success_msg="hi",
    )
    assert "in_service transfers only" in problem(message)["detail"]
    too_long = start(client, shop, receivers=[shop.uid("guide2")], transfer_success_msg="字" * 201)
    assert problem(too_long)["code"] == "invalid_input"
    nothing = problem(start(client, shop, handover_userid="tr_nobody", receivers=["tr_guide2"]))
    assert "no customers" in nothing["detail"]


def test_guides_read_but_cannot_start_transfers(
    client: TestClient, shop: Shop, synced: list[str]
) -> None:
    denied = start(client, shop, "guide2", receivers=[shop.uid("guide3")])
    assert problem(denied, 403)["code"] == "forbidden"
    made = start(client, shop, receivers=[shop.uid("guide2")])
    assert made.status_code == 201
    batch_id = made.json()["id"]
    seen = client.get(f"/api/v1/transfers/{batch_id}", headers=shop.headers("guide2"))
    assert seen.status_code == 200
    refresh = client.post(f"/api/v1/transfers/{batch_id}/refresh", headers=shop.headers("guide2"))
    assert refresh.status_code == 403


def test_another_tenants_transfer_is_not_found(
    client: TestClient, shop: Shop, synced: list[str]
) -> None:
    made = start(client, shop, receivers=[shop.uid("guide2")])
    batch_id = made.json()["id"]
    other = make_world("tr2", phone_seed=32)
    make_account(other.admin)
    h = auth(other.users["admin"])
    assert problem(client.get(f"/api/v1/transfers/{batch_id}", headers=h), 404)
    assert problem(client.post(f"/api/v1/transfers/{batch_id}/refresh", headers=h), 404)
    retry = client.post(
        f"/api/v1/transfers/{batch_id}/retry", headers=h, json={"receivers": ["tr2_guide2"]}
    )
    assert problem(retry, 404)["code"] == "not_found"
    assert client.get("/api/v1/transfers", headers=h).json()["items"] == []
    # tenant B cannot hand over tenant A's customers either: they have no relation there
    stolen = client.post(
        "/api/v1/transfers",
        headers=h,
        json={
            "kind": "in_service",
            "handover_userid": shop.uid("guide1"),
            "receivers": ["tr2_guide2"],
            "customer_ids": [made.json()["items"][0]["customer_id"]],
        },
    )
    assert problem(stolen)["errors"][0]["field"] == "customer_ids[0]"
    theirs = batch_of(other)  # the object the generic isolation sweep uses
    assert client.get(f"/api/v1/transfers/{theirs}", headers=h).json()["counts"]["refused"] == 1
    assert problem(client.get(f"/api/v1/transfers/{theirs}", headers=shop.headers()), 404)
