"""Contact relations: OneID on add, re-adds, endings, transfers, scope and the 360 listing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from siyu.acquisition.models import ChannelCode, CodeOwner
from siyu.channels import service as channels
from siyu.channels.schemas import WeComConfig
from siyu.channels.wecom.fake.config import DEFAULT_CALLBACK_AES_KEY
from siyu.channels.wecom.schemas import ContactTag, ExternalContact, FollowInfo, FollowUser
from siyu.contacts import service as contacts
from siyu.contacts.models import RelationStatus
from siyu.core.actor import Actor, Role
from siyu.core.db import Database, unit_of_work
from siyu.core.errors import NotFound
from siyu.core.ids import new_id
from siyu.customers.models import Customer
from siyu.events.models import Event
from siyu.identity import service as identity
from siyu.identity.keys import KeyKind, make_key
from siyu.tenancy import service as tenancy
from tests.factories import bare_tenant

CORP = "wwcontacts0001"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@dataclass
class Setup:
    admin: Actor
    account_id: uuid.UUID
    code_id: uuid.UUID
    guide_id: uuid.UUID


def make_account(admin: Actor, name: str = "main") -> uuid.UUID:
    config = WeComConfig(
        corp_id=CORP,
        secret=SecretStr("s3cret-value"),
        callback_token=SecretStr("tok"),
        callback_aes_key=SecretStr(DEFAULT_CALLBACK_AES_KEY),
    )
    with unit_of_work(admin) as db:
        return channels.create_wecom_account(db, admin, name=name, config=config).id


@pytest.fixture
def setup(database: Database) -> Setup:
    admin = bare_tenant()
    account_id = make_account(admin)
    with unit_of_work(admin) as db:
        root = tenancy.root_unit(db)
        guide = tenancy.create_staff(
            db, admin, name="Guide Zhang", org_unit_id=root.id, role=Role.GUIDE,
            wecom_userid="zhangsan",
        )  # fmt: skip
        tenancy.create_staff(
            db, admin, name="Guide Li", org_unit_id=root.id, role=Role.GUIDE, wecom_userid="lisi"
        )
        code = ChannelCode(
            id=new_id(),
            account_id=account_id,
            name="Store 1 poster",
            state="store-001",
            owner_kind=CodeOwner.STORE,
            staff_userids=["zhangsan"],
            welcome={},
            tag_ids=[],
        )
        db.add(code)
        return Setup(admin, account_id, code.id, guide.id)


def contact(external: str = "wm_amy", **kw: object) -> ExternalContact:
    return ExternalContact.model_validate({"external_userid": external, "name": "Amy", **kw})


def follow(userid: str = "zhangsan", **kw: object) -> FollowUser:
    return FollowUser.model_validate(
        {"userid": userid, "createtime": int(NOW.timestamp()), "add_way": 1, **kw}
    )


def apply(s: Setup, c: ExternalContact, f: FollowUser | FollowInfo, now: datetime = NOW):
    with unit_of_work(s.admin) as db:
        applied = contacts.apply_contact(
            db, s.admin, account_id=s.account_id, corp_id=CORP, contact=c, follow=f, now=now
        )
        db.expunge(applied.relation)
        return applied


def events_of(admin: Actor, kind: str) -> list[Event]:
    with unit_of_work(admin) as db:
        return list(db.scalars(select(Event).where(Event.type == kind)))


def test_add_resolves_customer_links_staff_and_code(setup: Setup) -> None:
    tags = [ContactTag(tag_id="et_vip", tag_name="VIP"), ContactTag(tag_name="personal", type=2)]
    applied = apply(
        setup,
        contact(unionid="oU-amy", gender=2),
        follow(state="store-001", remark="Amy from store", tags=tags),
    )
    relation = applied.relation
    assert applied.created_relation
    assert applied.is_new_customer
    assert applied.code_id == setup.code_id
    assert relation.channel_code_id == setup.code_id
    assert relation.state == "store-001"
    assert relation.staff_id == setup.guide_id
    assert relation.added_at == NOW
    assert relation.tag_ids == ["et_vip"]
    assert relation.remark == "Amy from store"
    with unit_of_work(setup.admin) as db:
        found = identity.resolve(
            db,
            setup.admin,
            keys=[make_key(KeyKind.UNIONID, "oU-amy")],
            source="test",
        )
        assert found.customer_id == applied.customer_id
        assert not found.created
        customer = db.get(Customer, (setup.admin.tenant_id, applied.customer_id))
        assert customer is not None
        assert customer.name == "Amy"
        assert customer.owner_staff_id == setup.guide_id
    (added,) = events_of(setup.admin, "wecom.contact_added")
    assert added.customer_id == applied.customer_id
    assert added.data["channel_code_id"] == str(setup.code_id)
    assert added.data["is_new_customer"] is True


def test_applying_again_refreshes_without_a_second_add(setup: Setup) -> None:
    first = apply(setup, contact(), follow(state="store-001"))
    info = FollowInfo(userid="zhangsan", remark="new remark", tag_id=["et_a", "et_a"], state="")
    again = apply(setup, contact(), info, NOW + timedelta(hours=1))
    assert not again.created_relation
    assert again.relation.id == first.relation.id
    assert again.relation.remark == "new remark"
    assert again.relation.tag_ids == ["et_a"]
    assert again.relation.channel_code_id == setup.code_id  # kept
    assert len(events_of(setup.admin, "wecom.contact_added")) == 1


def test_re_add_by_another_staff_is_not_a_new_customer(setup: Setup) -> None:
    first = apply(setup, contact(), follow(state="store-001"))
    second = apply(setup, contact(), follow("lisi"))
    assert second.created_relation
    assert second.customer_id == first.customer_id
    assert not second.is_new_customer
    assert second.code_id is None


def test_end_relation_and_add_again(setup: Setup) -> None:
    apply(setup, contact(), follow(state="store-001"))
    at = NOW + timedelta(days=1)
    with unit_of_work(setup.admin) as db:
        ended = contacts.end_relation(
            db, setup.admin, account_id=setup.account_id, wecom_userid="zhangsan",
            external_userid="wm_amy", status=RelationStatus.DELETED_BY_CUSTOMER, at=at,
        )  # fmt: skip
        assert ended is not None
        assert ended.ended_at == at
        again = contacts.end_relation(
            db, setup.admin, account_id=setup.account_id, wecom_userid="zhangsan",
            external_userid="wm_amy", status=RelationStatus.DELETED_BY_STAFF, at=at,
        )  # fmt: skip
        assert again is not None
        assert again.status == RelationStatus.DELETED_BY_CUSTOMER
        assert (
            contacts.end_relation(
                db,
                setup.admin,
                account_id=setup.account_id,
                wecom_userid="zhangsan",
                external_userid="wm_nobody",
                status=RelationStatus.DELETED_BY_STAFF,
                at=at,
            )
            is None
        )
    assert len(events_of(setup.admin, "wecom.contact_deleted_by_customer")) == 1
    later = NOW + timedelta(days=2)
    readd = apply(setup, contact(), follow(createtime=int(later.timestamp())), later)
    assert readd.created_relation
    assert not readd.is_new_customer
    assert readd.relation.status == RelationStatus.ACTIVE
    assert readd.relation.ended_at is None
    assert readd.relation.added_at == later


def test_move_relation_keeps_code_and_customer(setup: Setup) -> None:
    first = apply(setup, contact(), follow(state="store-001"))
    at = NOW + timedelta(days=3)
    for _ in range(2):  # safe to run twice
        with unit_of_work(setup.admin) as db:
            moved = contacts.move_relation(
                db, setup.admin, account_id=setup.account_id, external_userid="wm_amy",
                from_userid="zhangsan", to_userid="lisi", at=at,
            )  # fmt: skip
            assert moved.wecom_userid == "lisi"
            assert moved.customer_id == first.customer_id
            assert moved.channel_code_id == setup.code_id
            assert not moved.is_new_customer
            assert moved.status == RelationStatus.ACTIVE
    with unit_of_work(setup.admin) as db:
        old = contacts.find_relation(
            db, account_id=setup.account_id, wecom_userid="zhangsan", external_userid="wm_amy"
        )
        assert old is not None
        assert old.status == RelationStatus.TRANSFERRED
        assert old.ended_at == at
        with pytest.raises(NotFound):
            contacts.move_relation(
                db, setup.admin, account_id=setup.account_id, external_userid="wm_nobody",
                from_userid="zhangsan", to_userid="lisi", at=at,
            )  # fmt: skip
    assert len(events_of(setup.admin, "wecom.contact_transferred")) == 1


def test_lists_respect_scope_and_unknown_customers(setup: Setup) -> None:
    amy = apply(setup, contact(), follow(state="store-001"))
    apply(setup, contact("wm_bob", name="Bob"), follow("lisi"))
    with unit_of_work(setup.admin) as db:
        everyone = contacts.list_relations(db, setup.admin)
        assert {r.external_userid for r in everyone} == {"wm_amy", "wm_bob"}
        mine = contacts.list_relations(db, setup.admin, wecom_userid="lisi")
        assert [r.external_userid for r in mine] == ["wm_bob"]
        shown = contacts.present(
            db, setup.admin, contacts.relations_of_customer(db, setup.admin, amy.customer_id)
        )
        assert [(r.staff_name, r.channel_code_name, r.account_name) for r in shown] == [
            ("Guide Zhang", "Store 1 poster", "main")
        ]
        with pytest.raises(NotFound):
            contacts.relations_of_customer(db, setup.admin, uuid.uuid4())
    guide = Actor(
        tenant_id=setup.admin.tenant_id, user_id=None, role=Role.GUIDE, staff_id=setup.guide_id
    )
    with unit_of_work(guide) as db:
        assert [r.external_userid for r in contacts.list_relations(db, guide)] == ["wm_amy"]
    other = bare_tenant()
    with unit_of_work(other) as db:
        assert contacts.list_relations(db, other) == []
        with pytest.raises(NotFound):
            contacts.relations_of_customer(db, other, amy.customer_id)


def test_a_deletion_callback_says_who_ended_a_relation_a_sync_found_gone(setup: Setup) -> None:
    apply(setup, contact(), follow(state="store-001"))
    found_at, deleted_at = NOW + timedelta(days=2), NOW + timedelta(days=1)
    with unit_of_work(setup.admin) as db:
        for status, at in (
            (RelationStatus.GONE, found_at),
            (RelationStatus.DELETED_BY_STAFF, deleted_at),
        ):
            relation = contacts.end_relation(
                db, setup.admin, account_id=setup.account_id, wecom_userid="zhangsan",
                external_userid="wm_amy", status=status, at=at,
            )  # fmt: skip
        assert relation is not None
        assert relation.status == RelationStatus.DELETED_BY_STAFF
        assert relation.ended_at == deleted_at
    assert len(events_of(setup.admin, "wecom.contact_gone")) == 1
    assert len(events_of(setup.admin, "wecom.contact_deleted_by_staff")) == 1
