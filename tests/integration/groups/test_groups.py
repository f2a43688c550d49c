"""Customer groups: what ``apply_group`` writes, dismissals, owner changes, and the API."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.channels import service as channels
from siyu.channels.wecom import sync
from siyu.channels.wecom.models import WeComCorpTag
from siyu.channels.wecom.schemas import GroupChat, GroupChatMember, UserRef
from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK
from siyu.core.db import unit_of_work
from siyu.events.models import Event
from siyu.groups import service as groups
from siyu.groups.models import GroupStatus
from tests.factories import auth
from tests.integration.sync.conftest import GUIDE1, GUIDE3, UNMAPPED, Corp

T0 = 1_790_000_000


def chat(chat_id: str, owner: str, *members: tuple[str, int], name: str = "群") -> GroupChat:
    return GroupChat(
        chat_id=chat_id,
        name=name,
        owner=owner,
        create_time=T0,
        member_list=[
            GroupChatMember(userid=u, type=t, join_time=T0 + i, join_scene=1,
                            invitor=UserRef(userid=owner))
            for i, (u, t) in enumerate(members)
        ],
    )  # fmt: skip


def channel(corp: Corp) -> Actor:
    return channels.channel_actor(corp.world.tenant_id, "Asia/Shanghai", "main")


def test_apply_group_tracks_members_links_customers_and_records_moves(corp: Corp) -> None:
    a, b = corp.seed(GUIDE1, 2)
    actor = channel(corp)
    sync.run_full_sync(actor, corp.account_id)  # a and b become customers
    now = SYSTEM_CLOCK.now()
    with unit_of_work(actor) as db:
        first = groups.apply_group(
            db, actor, account_id=corp.account_id,
            chat=chat("wrG1", GUIDE1, (GUIDE1, 1), (a, 2), ("wm-stranger", 2)), now=now,
        )  # fmt: skip
        assert first.created
        assert first.joined == []
        assert first.left == []
        group_id = first.group.id
        again = groups.apply_group(
            db, actor, account_id=corp.account_id,
            chat=chat("wrG1", GUIDE1, (GUIDE1, 1), (a, 2), ("wm-stranger", 2)), now=now,
        )  # fmt: skip
        assert not again.changed
        moved = groups.apply_group(
            db, actor, account_id=corp.account_id,
            chat=chat("wrG1", GUIDE1, (GUIDE1, 1), (b, 2)), now=now,
        )  # fmt: skip
        assert moved.joined == [b]
        assert sorted(moved.left) == sorted([a, "wm-stranger"])
        back = groups.apply_group(
            db, actor, account_id=corp.account_id,
            chat=chat("wrG1", GUIDE1, (GUIDE1, 1), (a, 2), (b, 2)), now=now,
        )  # fmt: skip
        assert back.joined == [a]
        members = {m.member_userid: m for m in groups.list_members(db, actor, group_id)}
        assert members[a].is_active
        assert members[a].left_at is None
        assert not members["wm-stranger"].is_active
        assert members["wm-stranger"].customer_id is None
        assert members[a].customer_id is not None
        assert members[GUIDE1].invitor_userid == GUIDE1
        kinds = [
            (e.type, e.data["external_userid"])
            for e in db.scalars(select(Event).where(Event.type.like("wecom.group_%")))
        ]
        # the stranger is no customer: no event for them
        assert sorted(kinds) == sorted(
            [("wecom.group_joined", b), ("wecom.group_left", a), ("wecom.group_joined", a)]
        )
        group = groups.get_group(db, actor, group_id)
        assert (group.member_count, group.customer_count) == (3, 2)


def test_owner_changes_and_dismissals(corp: Corp) -> None:
    actor = channel(corp)
    now = SYSTEM_CLOCK.now()
    with unit_of_work(actor) as db:
        applied = groups.apply_group(
            db, actor, account_id=corp.account_id, chat=chat("wrG2", GUIDE1, (GUIDE1, 1)), now=now
        )
        assert applied.group.owner_staff_id == corp.world.staff["guide1"]
        moved = groups.change_owner(
            db, actor, account_id=corp.account_id, chat_id="wrG2", new_owner_userid=GUIDE3, at=now
        )
        assert moved is not None
        assert (moved.owner_userid, moved.owner_staff_id) == (GUIDE3, corp.world.staff["guide3"])
        unknown = groups.change_owner(
            db, actor, account_id=corp.account_id, chat_id="wrNO", new_owner_userid=GUIDE3, at=now
        )
        assert unknown is None
        gone = groups.dismiss_group(db, actor, account_id=corp.account_id, chat_id="wrG2", at=now)
        assert gone is not None
        assert gone.status == GroupStatus.DISMISSED
        assert gone.member_count == 0
        assert all(not m.is_active for m in groups.list_members(db, actor, gone.id))
        assert (
            groups.dismiss_group(db, actor, account_id=corp.account_id, chat_id="wrNO", at=now)
            is None
        )


def test_sync_group_reads_one_group_and_dismisses_a_vanished_one(corp: Corp) -> None:
    actor = channel(corp)
    (a,) = corp.seed(GUIDE1, 1)
    chat_id = corp.do("groups", {"owner": GUIDE1, "name": "一群", "members": [a]})["chat_id"]
    sync.sync_group(actor, corp.account_id, chat_id)
    corp.do(f"groups/{chat_id}/rename", {"name": "二群"})
    sync.sync_group(actor, corp.account_id, chat_id)
    with unit_of_work(actor) as db:
        (group,) = groups.list_groups(db, actor).items
        assert group.name == "二群"
    corp.do(f"groups/{chat_id}/dismiss")
    sync.sync_group(actor, corp.account_id, chat_id)
    with unit_of_work(actor) as db:
        (group,) = groups.list_groups(db, actor).items
        assert group.status == GroupStatus.DISMISSED


def test_sync_corp_tags_mirrors_and_flags_deleted_tags(corp: Corp) -> None:
    actor = channel(corp)
    made = corp.do("tags/console", {"action": "create", "group_name": "等级", "tag_name": "金卡"})
    corp.do("tags/console", {"action": "create", "group_name": "等级", "tag_name": "银卡"})
    assert sync.sync_corp_tags(actor, corp.account_id) == 2
    corp.do("tags/console", {"action": "delete", "id": made["id"]})
    assert sync.sync_corp_tags(actor, corp.account_id) == 1
    with unit_of_work(actor) as db:
        tags = {t.name: t.is_deleted for t in db.scalars(select(WeComCorpTag))}
    assert tags == {"金卡": True, "银卡": False}


def test_groups_api_lists_scopes_pages_and_reads_members(
    world_corp: Corp, client: TestClient
) -> None:
    corp = world_corp
    a, b = corp.seed(GUIDE1, 2)
    (c,) = corp.seed(GUIDE3, 1)
    g1 = corp.do("groups", {"owner": GUIDE1, "name": "咖啡 VIP", "members": [a, b]})["chat_id"]
    corp.do("groups", {"owner": GUIDE3, "name": "Store 2", "members": [c]})
    corp.do("groups", {"owner": UNMAPPED, "name": "无主", "members": []})
    sync.run_full_sync(channel(corp), corp.account_id)
    users = corp.world.users  # type: ignore[union-attr]
    admin = auth(users["admin"])

    page = client.get("/api/v1/groups", headers=admin, params={"limit": 2})
    assert page.status_code == 200
    body = page.json()
    assert len(body["items"]) == 2
    assert body["next_cursor"]
    rest = client.get(
        "/api/v1/groups", headers=admin, params={"limit": 2, "cursor": body["next_cursor"]}
    ).json()
    names = {g["name"] for g in body["items"] + rest["items"]}
    assert names == {"咖啡 VIP", "Store 2", "无主"}
    assert rest["next_cursor"] is None

    found = client.get("/api/v1/groups", headers=admin, params={"q": "咖啡"}).json()["items"]
    (vip,) = found
    assert (vip["owner_name"], vip["member_count"], vip["customer_count"]) == ("guide1", 3, 2)
    assert vip["status"] == "active"
    detail = client.get(f"/api/v1/groups/{vip['id']}", headers=admin).json()
    members = {m["member_userid"]: m for m in detail["members"]}
    assert members[GUIDE1]["kind"] == "staff"
    assert members[GUIDE1]["staff_name"] == "guide1"
    assert members[a]["kind"] == "customer"
    assert members[a]["customer_id"]
    assert members[a]["customer_name"]
    customer = client.get(f"/api/v1/customers/{members[a]['customer_id']}", headers=admin)
    assert customer.status_code == 200

    # guides see their own groups; a store manager those of staff in the store
    mine = client.get("/api/v1/groups", headers=auth(users["guide1"])).json()["items"]
    assert [g["chat_id"] for g in mine] == [g1]
    other_guide = auth(users["guide3"])
    assert client.get(f"/api/v1/groups/{vip['id']}", headers=other_guide).status_code == 404
    store1 = client.get("/api/v1/groups", headers=auth(users["manager1"])).json()["items"]
    assert [g["chat_id"] for g in store1] == [g1]

    dismissed = client.get("/api/v1/groups", headers=admin, params={"status": "dismissed"})
    assert dismissed.json()["items"] == []
    bad = client.get("/api/v1/groups", headers=admin, params={"cursor": "nope"})
    assert bad.status_code == 422
    assert bad.json()["hint"]
    missing = client.get(f"/api/v1/groups/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404
