"""The fake's customers, tags and contact ways against spec §3.1–§3.3 and §9, over raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.channels.wecom.fake.config import FakeConfig
from tests.fixtures.wecom.harness import Wire, assert_error


@pytest.fixture
def wire() -> Wire:
    return Wire(FakeConfig(corp_tag_limit=6))


def test_follow_user_list_and_visibility(wire: Wire) -> None:
    wire.control("members", {"userid": "hidden", "visible": False})
    wire.control("members", {"userid": "nocontact", "contact_enabled": False})
    users = wire.get("externalcontact/get_follow_user_list")["follow_user"]
    assert users == ["zhangsan", "lisi", "wangwu"]
    assert_error(wire.get("externalcontact/list", userid="hidden"), 60011)
    assert_error(wire.get("externalcontact/list", userid="nocontact"), 84074)
    assert_error(wire.get("externalcontact/list", userid="ghost"), 40003)
    assert_error(wire.get("externalcontact/list", userid="zhangsan"), 84061)


def test_get_contact_fields_and_errors(wire: Wire) -> None:
    way = wire.way(state="store-001")
    added = wire.control(f"contact_ways/{way}/scan", {"name": "李四"})
    detail = wire.get("externalcontact/get", external_userid=added["external_userid"])
    contact = detail["external_contact"]
    assert contact["name"] == "李四"
    assert {"external_userid", "name", "avatar", "type", "gender", "unionid"} <= contact.keys()
    assert contact["type"] == 1
    follow = detail["follow_user"][0]
    assert follow["userid"] == "zhangsan"
    assert follow["state"] == "store-001"
    assert follow["add_way"] == 1
    assert isinstance(follow["createtime"], int)
    assert detail["next_cursor"] == ""
    assert_error(wire.get("externalcontact/get"), 41035)
    assert_error(wire.get("externalcontact/get", external_userid="wmUnknown"), 40096)


def test_batch_get_by_user_pages_with_snapshot_cursors(wire: Wire) -> None:
    seeded = wire.seed("zhangsan", 250, state="bulk")
    body: dict[str, Any] = {"userid_list": ["zhangsan"], "limit": 500}  # clamped to 100
    seen: list[str] = []
    pages = 0
    while True:
        answer = wire.post("externalcontact/batch/get_by_user", body)
        assert answer["errcode"] == 0
        pages += 1
        items = answer["external_contact_list"]
        assert len(items) <= 100
        seen += [i["external_contact"]["external_userid"] for i in items]
        assert all(i["follow_info"]["state"] == "bulk" for i in items)
        assert all("tag_id" in i["follow_info"] for i in items)
        if pages == 1:
            wire.seed("zhangsan", 30)  # changes after the first page do not leak in
        if not answer["next_cursor"]:
            break
        body = {"userid_list": ["zhangsan"], "limit": 100, "cursor": answer["next_cursor"]}
    assert pages == 3
    assert seen == seeded
    assert len(set(seen)) == 250


def test_cursors_are_bound_and_expire() -> None:
    wire = Wire(FakeConfig(cursor_ttl=60))
    wire.seed("zhangsan", 3)
    wire.seed("lisi", 3)
    first = wire.post(
        "externalcontact/batch/get_by_user", {"userid_list": ["zhangsan"], "limit": 1}
    )
    cursor = first["next_cursor"]
    assert cursor
    forged = {"userid_list": ["zhangsan"], "limit": 1, "cursor": cursor[:-1] + "x"}
    assert_error(wire.post("externalcontact/batch/get_by_user", forged), 50100)
    foreign = {"userid_list": ["lisi"], "limit": 1, "cursor": cursor}
    assert_error(wire.post("externalcontact/batch/get_by_user", foreign), 50100)
    wire.advance(61)
    expired = {"userid_list": ["zhangsan"], "limit": 1, "cursor": cursor}
    assert_error(wire.post("externalcontact/batch/get_by_user", expired), 50100)


def test_batch_limits(wire: Wire) -> None:
    too_many = {"userid_list": [f"u{i}" for i in range(101)]}
    assert_error(wire.post("externalcontact/batch/get_by_user", too_many), 40058)
    assert_error(wire.post("externalcontact/batch/get_by_user", {"userid_list": []}), 40063)
    assert_error(wire.post("externalcontact/batch/get_by_user", {"userid_list": ["lisi"]}), 84061)


def test_remark_rules_and_no_callback(wire: Wire) -> None:
    external = wire.seed("zhangsan", 1)[0]
    base = {"userid": "zhangsan", "external_userid": external}
    assert wire.post("externalcontact/remark", {**base, "remark": "r" * 20})["errcode"] == 0
    assert_error(wire.post("externalcontact/remark", {**base, "remark": "r" * 21}), 40058)
    assert_error(wire.post("externalcontact/remark", {**base, "description": "d" * 151}), 40058)
    assert_error(wire.post("externalcontact/remark", {**base, "remark_company": "c" * 21}), 40058)
    assert_error(wire.post("externalcontact/remark", base), 40063)
    mobiles = {**base, "remark_mobiles": ["13800000000", "13900000000"]}
    assert wire.post("externalcontact/remark", mobiles)["errcode"] == 0
    follow = wire.get("externalcontact/get", external_userid=external)["follow_user"][0]
    assert follow["remark"] == "r" * 20
    assert follow["remark_mobiles"] == ["13800000000", "13900000000"]
    wire.post("externalcontact/remark", {**base, "remark_mobiles": [""]})
    follow = wire.get("externalcontact/get", external_userid=external)["follow_user"][0]
    assert follow["remark_mobiles"] == []
    assert_error(
        wire.post("externalcontact/remark", {**base, "userid": "lisi", "remark": "x"}), 84061
    )
    assert wire.deliveries() == []  # API changes produce no callbacks


def test_corp_tags_lifecycle(wire: Wire) -> None:
    added = wire.post(
        "externalcontact/add_corp_tag",
        {"group_name": "会员等级", "order": 1, "tag": [{"name": "金卡"}, {"name": "金卡"},
                                                     {"name": "银卡", "order": 5}]},
    )  # fmt: skip
    assert added["errcode"] == 0
    group = added["tag_group"]
    assert {"group_id", "group_name", "create_time", "order", "deleted", "tag"} <= group.keys()
    assert [t["name"] for t in group["tag"]] == ["银卡", "金卡"]  # larger order first
    assert all(t["id"].startswith("et") for t in group["tag"])
    more = wire.post(
        "externalcontact/add_corp_tag", {"group_name": "会员等级", "tag": [{"name": "铜卡"}]}
    )
    assert more["tag_group"]["group_id"] == group["group_id"]
    listed = wire.post("externalcontact/get_corp_tag_list", {})["tag_group"]
    assert len(listed) == 1
    assert len(listed[0]["tag"]) == 3
    gold = next(t["id"] for t in group["tag"] if t["name"] == "金卡")
    only = wire.post("externalcontact/get_corp_tag_list", {"tag_id": [gold]})["tag_group"]
    assert [t["name"] for t in only[0]["tag"]] == ["金卡"]
    assert wire.post("externalcontact/edit_corp_tag", {"id": gold, "name": "黑卡"})["errcode"] == 0
    assert_error(wire.post("externalcontact/edit_corp_tag", {"id": gold, "name": "银卡"}), 40058)
    assert_error(wire.post("externalcontact/edit_corp_tag", {"id": gold, "name": "x" * 31}), 40058)
    assert_error(wire.post("externalcontact/add_corp_tag", {"group_name": "空"}), 40058)
    assert_error(wire.post("externalcontact/del_corp_tag", {}), 40063)
    ids = [
        t["id"] for t in wire.post("externalcontact/get_corp_tag_list", {})["tag_group"][0]["tag"]
    ]
    assert wire.post("externalcontact/del_corp_tag", {"tag_id": ids})["errcode"] == 0
    assert wire.post("externalcontact/get_corp_tag_list", {})["tag_group"] == []  # group gone
    assert wire.deliveries() == []


def test_corp_tag_limit_is_40126(wire: Wire) -> None:
    tags = [{"name": f"t{i}"} for i in range(6)]
    assert (
        wire.post("externalcontact/add_corp_tag", {"group_name": "g", "tag": tags})["errcode"] == 0
    )
    over = {"group_name": "h", "tag": [{"name": "one-too-many"}]}
    assert_error(wire.post("externalcontact/add_corp_tag", over), 40126)


def test_mark_tag(wire: Wire) -> None:
    external = wire.seed("zhangsan", 1)[0]
    tag_id = wire.post(
        "externalcontact/add_corp_tag", {"group_name": "g", "tag": [{"name": "vip"}]}
    )["tag_group"]["tag"][0]["id"]
    body = {"userid": "zhangsan", "external_userid": external, "add_tag": [tag_id]}
    assert wire.post("externalcontact/mark_tag", body)["errcode"] == 0
    follow = wire.get("externalcontact/get", external_userid=external)["follow_user"][0]
    assert follow["tags"] == [{"group_name": "g", "tag_name": "vip", "tag_id": tag_id, "type": 1}]
    batch = wire.post("externalcontact/batch/get_by_user", {"userid_list": ["zhangsan"]})
    assert batch["external_contact_list"][0]["follow_info"]["tag_id"] == [tag_id]
    assert_error(wire.post("externalcontact/mark_tag", {**body, "add_tag": ["etNope"]}), 40058)
    assert wire.deliveries() == []


def test_contact_way_validation(wire: Wire) -> None:
    def post(body: dict[str, Any]) -> Any:
        return wire.post("externalcontact/add_contact_way", body)

    assert_error(post({"scene": 2, "user": ["zhangsan"]}), 41037)
    assert_error(post({"type": 1, "user": ["zhangsan"]}), 41038)
    assert_error(post({"type": 3, "scene": 2, "user": ["zhangsan"]}), 41039)
    assert_error(post({"type": 1, "scene": 3, "user": ["zhangsan"]}), 41040)
    assert_error(post({"type": 1, "scene": 1, "style": 9, "user": ["zhangsan"]}), 41042)
    assert_error(post({"type": 1, "scene": 2, "user": ["zhangsan"], "state": "s" * 31}), 40058)
    assert_error(post({"type": 1, "scene": 2, "user": ["zhangsan"], "remark": "r" * 31}), 40058)
    assert_error(post({"type": 2, "scene": 2, "user": ["zhangsan"], "party": ["x"]}), 40058)
    assert_error(post({"type": 1, "scene": 2, "user": ["zhangsan"], "party": [1]}), 40058)
    many = [f"m{i}" for i in range(101)]
    assert_error(post({"type": 2, "scene": 2, "user": many}), 41041)
    wire.control("members", {"userid": "inactive", "active": False})
    wire.control("members", {"userid": "unverified", "verified": False})
    wire.control("members", {"userid": "plain", "contact_enabled": False})
    assert_error(post({"type": 1, "scene": 2, "user": ["inactive"]}), 41054)
    assert_error(post({"type": 1, "scene": 2, "user": ["unverified"]}), 40098)
    assert_error(post({"type": 1, "scene": 2, "user": ["plain"]}), 84074)
    assert_error(post({"type": 1, "scene": 2, "user": ["ghost"]}), 40003)
    assert_error(wire.post("externalcontact/get_contact_way", {}), 41043)
    assert_error(wire.post("externalcontact/get_contact_way", {"config_id": "nope"}), 41044)


def test_contact_way_quota_is_41045() -> None:
    wire = Wire(FakeConfig(contact_way_limit=2))
    wire.way()
    wire.way()
    answer = wire.post(
        "externalcontact/add_contact_way", {"type": 1, "scene": 2, "user": ["zhangsan"]}
    )
    assert_error(answer, 41045)
    temp = {"type": 1, "scene": 2, "user": ["zhangsan"], "is_temp": True}
    assert wire.post("externalcontact/add_contact_way", temp)["errcode"] == 0


def test_contact_way_crud_and_list(wire: Wire) -> None:
    config_id = wire.way(state="store-001", remark="门店一")
    way = wire.post("externalcontact/get_contact_way", {"config_id": config_id})["contact_way"]
    assert way["state"] == "store-001"
    assert way["type"] == 1
    assert way["scene"] == 2
    assert way["user"] == ["zhangsan"]
    assert way["qr_code"].startswith("https://")
    assert way["skip_verify"] is True
    update = {"config_id": config_id, "state": "store-002", "user": ["lisi"]}
    assert wire.post("externalcontact/update_contact_way", update)["errcode"] == 0
    way = wire.post("externalcontact/get_contact_way", {"config_id": config_id})["contact_way"]
    assert (way["state"], way["user"]) == ("store-002", ["lisi"])
    others = [wire.way() for _ in range(3)]
    listed = wire.post("externalcontact/list_contact_way", {"limit": 2})
    assert len(listed["contact_way"]) == 2
    rest = wire.post(
        "externalcontact/list_contact_way", {"limit": 2, "cursor": listed["next_cursor"]}
    )
    ids = [w["config_id"] for w in listed["contact_way"] + rest["contact_way"]]
    assert sorted(ids) == sorted([config_id, *others])  # all made in the same second
    assert rest["next_cursor"] == ""
    assert_error(wire.post("externalcontact/list_contact_way", {"limit": 1001}), 40058)
    assert wire.post("externalcontact/del_contact_way", {"config_id": config_id})["errcode"] == 0
    assert_error(wire.post("externalcontact/get_contact_way", {"config_id": config_id}), 41044)


def test_scan_emits_add_event_with_state(wire: Wire) -> None:
    config_id = wire.way(state="store-009")
    added = wire.control(f"contact_ways/{config_id}/scan", {})
    (delivery,) = wire.deliveries()
    assert delivery["change_type"] == "add_external_contact"
    xml = delivery["xml"]
    assert "<State><![CDATA[store-009]]></State>" in xml
    assert f"<ExternalUserID><![CDATA[{added['external_userid']}]]></ExternalUserID>" in xml
    assert f"<WelcomeCode><![CDATA[{added['welcome_code']}]]></WelcomeCode>" in xml
    half = wire.control(f"contact_ways/{config_id}/scan", {"half": True})
    assert wire.deliveries()[1]["change_type"] == "add_half_external_contact"
    assert half["welcome_code"]


def test_client_side_actions_emit_events(wire: Wire) -> None:
    a, b = wire.seed("zhangsan", 2)
    wire.control("follows/edit", {"userid": "zhangsan", "external_userid": a, "remark": "x"})
    wire.control("follows/delete", {"userid": "zhangsan", "external_userid": a, "by": "member"})
    wire.control("follows/delete", {"userid": "zhangsan", "external_userid": b, "by": "customer"})
    created = wire.control("tags/console", {"action": "create", "group_name": "g", "tag_name": "t"})
    wire.control("tags/console", {"action": "update", "id": created["id"], "name": "t2"})
    wire.control("tags/console", {"action": "delete", "id": created["group_id"]})
    kinds = [(d["event"], d["change_type"]) for d in wire.deliveries()]
    assert kinds == [
        ("change_external_contact", "edit_external_contact"),
        ("change_external_contact", "del_external_contact"),
        ("change_external_contact", "del_follow_user"),
        ("change_external_tag", "create"),
        ("change_external_tag", "update"),
        ("change_external_tag", "delete"),
    ]
    assert "<TagType><![CDATA[tag_group]]></TagType>" in wire.deliveries()[-1]["xml"]
    assert_error(wire.get("externalcontact/get", external_userid=a), 84061)
