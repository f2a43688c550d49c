"""Full sync of a fake corp: members, corp tags, contacts, relations and groups."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import select

from siyu.acquisition import flows
from siyu.acquisition.schemas import CodeCreate
from siyu.channels import service as channels
from siyu.channels.wecom import sync
from siyu.channels.wecom.fake.state import Follow
from siyu.channels.wecom.models import WeComCorpTag
from siyu.channels.wecom.sync_state import RunStatus, SyncMode
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.core.actor import Actor
from siyu.core.db import unit_of_work
from siyu.core.errors import Conflict
from siyu.customers.models import Customer, Gender
from siyu.events.models import Event
from siyu.groups import service as groups
from siyu.groups.models import CustomerGroup, GroupStatus
from siyu.identity import service as identity
from siyu.identity.keys import IdentityKey, KeyKind
from tests.integration.sync.conftest import GUIDE1, GUIDE2, GUIDE3, UNMAPPED, Corp


def actor_of(corp: Corp) -> Actor:
    return channels.channel_actor(corp.world.tenant_id, "Asia/Shanghai", "main")


class Recorder:
    """The progress callback: every (done, total) per stage, in order."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls[stage].append((done, total))

    def last(self, stage: str) -> tuple[int, int]:
        return self.calls[stage][-1]


def build_corp(corp: Corp) -> dict[str, object]:
    """A small corp: a coded member, a shared customer, a tagged relation, two groups."""
    code = flows.create_code(
        corp.admin,
        CodeCreate.model_validate(
            {"name": "Poster", "state": "poster-1", "owner_kind": "store",
             "staff_userids": [GUIDE1]}
        ),
    )  # fmt: skip
    g1 = corp.seed(GUIDE1, 5, state="poster-1")
    g2 = corp.seed(GUIDE2, 3)
    bob = corp.seed(UNMAPPED, 2)
    corp.seed(GUIDE3, 1)
    # guide2 also adds guide1's first customer: one customer, two relations
    state = corp.fake.state
    with state.lock:
        first = state.follows.get((GUIDE1, g1[0]))
        assert first is not None
        state.follows[(GUIDE2, g1[0])] = Follow(GUIDE2, g1[0], first.createtime + 10)
    tag = corp.do("tags/console", {"action": "create", "group_name": "兴趣", "tag_name": "咖啡"})
    corp.do("follows/edit", {"userid": GUIDE1, "external_userid": g1[1], "remark": "老客",
                             "add_tag": [tag["id"]]})  # fmt: skip
    chat = corp.do("groups", {"owner": GUIDE1, "name": "VIP 群", "members": [g1[0], g1[1], GUIDE2]})
    other = corp.do("groups", {"owner": UNMAPPED, "name": "Bob 群", "members": [bob[0]]})
    return {"code": code, "g1": g1, "g2": g2, "bob": bob, "tag": tag["id"],
            "chat": chat["chat_id"], "other": other["chat_id"]}  # fmt: skip


def test_full_sync_writes_what_wecom_has(corp: Corp) -> None:
    made = build_corp(corp)
    g1 = made["g1"]
    assert isinstance(g1, list)
    progress = Recorder()
    report = sync.run_full_sync(actor_of(corp), corp.account_id, progress=progress)

    assert corp.active() == corp.wecom_pairs()
    assert report.counts["members"] == 4
    assert report.counts["contacts"] == 12
    assert report.counts["customers_created"] == 11
    assert report.counts["relations_started"] == 12
    assert report.counts["groups"] == 2
    assert report.unmapped_members == [UNMAPPED]
    for stage in ("members", "tags", "contacts", "relations", "groups"):
        done, total = progress.last(stage)
        assert done == total, stage
    assert progress.last("contacts") == (12, 12)
    assert progress.last("members") == (4, 4)

    world = corp.world
    with unit_of_work(corp.admin) as db:
        relations = {
            (r.wecom_userid, r.external_userid): r for r in db.scalars(select(ContactRelation))
        }
        coded = relations[(GUIDE1, g1[0])]
        assert coded.channel_code_id == made["code"].id  # type: ignore[attr-defined]
        assert coded.state == "poster-1"
        assert coded.staff_id == world.staff["guide1"]
        assert coded.is_new_customer
        shared = relations[(GUIDE2, g1[0])]
        assert shared.customer_id == coded.customer_id
        assert not shared.is_new_customer
        assert relations[(UNMAPPED, made["bob"][0])].staff_id is None  # type: ignore[index]
        tagged = relations[(GUIDE1, g1[1])]
        assert tagged.remark == "老客"
        assert tagged.tag_ids == [made["tag"]]
        customer = db.get(Customer, (world.tenant_id, coded.customer_id))
        assert customer is not None
        assert customer.owner_staff_id == world.staff["guide1"]
        assert customer.org_unit_id == world.store_ids[0]
        assert customer.name
        fake_customer = corp.fake.state.customers[g1[0]]
        expected_gender = {1: Gender.MALE, 2: Gender.FEMALE}.get(fake_customer.gender)
        assert customer.gender == (expected_gender or Gender.UNKNOWN)
        owners = identity.customers_with_keys(
            db, corp.admin, [IdentityKey(KeyKind.UNIONID, str(fake_customer.unionid))]
        )
        assert set(owners.values()) == {coded.customer_id}
        tags = list(db.scalars(select(WeComCorpTag)))
        assert [(t.tag_id, t.name, t.group_name, t.is_deleted) for t in tags] == [
            (made["tag"], "咖啡", "兴趣", False)
        ]
        vip = db.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == made["chat"]))
        assert vip is not None
        assert (vip.name, vip.owner_staff_id, vip.member_count, vip.customer_count) == (
            "VIP 群",
            world.staff["guide1"],
            4,
            2,
        )
        detail = groups.group_detail(db, corp.admin, vip.id)
        linked = {m.member_userid: m.customer_id for m in detail.members}
        assert linked[g1[0]] == coded.customer_id
        assert linked[GUIDE2] is None
        assert {m.member_userid: m.staff_name for m in detail.members}[GUIDE2] == "guide2"
        added = db.scalars(select(Event).where(Event.type == "wecom.contact_added")).all()
        assert len(added) == 12
        account = channels.get_account(db, corp.admin, corp.account_id)
        state = account.sync_state["full"]
        assert state["status"] == RunStatus.DONE
        assert state["counts"]["contacts"] == 12
        assert state["unmapped_members"] == [UNMAPPED]
        assert account.last_synced_at is not None


