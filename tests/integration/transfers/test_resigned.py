"""Acceptance 5: a leaver's customers all reach a final state, refusals and limits included."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.db import Database, unit_of_work
from siyu.events.models import Event
from siyu.groups import service as groups
from siyu.transfers.models import FINAL_STATUSES
from tests.integration.transfers.corp import DAY, Shop


def items_by_key(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["subject_key"]: i for i in detail["items"]}


def test_a_leavers_customers_all_reach_a_final_state(
    client: TestClient, shop: Shop, database: Database
) -> None:
    corp, h = shop.corp, shop.headers()
    leaver, g2, g3 = shop.uid("guide1"), shop.uid("guide2"), shop.uid("guide3")
    customers = corp.seed(leaver, 10)
    synced = shop.sync("guide1")
    assert set(synced) == set(customers)
    corp.do(f"members/{leaver}/resign")
    # guide3 can take four more customers: the fifth sent to them hits the limit at once
    corp.do("members", {"userid": g3, "customer_cap": 4})

    answer = client.post(
        "/api/v1/transfers",
        headers=h,
        json={"kind": "resigned", "handover_userid": leaver, "receivers": [g2, g3]},
    )
    assert answer.status_code == 201, answer.text
    batch = answer.json()
    assert batch["state"] == "waiting"
    assert batch["receivers"] == [g2, g3]
    sent = batch["counts"]
    assert (sent["total"], sent["waiting"], sent["limit_reached"]) == (10, 9, 1)
    items = items_by_key(batch)
    assert [items[c]["takeover_userid"] for c in customers[:4]] == [g2, g3, g2, g3]
    (limited,) = [i for i in batch["items"] if i["status"] == "limit_reached"]
    assert (limited["errcode"], limited["takeover_userid"]) == (40099, g3)
    assert len(corp.calls("externalcontact/resigned/transfer_customer")) == 2  # one per receiver

    # two of guide2's customers refuse; guide3 fills up before the switch (status 4 for two)
    to_g2 = [c for c in customers if items[c]["takeover_userid"] == g2]
    to_g3 = [
        c
        for c in customers
        if items[c]["takeover_userid"] == g3 and items[c]["status"] == "waiting"
    ]
    for refuser in to_g2[:2]:
        corp.do("transfers/refuse", {"external_userid": refuser})
    corp.do("members", {"userid": g3, "customer_cap": 2})
    corp.advance(DAY + 1)

    refreshed = client.post(f"/api/v1/transfers/{batch['id']}/refresh", headers=h)
    assert refreshed.status_code == 200, refreshed.text
    done = refreshed.json()
    assert done["state"] == "finished"
    assert done["finished_at"] is not None
    assert all(i["status"] in FINAL_STATUSES for i in done["items"])
    counts = done["counts"]
    assert counts == {
        "total": 10, "pending": 0, "waiting": 0, "accepted": 5, "refused": 2,
        "limit_reached": 3, "failed": 0,
    }  # fmt: skip
    final = items_by_key(done)
    assert {c for c, i in final.items() if i["status"] == "refused"} == set(to_g2[:2])
    assert [final[c]["status"] for c in to_g3] == [
        "accepted",
        "accepted",
        "limit_reached",
        "limit_reached",
    ]

    # accepted relations moved to the receiver; the others stay with the leaver, unassigned
    for external_userid, item in final.items():
        if item["status"] == "accepted":
            assert shop.active_holder(external_userid) == [item["takeover_userid"]]
            assert shop.relations(external_userid)[leaver] == "transferred"
            assert item["takeover_at"] is not None
        else:
            assert shop.active_holder(external_userid) == [leaver]
            assert corp.followers(external_userid) == [leaver]
    unassigned = client.get("/api/v1/transfers/unassigned-members", headers=h).json()
    assert [(m["userid"], m["customer_count"]) for m in unassigned] == [(leaver, 5)]

    # the five not handed over are retried to another receiver and accepted
    manager = shop.uid("manager1")
    retry = client.post(
        f"/api/v1/transfers/{batch['id']}/retry", headers=h, json={"receivers": [manager]}
    )
    assert retry.status_code == 201, retry.text
    second = retry.json()
    assert second["id"] != batch["id"]
    assert (second["counts"]["total"], second["counts"]["waiting"]) == (5, 5)
    assert {i["subject_key"] for i in second["items"]} == {
        c for c, i in final.items() if i["status"] != "accepted"
    }
    again = client.post(
        f"/api/v1/transfers/{batch['id']}/retry", headers=h, json={"receivers": [manager]}
    )
    assert again.status_code == 422  # every failed item is in the newer, open transfer
    old = client.get(f"/api/v1/transfers/{batch['id']}", headers=h, params={"status": "refused"})
    assert all(second["id"] in i["detail"] for i in old.json()["items"])
    corp.advance(DAY + 1)
    last = client.post(f"/api/v1/transfers/{second['id']}/refresh", headers=h).json()
    assert last["counts"]["accepted"] == 5
    assert all(shop.active_holder(c) != [leaver] for c in customers)
    assert client.get("/api/v1/transfers/unassigned-members", headers=h).json() == []

    # every outcome left an event on the customer's timeline
    with unit_of_work(shop.admin) as db:
        kinds = list(db.scalars(select(Event.type).where(Event.type.like("transfer.%"))))
    assert sorted(set(kinds)) == ["transfer.accepted", "transfer.limit_reached", "transfer.refused"]
    assert kinds.count("transfer.accepted") == 10
    listed = client.get("/api/v1/transfers", headers=h).json()["items"]
    assert [b["id"] for b in listed] == [second["id"], batch["id"]]


def test_resigned_transfer_takes_unsynced_customers_and_groups(
    client: TestClient, shop: Shop
) -> None:
    corp, h = shop.corp, shop.headers()
    leaver, g2 = shop.uid("guide1"), shop.uid("guide2")
    known = corp.seed(leaver, 2)
    shop.sync("guide1")
    (unsynced,) = corp.seed(leaver, 1)  # added after the last sync
    chat_id = corp.do("groups", {"owner": leaver, "name": "VIP", "members": known})["chat_id"]
    shop.sync_group(chat_id)
    corp.do(f"members/{leaver}/resign")

    answer = client.post(
        "/api/v1/transfers",
        headers=h,
        json={
            "kind": "resigned",
            "handover_userid": leaver,
            "receivers": [g2],
            "include_groups": True,
        },
    )
    assert answer.status_code == 201, answer.text
    batch = answer.json()
    items = items_by_key(batch)
    assert items[unsynced]["customer_id"] is None
    assert "not synced" in items[unsynced]["detail"]
    assert items[chat_id]["subject"] == "group"
    assert items[chat_id]["status"] == "accepted"  # a group transfer takes effect at once
    assert batch["group_counts"]["accepted"] == 1
    assert corp.fake.state.groups[chat_id].owner == g2
    with unit_of_work(shop.admin) as db:
        page = groups.list_groups(db, shop.admin, account_id=shop.account_id)
        assert [g.owner_userid for g in page.items] == [g2]

    corp.advance(DAY + 1)
    done = client.post(f"/api/v1/transfers/{batch['id']}/refresh", headers=h).json()
    assert done["counts"]["accepted"] == 3
    assert corp.followers(unsynced) == [g2]
    assert shop.active_holder(known[0]) == [g2]
