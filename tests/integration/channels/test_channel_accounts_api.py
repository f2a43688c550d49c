"""Channel account routes: masked secrets, validation, changes, and tenant isolation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from siyu.channels.wecom.fake.config import DEFAULT_CALLBACK_AES_KEY, DEFAULT_SECRET
from siyu.core.db import Database
from tests.integration.channels.conftest import GUIDE1, Inbound, account_body, make_shop
from tests.integration.channels.test_wecom_inbound import make_code

BASE = "/api/v1/channel-accounts"


def test_create_list_get_update_delete(client: TestClient, database: Database) -> None:
    shop = make_shop()
    h = shop.headers
    created = client.post(BASE, json=account_body("门店企微"), headers=h)
    assert created.status_code == 201, created.text
    account = created.json()
    assert DEFAULT_SECRET not in created.text
    assert DEFAULT_CALLBACK_AES_KEY not in created.text
    assert account["config"]["secret"] == "****" + DEFAULT_SECRET[-4:]
    assert account["callback_path"] == f"/api/v1/channels/wecom/{account['id']}/callback"
    assert account["is_active"] is True
    assert account["last_callback_at"] is None

    taken = client.post(BASE, json=account_body("门店企微"), headers=h)
    assert taken.status_code == 409
    bad = client.post(BASE, json=account_body("other", callback_aes_key="short"), headers=h)
    assert bad.status_code == 422
    assert "EncodingAESKey" in bad.text

    assert [a["name"] for a in client.get(BASE, headers=h).json()] == ["门店企微"]
    one = client.get(f"{BASE}/{account['id']}", headers=h)
    assert one.json()["config"]["corp_id"] == account["config"]["corp_id"]

    changed = client.patch(
        f"{BASE}/{account['id']}",
        json={"name": "总部企微", "is_active": False, "config": {"agent_id": 1000002}},
        headers=h,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["is_active"], body["config"]["agent_id"]) == (
        "总部企微",
        False,
        1000002,
    )
    assert body["config"]["secret"] == account["config"]["secret"]  # kept

    assert client.delete(f"{BASE}/{account['id']}", headers=h).status_code == 204
    assert client.get(f"{BASE}/{account['id']}", headers=h).status_code == 404


def test_another_tenants_account_is_not_found(inbound: Inbound) -> None:
    other = make_shop("inbx")
    h = other.headers
    api, account = inbound.api, inbound.account_id
    assert api.get(BASE, headers=h).json() == []
    assert api.get(f"{BASE}/{account}", headers=h).status_code == 404
    assert api.patch(f"{BASE}/{account}", json={"name": "x"}, headers=h).status_code == 404
    assert api.delete(f"{BASE}/{account}", headers=h).status_code == 404
    assert api.get(f"{BASE}/{account}/callbacks", headers=h).status_code == 404
    retry = api.post(f"{BASE}/{account}/callbacks/{account}/retry", headers=h)
    assert retry.status_code == 404
    mine = api.get(f"{BASE}/{account}", headers=inbound.headers)
    assert mine.status_code == 200

    code = make_code(inbound, staff_userids=[GUIDE1], is_rotating=False)
    inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})
    (relation,) = api.get("/api/v1/contact-relations", headers=inbound.headers).json()
    assert relation["wecom_userid"] == GUIDE1
    assert relation["status"] == "active"
    customer = relation["customer_id"]
    assert api.get("/api/v1/contact-relations", headers=h).json() == []
    assert api.get(f"/api/v1/customers/{customer}/relations", headers=h).status_code == 404
    filtered = api.get(
        "/api/v1/contact-relations",
        params={"status": "deleted_by_customer", "account_id": str(account)},
        headers=inbound.headers,
    )
    assert filtered.json() == []


def test_unauthenticated_requests_are_refused(client: TestClient, database: Database) -> None:
    assert client.get(BASE).status_code == 401
    assert client.post(BASE, json=account_body()).status_code == 401
