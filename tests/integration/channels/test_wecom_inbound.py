"""Acceptance 2 of issue #6 on the fake: a scan becomes a customer, a relation and a welcome."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from siyu.acquisition import flows
from siyu.acquisition.schemas import CodeCreate, CodeRead
from siyu.channels.wecom.models import CallbackStatus
from siyu.contacts import service as contacts
from siyu.contacts.models import RelationStatus
from siyu.core.db import unit_of_work
from siyu.events.models import Event
from siyu.identity import service as identity
from siyu.jobs.models import OutboxMessage, OutboxStatus
from tests.integration.channels.conftest import GUIDE1, GUIDE2, Inbound

WELCOME = "你好 {customer_name}，我是{staff_name}"


def make_tag(inbound: Inbound, name: str = "门店海报") -> str:
    created = inbound.do(
        "tags/console", {"action": "create", "group_name": "来源", "tag_name": name}
    )
    return str(created["id"])


def make_code(inbound: Inbound, **fields: Any) -> CodeRead:
    data = {
        "name": "Poster",
        "owner_kind": "store",
        "staff_userids": [GUIDE1, GUIDE2],
        "is_rotating": True,
        "welcome": {"text": WELCOME},
        **fields,
    }
    return flows.create_code(inbound.admin, CodeCreate.model_validate(data))


def event_types(inbound: Inbound) -> list[str]:
    with unit_of_work(inbound.admin) as db:
        return list(db.scalars(select(Event.type).where(Event.type.like("wecom.%"))))


def test_scan_to_welcome_relation_readd_and_deletion(inbound: Inbound) -> None:
    tag = make_tag(inbound)
    code = make_code(inbound, tag_ids=[tag])
    scanned = inbound.do(
        f"contact_ways/{code.config_id}/scan", {"name": "Amy", "unionid": "oU-amy"}
    )
    external = scanned["external_userid"]
    assert scanned["userid"] == GUIDE1
    assert scanned["welcome_code"]

    callbacks = inbound.callbacks()
    assert [(c.event, c.change_type, c.status) for c in callbacks] == [
        ("change_external_tag", "create", CallbackStatus.PROCESSED),
        ("change_external_contact", "add_external_contact", CallbackStatus.PROCESSED),
    ], [c.error for c in callbacks]

    sent = inbound.control.get("/_fake/welcome_messages").json()["sent"]
    assert len(sent) == 1
    assert sent[0]["external_userid"] == external
    assert "你好 Amy，我是guide1" in str(sent[0])

    with unit_of_work(inbound.admin) as db:
        (relation,) = contacts.list_relations(db, inbound.admin, account_id=inbound.account_id)
        assert relation.external_userid == external
        assert relation.wecom_userid == GUIDE1
        assert relation.channel_code_id == code.id
        assert relation.state == code.state
        assert relation.tag_ids == [tag]
        assert relation.is_new_customer
        assert relation.staff_id == inbound.shop.staff["guide1"]
        ids = identity.list_identities(db, inbound.admin, relation.customer_id)
        assert {(i.kind, i.value) for i in ids} >= {
            ("external_userid", external),
            ("unionid", "oU-amy"),
        }
        customer_id = relation.customer_id
    follow = inbound.fake.state.follows.get((GUIDE1, external))
    assert follow is not None
    assert follow.tags == {tag}

    again = inbound.do(f"contact_ways/{code.config_id}/scan", {"external_userid": external})
    assert again["userid"] == GUIDE2
    with unit_of_work(inbound.admin) as db:
        second = contacts.list_relations(db, inbound.admin, wecom_userid=GUIDE2)[0]
        assert second.customer_id == customer_id
        assert not second.is_new_customer

    inbound.do("follows/delete", {"userid": GUIDE2, "external_userid": external, "by": "customer"})
    inbound.do("follows/delete", {"userid": GUIDE1, "external_userid": external, "by": "member"})
    with unit_of_work(inbound.admin) as db:
        by_staff = {
            r.wecom_userid: r
            for r in contacts.relations_of_customer(db, inbound.admin, customer_id)
        }
        assert by_staff[GUIDE2].status == RelationStatus.DELETED_BY_CUSTOMER
        assert by_staff[GUIDE2].ended_at is not None
        assert by_staff[GUIDE1].status == RelationStatus.DELETED_BY_STAFF
    assert event_types(inbound).count("wecom.contact_added") == 2
    assert "wecom.contact_deleted_by_customer" in event_types(inbound)
    assert "wecom.contact_deleted_by_staff" in event_types(inbound)

    shown = inbound.api.get(f"/api/v1/customers/{customer_id}/relations", headers=inbound.headers)
    assert shown.status_code == 200, shown.text
    rows = {r["wecom_userid"]: r for r in shown.json()}
    assert rows[GUIDE1]["channel_code_name"] == "Poster"
    assert rows[GUIDE1]["tags"] == [{"id": tag, "name": "门店海报", "group_name": "来源"}]
    assert rows[GUIDE1]["is_active"] is False


def test_welcome_past_its_20_seconds_is_dropped(late_inbound: Inbound) -> None:
    code = make_code(late_inbound)
    late_inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Bob"})
    (callback,) = late_inbound.callbacks()
    assert callback.status == CallbackStatus.PROCESSED
    assert late_inbound.control.get("/_fake/welcome_messages").json()["sent"] == []
    with unit_of_work(late_inbound.admin) as db:
        (message,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "wecom.welcome"))
        assert message.status == OutboxStatus.DROPPED
        assert message.last_error == "expired before it could be sent"


def test_welcome_with_attachments_and_no_code_means_no_welcome(inbound: Inbound) -> None:
    link = {
        "msgtype": "link",
        "title": "{customer_name} 的新人礼",
        "url": "https://example.com/gift",
    }
    code = make_code(
        inbound,
        staff_userids=[GUIDE1],
        is_rotating=False,
        welcome={"text": None, "attachments": [link]},
    )
    inbound.do(f"contact_ways/{code.config_id}/scan", {"name": "Cat"})
    (sent,) = inbound.control.get("/_fake/welcome_messages").json()["sent"]
    assert sent["text"] is None
    assert sent["attachments"] == [
        {"msgtype": "link", "link": {"title": "Cat 的新人礼", "url": "https://example.com/gift"}}
    ]
    silent = make_code(inbound, name="No welcome", staff_userids=[GUIDE2], is_rotating=False,
                       welcome=None)  # fmt: skip
    inbound.do(f"contact_ways/{silent.config_id}/scan", {"name": "Dan"})
    assert len(inbound.control.get("/_fake/welcome_messages").json()["sent"]) == 1
    with unit_of_work(inbound.admin) as db:
        kinds = list(db.scalars(select(OutboxMessage.kind)))
        assert kinds.count("wecom.welcome") == 1
        (dan,) = contacts.list_relations(db, inbound.admin, wecom_userid=GUIDE2)
        assert dan.channel_code_id == silent.id
