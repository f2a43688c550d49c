"""The callback endpoint: URL verification, signatures, de-duplication, and every event kind."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from siyu.channels import service as channels
from siyu.channels.wecom import inbox, jobs
from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.events import parse_event
from siyu.channels.wecom.fake.callbacks import event_xml
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
)
from siyu.channels.wecom.models import CallbackStatus, WeComCallback
from siyu.contacts import service as contacts
from siyu.contacts.models import RelationStatus
from siyu.core.clock import SYSTEM_CLOCK, FixedClock
from siyu.core.db import unit_of_work
from siyu.events.models import Event
from siyu.groups import service as groups
from siyu.groups.models import GroupStatus
from tests.integration.channels.conftest import GUIDE1, GUIDE2, Inbound
from tests.integration.channels.test_wecom_inbound import make_code

CRYPTO = WeComCrypto(DEFAULT_CALLBACK_TOKEN, DEFAULT_CALLBACK_AES_KEY, DEFAULT_CORP_ID)


def url(inbound: Inbound, account_id: uuid.UUID | None = None) -> str:
    return f"/api/v1/channels/wecom/{account_id or inbound.account_id}/callback"


def signed(xml: str, *, tamper: bool = False) -> tuple[dict[str, str], bytes]:
    timestamp, nonce = str(int(time.time())), "1234567"
    encrypt, signature = CRYPTO.encrypt_message(xml, timestamp=timestamp, nonce=nonce)
    if tamper:
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    body = (
        f"<xml><ToUserName><![CDATA[{DEFAULT_CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
    return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}, body.encode()


def contact_xml(change: str, external: str, userid: str = GUIDE1, at: int | None = None) -> str:
    return event_xml(
        DEFAULT_CORP_ID,
        at or int(time.time()),
        "change_external_contact",
        [("ChangeType", change), ("UserID", userid), ("ExternalUserID", external)],
    )


def post(inbound: Inbound, xml: str, *, tamper: bool = False) -> int:
    params, body = signed(xml, tamper=tamper)
    return inbound.api.post(url(inbound), params=params, content=body).status_code


def test_url_verification(inbound: Inbound) -> None:
    echo = "1234567890123456789"
    timestamp, nonce = "1700000000", "42"
    encrypt = CRYPTO.encrypt(echo)
    query = {"msg_signature": CRYPTO.sign(timestamp, nonce, encrypt), "timestamp": timestamp,
             "nonce": nonce, "echostr": encrypt}  # fmt: skip
    answer = inbound.api.get(url(inbound), params=query)
    assert answer.status_code == 200
    assert answer.content == echo.encode()
    bad = inbound.api.get(url(inbound), params={**query, "msg_signature": "0" * 40})
    assert bad.status_code == 400
    assert inbound.api.get(url(inbound, uuid.uuid4()), params=query).status_code == 404
    assert inbound.fake.dispatcher.verified is False  # nothing was sent yet
    disabled = inbound.api.patch(
        f"/api/v1/channel-accounts/{inbound.account_id}",
        json={"is_active": False},
        headers=inbound.headers,
    )
    assert disabled.status_code == 200
    gone = inbound.api.get(url(inbound), params=query)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"


def test_bad_signature_is_refused_and_nothing_stored(inbound: Inbound) -> None:
    xml = contact_xml("del_follow_user", "wm_x")
    assert post(inbound, xml, tamper=True) == 400
    params, body = signed(xml)
    assert (
        inbound.api.post(url(inbound), params={"timestamp": "1"}, content=body).status_code == 400
    )
    assert inbound.api.post(url(inbound), params=params, content=b"not xml").status_code == 400
    other = WeComCrypto(DEFAULT_CALLBACK_TOKEN, DEFAULT_CALLBACK_AES_KEY, "ww_other_corp")
    encrypt, signature = other.encrypt_message(xml, timestamp="1", nonce="2")
    foreign = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    refused = inbound.api.post(
        url(inbound), params={"msg_signature": signature, "timestamp": "1", "nonce": "2"},
        content=foreign,
    )  # fmt: skip
    assert refused.status_code == 400  # receiveid of another corp
    assert inbound.callbacks() == []


def test_duplicate_delivery_is_stored_once(inbound: Inbound) -> None:
    code = make_code(inbound)
    scanned = inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})
    deliveries = inbound.control.get("/_fake/callbacks").json()["deliveries"]
    add = next(d for d in deliveries if d["change_type"] == "add_external_contact")
    again = inbound.do(f"callbacks/deliveries/{add['id']}/redeliver")
    assert [d["state"] for d in again["deliveries"]] == ["delivered", "delivered"]
    (callback,) = inbound.callbacks()
    assert callback.status == CallbackStatus.PROCESSED
    assert callback.attempts == 1
    assert callback.payload["welcome_code"] == scanned["welcome_code"]
    assert len(inbound.control.get("/_fake/welcome_messages").json()["sent"]) == 1
    with unit_of_work(inbound.admin) as db:
        assert len(contacts.list_relations(db, inbound.admin)) == 1
    xml = contact_xml("del_follow_user", scanned["external_userid"], at=1_800_000_000)
    assert post(inbound, xml) == 200
    assert post(inbound, xml) == 200
    assert len(inbound.callbacks()) == 2


def test_unknown_events_and_unknown_relations_are_ignored(inbound: Inbound) -> None:
    odd = event_xml(DEFAULT_CORP_ID, int(time.time()), "change_external_contact",
                    [("ChangeType", "something_new"), ("UserID", GUIDE1)])  # fmt: skip
    assert post(inbound, odd) == 200
    assert post(inbound, contact_xml("del_external_contact", "wm_never_seen")) == 200
    ignored = inbound.callbacks()
    assert [c.status for c in ignored] == [CallbackStatus.IGNORED] * 2
    assert ignored[0].error == "siyu does not handle change_external_contact/something_new"
    assert ignored[1].error == "siyu never knew this relation"


def test_edit_refreshes_remark_and_tags(inbound: Inbound) -> None:
    tag = inbound.do("tags/console", {"action": "create", "group_name": "兴趣", "tag_name": "咖啡"})
    code = make_code(inbound)
    external = inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})["external_userid"]
    inbound.do("follows/edit", {"userid": GUIDE1, "external_userid": external,
                                "remark": "Amy 老客", "add_tag": [tag["id"]]})  # fmt: skip
    with unit_of_work(inbound.admin) as db:
        (relation,) = contacts.list_relations(db, inbound.admin)
        assert relation.remark == "Amy 老客"
        assert relation.tag_ids == [tag["id"]]
        edited = db.scalars(select(Event).where(Event.type == "wecom.contact_edited")).all()
        assert [e.customer_id for e in edited] == [relation.customer_id]


def test_member_transfer_deletion_marks_the_relation_transferred(inbound: Inbound) -> None:
    code = make_code(inbound)
    external = inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})["external_userid"]
    xml = event_xml(DEFAULT_CORP_ID, int(time.time()), "change_external_contact",
                    [("ChangeType", "del_external_contact"), ("UserID", GUIDE1),
                     ("ExternalUserID", external), ("Source", "DELETE_BY_TRANSFER")])  # fmt: skip
    assert post(inbound, xml) == 200
    with unit_of_work(inbound.admin) as db:
        (relation,) = contacts.list_relations(db, inbound.admin)
        assert relation.status == RelationStatus.TRANSFERRED


def test_group_and_tag_events(inbound: Inbound) -> None:
    code = make_code(inbound)
    external = inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})["external_userid"]
    chat_id = inbound.do("groups", {"owner": GUIDE1, "name": "VIP 群", "members": [external]})[
        "chat_id"
    ]
    inbound.do(f"groups/{chat_id}/rename", {"name": "VIP 一群"})
    tag = inbound.do("tags/console", {"action": "create", "group_name": "等级", "tag_name": "金卡"})
    inbound.do("tags/console", {"action": "delete", "id": tag["id"]})
    with unit_of_work(inbound.admin) as db:
        found = groups.list_groups(db, inbound.admin, account_id=inbound.account_id).items
        assert [(g.chat_id, g.name) for g in found] == [(chat_id, "VIP 一群")]
    inbound.do(f"groups/{chat_id}/dismiss")
    assert all(c.status == CallbackStatus.PROCESSED for c in inbound.callbacks())
    with unit_of_work(inbound.admin) as db:
        (group,) = groups.list_groups(db, inbound.admin, account_id=inbound.account_id).items
        assert group.status == GroupStatus.DISMISSED
        types = list(db.scalars(select(Event.type).where(Event.type.like("wecom.group_%"))))
        assert {"wecom.group_created", "wecom.group_updated", "wecom.group_dismissed"} <= set(types)
        tag_events = db.scalars(select(Event).where(Event.type == "wecom.tag_changed")).all()
        assert [e.data["change_type"] for e in tag_events] == ["create", "delete"]


def test_transfer_failure_of_an_unknown_transfer_is_ignored(inbound: Inbound) -> None:
    code = make_code(inbound, staff_userids=[GUIDE1], is_rotating=False)
    external = inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})["external_userid"]
    with unit_of_work(inbound.admin) as db:
        account = channels.get_account(db, inbound.admin, inbound.account_id)
    with channels.client_for(account) as client:
        client.transfer_customer(GUIDE1, GUIDE2, [external])
    inbound.do("transfers/refuse", {"external_userid": external})
    last = inbound.callbacks()[-1]
    assert last.change_type == "transfer_fail"
    assert last.status == CallbackStatus.IGNORED
    assert last.error == "no open transfer of this customer is known"


def test_failed_processing_is_kept_then_retried(inbound: Inbound) -> None:
    code = make_code(inbound)
    inbound.do("faults", {"kind": "busy", "api": "externalcontact/get", "count": 10})
    inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})
    (callback,) = inbound.callbacks()
    assert callback.status == CallbackStatus.FAILED
    assert callback.attempts == 1
    assert callback.error is not None
    assert "SystemBusy" in callback.error
    inbound.control.delete("/_fake/faults")
    listed = inbound.api.get(
        f"/api/v1/channel-accounts/{inbound.account_id}/callbacks",
        params={"status": "failed"},
        headers=inbound.headers,
    )
    assert [c["id"] for c in listed.json()] == [str(callback.id)]
    retried = inbound.api.post(
        f"/api/v1/channel-accounts/{inbound.account_id}/callbacks/{callback.id}/retry",
        headers=inbound.headers,
    )
    assert retried.status_code == 202, retried.text
    (callback,) = inbound.callbacks()
    assert callback.status == CallbackStatus.PROCESSED
    assert callback.error is None
    again = inbound.api.post(
        f"/api/v1/channel-accounts/{inbound.account_id}/callbacks/{callback.id}/retry",
        headers=inbound.headers,
    )
    assert again.status_code == 409
    with unit_of_work(inbound.admin) as db:
        assert len(contacts.list_relations(db, inbound.admin)) == 1


def test_sweep_processes_callbacks_whose_job_was_lost(inbound: Inbound) -> None:
    code = make_code(inbound)
    external = inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})["external_userid"]
    event = parse_event(contact_xml("del_follow_user", external, userid=GUIDE1))
    with unit_of_work(inbound.admin) as db:
        stored = inbox.store(db, inbound.admin, account_id=inbound.account_id, event=event)
    assert stored.is_new
    assert jobs.sweep() == 0  # too fresh to count as lost
    later = FixedClock(SYSTEM_CLOCK.now() + timedelta(minutes=3))
    assert jobs.sweep(clock=later) == 1
    assert jobs.sweep(clock=later) == 0
    with unit_of_work(inbound.admin) as db:
        (relation,) = contacts.list_relations(db, inbound.admin)
        assert relation.status == RelationStatus.DELETED_BY_CUSTOMER


def test_processing_twice_changes_nothing(inbound: Inbound) -> None:
    code = make_code(inbound)
    inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Amy"})
    (callback,) = inbound.callbacks()
    assert inbox.process(inbound.admin.tenant_id, callback.id) is None
    with unit_of_work(inbound.admin) as db:  # as if a worker died before recording the outcome
        db.execute(
            update(WeComCallback)
            .where(WeComCallback.tenant_id == inbound.admin.tenant_id)
            .values(status=CallbackStatus.RECEIVED.value)
        )
    done = inbox.process(inbound.admin.tenant_id, callback.id)
    assert done is not None
    assert done.status == CallbackStatus.PROCESSED
    with unit_of_work(inbound.admin) as db:
        assert len(contacts.list_relations(db, inbound.admin)) == 1
        added = db.scalars(select(Event).where(Event.type == "wecom.contact_added")).all()
        assert len(added) == 1
    assert len(inbound.control.get("/_fake/welcome_messages").json()["sent"]) == 1
