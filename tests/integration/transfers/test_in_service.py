"""In-service transfers (在职继承): success message, chunks of 100, chosen customers, callbacks."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from siyu.core.clock import SYSTEM_CLOCK, FixedClock
from siyu.core.db import Database, unit_of_work
from siyu.transfers import flows, jobs, service
from siyu.transfers.models import ItemStatus
from siyu.transfers.schemas import TransferCreate
from tests.integration.transfers.corp import DAY, Shop


def test_in_service_transfer_carries_the_success_message(client: TestClient, shop: Shop) -> None:
    corp, h = shop.corp, shop.headers()
    giver, taker = shop.uid("guide1"), shop.uid("guide2")
    customers = corp.seed(giver, 3)
    synced = shop.sync("guide1")
    message = "您好，我是新的专属顾问，有任何问题随时找我。"
    chosen = [synced[customers[0]], synced[customers[2]]]
    answer = client.post(
        "/api/v1/transfers",
        headers=h,
        json={
            "kind": "in_service",
            "handover_userid": giver,
            "receivers": [taker],
            "customer_ids": [str(c) for c in chosen],
            "transfer_success_msg": message,
        },
    )
    assert answer.status_code == 201, answer.text
    batch = answer.json()
    assert batch["transfer_success_msg"] == message
    assert {i["subject_key"] for i in batch["items"]} == {customers[0], customers[2]}
    assert all(i["status"] == "waiting" and i["sent_at"] for i in batch["items"])
    assert all(i["customer_name"] for i in batch["items"])
    (call,) = corp.calls("externalcontact/transfer_customer")
    assert call["transfer_success_msg"] == message
    assert sorted(call["external_userid"]) == sorted([customers[0], customers[2]])

    corp.advance(DAY + 1)
    done = client.post(f"/api/v1/transfers/{batch['id']}/refresh", headers=h).json()
    assert done["counts"]["accepted"] == 2
    assert shop.active_holder(customers[0]) == [taker]
    assert shop.active_holder(customers[1]) == [giver]  # not chosen: stays
    assert corp.followers(customers[2]) == [taker]


def test_more_than_100_customers_go_in_chunks_of_100(client: TestClient, shop: Shop) -> None:
    corp, h = shop.corp, shop.headers()
    giver, taker = shop.uid("guide1"), shop.uid("guide2")
    corp.seed(giver, 130)
    shop.sync("guide1")
    answer = client.post(
        "/api/v1/transfers",
        headers=h,
        json={"kind": "in_service", "handover_userid": giver, "receivers": [taker]},
    )
    assert answer.status_code == 201, answer.text
    batch = answer.json()
    assert batch["counts"]["waiting"] == 130
    calls = corp.calls("externalcontact/transfer_customer")
    assert [len(c["external_userid"]) for c in calls] == [100, 30]
    first = client.get(f"/api/v1/transfers/{batch['id']}", headers=h, params={"limit": 100})
    second = client.get(
        f"/api/v1/transfers/{batch['id']}",
        headers=h,
        params={"limit": 100, "cursor": first.json()["next_cursor"]},
    )
    assert len(first.json()["items"]) == 100
    assert len(second.json()["items"]) == 30
    assert second.json()["next_cursor"] is None
    # a second "all" transfer of the same member leaves out customers in the open one
    again = client.post(
        "/api/v1/transfers",
        headers=h,
        json={"kind": "in_service", "handover_userid": giver, "receivers": [taker]},
    )
    assert again.status_code == 422
    assert "open transfers" in again.json()["hint"]


def test_transfer_fail_callback_and_the_periodic_poll(shop: Shop, database: Database) -> None:
    corp, admin = shop.corp, shop.admin
    giver, taker = shop.uid("guide1"), shop.uid("guide2")
    customers = corp.seed(giver, 3)
    shop.sync("guide1")
    data = TransferCreate(kind="in_service", handover_userid=giver, receivers=[taker])
    batch_id = flows.start_transfer(admin, data=data)
    jobs.send_transfer(str(admin.tenant_id), str(batch_id))

    # the customer refuses: WeCom's transfer_fail callback reaches siyu and settles the item
    corp.do("transfers/refuse", {"external_userid": customers[0]})
    (fail,) = [d for d in corp.fake.dispatcher.deliveries if d.event.change_type == "transfer_fail"]
    assert fail.state == "delivered", fail.as_dict()
    with unit_of_work(admin) as db:
        (item,) = service.list_items(db, admin, batch_id, status=ItemStatus.REFUSED).items
        assert item.subject_key == customers[0]
        assert item.detail == "the customer refused the transfer"
    now = SYSTEM_CLOCK.now()
    with unit_of_work(admin) as db:
        for external_userid in (customers[0], "wmNotInAnyTransfer"):  # final, or unknown
            assert (
                service.apply_transfer_failed(
                    db,
                    admin,
                    account_id=shop.account_id,
                    handover_userid=giver,
                    takeover_userid="",
                    external_userid=external_userid,
                    reason="customer_refused",
                    at=now,
                )
                is None
            )

    # nobody presses refresh: the periodic job settles the rest once WeCom switched them
    corp.advance(DAY + 1)
    assert jobs.poll(clock=FixedClock(now)) == 0  # too young: left to its send job
    assert jobs.poll(clock=FixedClock(now + timedelta(minutes=10))) == 1
    with unit_of_work(admin) as db:
        (read,) = service.present(db, admin, [service.get_batch(db, admin, batch_id)])
    assert (read.counts.accepted, read.counts.refused, read.state) == (2, 1, "finished")
    assert shop.active_holder(customers[0]) == [giver]
    assert shop.active_holder(customers[1]) == [taker]
    assert jobs.poll(clock=FixedClock(now + timedelta(minutes=20))) == 0


def test_wecom_outage_leaves_items_pending_until_a_later_send(
    client: TestClient, shop: Shop
) -> None:
    corp, h = shop.corp, shop.headers()
    giver, taker = shop.uid("guide1"), shop.uid("guide2")
    corp.seed(giver, 2)
    shop.sync("guide1")
    corp.do("faults", {"kind": "busy", "api": "externalcontact/transfer_customer", "count": 8})
    answer = client.post(
        "/api/v1/transfers",
        headers=h,
        json={"kind": "in_service", "handover_userid": giver, "receivers": [taker]},
    )
    assert answer.status_code == 201, answer.text
    batch = answer.json()
    assert (batch["state"], batch["counts"]["pending"]) == ("sending", 2)
    assert all(i["detail"].startswith("not sent yet") for i in batch["items"])
    corp.http.delete("/_fake/faults")
    again = client.post(f"/api/v1/transfers/{batch['id']}/refresh", headers=h).json()
    assert (again["state"], again["counts"]["waiting"]) == ("waiting", 2)
    assert all(i["detail"] == "" for i in again["items"])