def test_running_again_changes_nothing_and_ends_what_wecom_lost(corp: Corp) -> None:
    made = build_corp(corp)
    actor = actor_of(corp)
    sync.run_full_sync(actor, corp.account_id)
    customers_before = corp.count(Customer)

    again = sync.run_full_sync(actor, corp.account_id)
    assert again.counts["relations_started"] == 0
    assert again.counts["customers_created"] == 0
    assert again.counts.get("relations_ended", 0) == 0
    assert corp.count(Customer) == customers_before

    g2 = made["g2"]
    assert isinstance(g2, list)
    corp.do("follows/delete", {"userid": GUIDE2, "external_userid": g2[0], "by": "customer"})
    corp.do(f"groups/{made['chat']}/leave", {"userids": [made["g1"][1]]})  # type: ignore[index]
    corp.do(f"groups/{made['other']}/dismiss")
    third = sync.run_full_sync(actor, corp.account_id)
    assert third.counts["relations_ended"] == 1
    assert third.counts["groups_dismissed"] == 1
    assert corp.active() == corp.wecom_pairs()
    with unit_of_work(corp.admin) as db:
        gone = db.scalar(select(ContactRelation).where(ContactRelation.external_userid == g2[0]))
        assert gone is not None
        assert gone.status == RelationStatus.GONE
        assert gone.ended_at is not None
        assert db.scalars(select(Event.type).where(Event.type == "wecom.contact_gone")).all()
        vip = db.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == made["chat"]))
        assert vip is not None
        members = {m.member_userid: m for m in groups.list_members(db, corp.admin, vip.id)}
        left = members[made["g1"][1]]  # type: ignore[index]
        assert not left.is_active
        assert left.left_at is not None
        assert vip.member_count == 3
        bob = db.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == made["other"]))
        assert bob is not None
        assert bob.status == GroupStatus.DISMISSED
        joined = db.scalars(select(Event.type).where(Event.type == "wecom.group_left")).all()
        assert len(joined) == 2  # the member who left, and bob's customer at the dismissal


def test_a_second_run_is_refused_while_one_is_live(corp: Corp) -> None:
    actor = actor_of(corp)
    corp.seed(GUIDE1, 3)
    calls: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "contacts" and not calls:
            calls.append(stage)
            with pytest.raises(Conflict, match="already running"):
                sync.run_full_sync(actor, corp.account_id)

    sync.run_full_sync(actor, corp.account_id, progress=progress)
    assert calls == ["contacts"]


def test_a_failed_run_records_its_error_and_keeps_committed_work(corp: Corp) -> None:
    corp.seed(GUIDE1, 3)
    corp.do("faults", {"kind": "http", "api": "externalcontact/groupchat/list", "count": 10})
    with pytest.raises(Exception, match="HTTP 503"):
        sync.run_full_sync(actor_of(corp), corp.account_id)
    assert len(corp.active()) == 3
    with unit_of_work(corp.admin) as db:
        state = channels.get_account(db, corp.admin, corp.account_id).sync_state["full"]
        assert state["status"] == RunStatus.FAILED
        assert state["stage"] == "groups"
        assert state["error"]["code"] == "wecom_transport_error"
    corp.control.delete("/_fake/faults").raise_for_status()
    report = sync.run_full_sync(actor_of(corp), corp.account_id)
    assert report.mode is SyncMode.FULL
    assert report.counts["relations_started"] == 0
