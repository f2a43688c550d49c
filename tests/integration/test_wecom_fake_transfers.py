"""The fake's inheritance and customer groups against spec §3.6, §3.7 and §9, over raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.channels.wecom.fake.config import FakeConfig, TransferRule
from tests.fixtures.wecom.harness import Wire, assert_error

DAY = 86400


def transfer(
    wire: Wire,
    customers: list[str],
    handover: str = "zhangsan",
    takeover: str = "lisi",
    *,
    resigned: bool = False,
) -> dict[int, list[str]]:
    api = "externalcontact/" + ("resigned/transfer_customer" if resigned else "transfer_customer")
    answer = wire.post(
        api,
        {"handover_userid": handover, "takeover_userid": takeover, "external_userid": customers},
    )
    assert answer["errcode"] == 0, answer
    by_code: dict[int, list[str]] = {}
    for item in answer["customer"]:
        by_code.setdefault(item["errcode"], []).append(item["external_userid"])
    return by_code


def result(
    wire: Wire, handover: str = "zhangsan", takeover: str = "lisi", *, resigned: bool = False
) -> dict[str, dict[str, Any]]:
    api = "externalcontact/" + ("resigned/transfer_result" if resigned else "transfer_result")
    answer = wire.post(api, {"handover_userid": handover, "takeover_userid": takeover})
    assert answer["errcode"] == 0, answer
    return {c["external_userid"]: c for c in answer["customer"]}


def test_on_job_transfer_waits_24_hours_then_completes() -> None:
    wire = Wire(FakeConfig())
    a, b = wire.seed("zhangsan", 2)
    assert transfer(wire, [a]) == {0: [a]}
    now = int(wire.http.get("/_fake/time").json()["now"])
    assert result(wire)[a] == {"external_userid": a, "status": 2, "takeover_time": now + DAY}
    wire.advance(DAY - 1)
    assert result(wire)[a]["status"] == 2
    wire.advance(1)
    assert result(wire)[a]["status"] == 1
    followers = wire.get("externalcontact/get", external_userid=a)["follow_user"]
    assert [f["userid"] for f in followers] == ["lisi"]
    (event,) = wire.deliveries()
    assert event["change_type"] == "del_external_contact"
    assert "<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>" in event["xml"]
    assert "<UserID><![CDATA[zhangsan]]></UserID>" in event["xml"]
    assert [
        f["userid"] for f in wire.get("externalcontact/get", external_userid=b)["follow_user"]
    ] == ["zhangsan"]


def test_refusal_and_takeover_limit_reach_final_states() -> None:
    wire = Wire(FakeConfig())
    a, b = wire.seed("zhangsan", 2)
    wire.seed("lisi", 1)
    wire.control("members", {"userid": "lisi", "customer_cap": 3})
    assert transfer(wire, [a, b]) == {0: [a, b]}
    wire.control("transfers/refuse", {"external_userid": a})
    refused = result(wire)[a]
    assert (refused["status"], refused["takeover_time"]) == (3, 0)
    wire.seed("lisi", 1)  # lisi now holds 2 customers + 1 incoming = cap reached at takeover
    wire.control("members", {"userid": "lisi", "customer_cap": 2})
    wire.advance(DAY)
    assert result(wire)[b]["status"] == 4
    fails = [d["xml"] for d in wire.deliveries() if d["change_type"] == "transfer_fail"]
    assert "<FailReason><![CDATA[customer_refused]]></FailReason>" in fails[0]
    assert "<FailReason><![CDATA[customer_limit_exceed]]></FailReason>" in fails[1]
    followers = wire.get("externalcontact/get", external_userid=b)["follow_user"]
    assert [f["userid"] for f in followers] == ["zhangsan"]


def test_per_customer_transfer_codes() -> None:
    wire = Wire(FakeConfig())
    a, b = wire.seed("zhangsan", 2)
    (c,) = wire.seed("wangwu", 1)
    assert transfer(wire, [a]) == {0: [a]}
    assert transfer(wire, [a, c, "wmUnknown"]) == {40129: [a], 40131: [c], 40096: ["wmUnknown"]}
    assert transfer(wire, [b], "zhangsan", "zhangsan") == {40130: [b]}
    assert transfer(wire, [b], resigned=True) == {40097: [b]}
    wire.control("members", {"userid": "wangwu", "verified": False})
    assert transfer(wire, [b], takeover="wangwu") == {40098: [b]}
    wire.control("members", {"userid": "wangwu", "verified": True, "customer_cap": 1})
    assert transfer(wire, [b], takeover="wangwu") == {40099: [b]}


def test_transfer_request_limits() -> None:
    wire = Wire(FakeConfig())
    body = {"handover_userid": "zhangsan", "takeover_userid": "lisi"}
    too_many = {**body, "external_userid": [f"wm{i}" for i in range(101)]}
    assert_error(wire.post("externalcontact/transfer_customer", too_many), 40058)
    long_msg = {**body, "external_userid": ["wmA"], "transfer_success_msg": "字" * 201}
    assert_error(wire.post("externalcontact/transfer_customer", long_msg), 40058)
    assert_error(wire.post("externalcontact/transfer_customer", body), 40063)


@pytest.mark.parametrize(
    ("rule", "allowed"),
    [(TransferRule.WINDOW_90_MAX_2, 2), (TransferRule.WINDOW_90_MAX_1, 1),
     (TransferRule.LIFETIME_2, 2)],
)  # fmt: skip
def test_transfer_frequency_rules_give_40128(rule: TransferRule, allowed: int) -> None:
    wire = Wire(FakeConfig(transfer_rule=rule))
    (a,) = wire.seed("zhangsan", 1)
    holders = ["zhangsan", "lisi", "wangwu", "zhangsan"]
    for i in range(allowed):
        assert transfer(wire, [a], holders[i], holders[i + 1]) == {0: [a]}
        wire.advance(DAY)
    assert transfer(wire, [a], holders[allowed], holders[allowed + 1]) == {40128: [a]}
    wire.advance(91 * DAY)
    again = transfer(wire, [a], holders[allowed], holders[allowed + 1])
    assert again == ({40128: [a]} if rule is TransferRule.LIFETIME_2 else {0: [a]})


def test_resigned_transfer_and_unassigned_list() -> None:
    wire = Wire(FakeConfig())
    a, b = wire.seed("wangwu", 2)
    empty = wire.post("externalcontact/get_unassigned_list", {})
    assert (empty["info"], empty["is_last"], empty["next_cursor"]) == ([], True, "")
    wire.control("members/wangwu/resign")
    info = wire.post("externalcontact/get_unassigned_list", {"page_size": 1})
    assert info["is_last"] is False
    assert info["info"][0]["handover_userid"] == "wangwu"
    assert isinstance(info["info"][0]["dimission_time"], int)
    rest = wire.post("externalcontact/get_unassigned_list", {"cursor": info["next_cursor"]})
    assert rest["is_last"] is True
    assert {i["external_userid"] for i in info["info"] + rest["info"]} == {a, b}
    assert transfer(wire, [a], "wangwu", "lisi", resigned=True) == {0: [a]}
    left = wire.post("externalcontact/get_unassigned_list", {})["info"]
    assert [i["external_userid"] for i in left] == [b]
    wire.advance(DAY)
    assert result(wire, "wangwu", "lisi", resigned=True)[a]["status"] == 1
    assert not [d for d in wire.deliveries() if d["change_type"] == "del_external_contact"]


def test_group_chats_list_get_and_member_changes() -> None:
    wire = Wire(FakeConfig())
    a, b = wire.seed("zhangsan", 2)
    chat = wire.control("groups", {"owner": "zhangsan", "name": "VIP", "members": [a, "lisi"]})
    chat_id = chat["chat_id"]
    assert chat_id.startswith("wr")
    wire.control(f"groups/{chat_id}/join", {"userids": [b], "scene": 3})
    wire.control(f"groups/{chat_id}/leave", {"userids": [a], "scene": 0})
    wire.control(f"groups/{chat_id}/rename", {"name": "VIP 2"})
    assert_error(wire.post("externalcontact/groupchat/list", {}), 40063)
    assert_error(wire.post("externalcontact/groupchat/list", {"limit": 1001}), 40058)
    listed = wire.post("externalcontact/groupchat/list", {"limit": 10})
    assert listed["group_chat_list"] == [{"chat_id": chat_id, "status": 0}]
    group = wire.post("externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})
    detail = group["group_chat"]
    assert detail["name"] == "VIP 2"
    assert detail["owner"] == "zhangsan"
    members = {m["userid"]: m for m in detail["member_list"]}
    assert set(members) == {"zhangsan", "lisi", b}
    assert members[b]["type"] == 2
    assert members[b]["join_scene"] == 3
    assert members["lisi"]["type"] == 1
    assert "name" in members[b]
    changes = [(d["change_type"], d["xml"]) for d in wire.deliveries()]
    assert [c for c, _ in changes] == ["create", "update", "update", "update"]
    assert (
        "<UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene>"
        in (changes[1][1])
    )
    assert f"<MemChangeList><Item>{a}</Item></MemChangeList>" in changes[2][1]
    wire.control(f"groups/{chat_id}/dismiss")
    assert wire.deliveries()[-1]["change_type"] == "dismiss"
    assert_error(wire.post("externalcontact/groupchat/get", {"chat_id": chat_id}), 90501)


def test_group_transfers() -> None:
    wire = Wire(FakeConfig())
    chat_id = wire.control("groups", {"owner": "wangwu", "name": "g"})["chat_id"]
    body = {"chat_id_list": [chat_id, "wrNope"], "new_owner": "lisi"}
    answer = wire.post("externalcontact/groupchat/transfer", body)
    assert [(f["chat_id"], f["errcode"]) for f in answer["failed_chat_list"]] == [
        (chat_id, 90500),
        ("wrNope", 90501),
    ]
    wire.control("members/wangwu/resign")
    listed = wire.post("externalcontact/groupchat/list", {"limit": 10, "status_filter": 1})[
        "group_chat_list"
    ]
    assert listed == [{"chat_id": chat_id, "status": 1}]
    assert wire.post("externalcontact/groupchat/transfer", body)["failed_chat_list"] == [
        {"chat_id": "wrNope", "errcode": 90501, "errmsg": "failed"}
    ]
    owner = wire.post("externalcontact/groupchat/get", {"chat_id": chat_id})["group_chat"]["owner"]
    assert owner == "lisi"
    same = wire.post("externalcontact/groupchat/onjob_transfer", {"chat_id_list": [chat_id],
                                                                  "new_owner": "lisi"})  # fmt: skip
    assert same["failed_chat_list"][0]["errcode"] == 90504
