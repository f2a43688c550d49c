"""The fake's welcome and mass messages against spec §3.4, §3.5, §4 and §9, over raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from siyu.channels.wecom.fake.config import FakeConfig, QuotaRule
from tests.fixtures.wecom.harness import Wire, assert_error


def scan(wire: Wire, **way: Any) -> dict[str, Any]:
    result: dict[str, Any] = wire.control(f"contact_ways/{wire.way(**way)}/scan", {})
    return result


def test_welcome_code_is_valid_20_seconds_and_once() -> None:
    wire = Wire(FakeConfig())
    code = scan(wire)["welcome_code"]
    assert code
    body = {"welcome_code": code, "text": {"content": "欢迎光临"}}
    wire.advance(20)
    assert wire.post("externalcontact/send_welcome_msg", body)["errcode"] == 0
    assert_error(wire.post("externalcontact/send_welcome_msg", body), 41051)
    sent = wire.http.get("/_fake/welcome_messages").json()["sent"]
    assert sent[0]["text"] == "欢迎光临"
    late = scan(wire)["welcome_code"]
    wire.advance(21)
    text = {"text": {"content": "x"}}
    assert_error(
        wire.post("externalcontact/send_welcome_msg", {"welcome_code": late, **text}), 41050
    )
    assert_error(wire.post("externalcontact/send_welcome_msg", text), 41049)
    forged = {"welcome_code": "forged", **text}
    assert_error(wire.post("externalcontact/send_welcome_msg", forged), 41050)


def test_welcome_content_rules() -> None:
    wire = Wire(FakeConfig())
    code = scan(wire)["welcome_code"]
    assert_error(wire.post("externalcontact/send_welcome_msg", {"welcome_code": code}), 40063)
    long_text = {"welcome_code": code, "text": {"content": "字" * 1334}}  # 4002 bytes
    assert_error(wire.post("externalcontact/send_welcome_msg", long_text), 40058)
    ten = [{"msgtype": "image", "image": {"media_id": "m"}}] * 10
    assert_error(
        wire.post("externalcontact/send_welcome_msg", {"welcome_code": code, "attachments": ten}),
        40058,
    )
    link = [{"msgtype": "link", "link": {"title": "t", "url": "https://x"}}]
    ok = {"welcome_code": code, "attachments": link}
    assert wire.post("externalcontact/send_welcome_msg", ok)["errcode"] == 0


def test_no_welcome_code_with_a_console_welcome_message() -> None:
    wire = Wire(FakeConfig())
    wire.control("members", {"userid": "zhangsan", "console_welcome": True})
    assert scan(wire)["welcome_code"] is None
    assert "<WelcomeCode>" not in wire.deliveries()[0]["xml"]


def mass(wire: Wire, **body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = wire.post(
        "externalcontact/add_msg_template", {"text": {"content": "新品到店"}, **body}
    )
    return answer


def test_mass_message_lifecycle_and_statuses() -> None:
    wire = Wire(FakeConfig(dispatch_window=2))
    a, b, c = wire.seed("zhangsan", 3)
    created = mass(wire, external_userid=[a, b, c, "wmUnknown"])
    assert created["errcode"] == 0
    assert created["fail_list"] == ["wmUnknown"]
    again = mass(wire, external_userid=[a])
    assert again["msgid"] != created["msgid"]
    msgid = created["msgid"]
    assert_error(wire.post("externalcontact/get_groupmsg_task", {"msgid": msgid}), 41063)
    wire.advance(2)
    tasks = wire.post("externalcontact/get_groupmsg_task", {"msgid": msgid})
    assert tasks["task_list"] == [{"userid": "zhangsan", "status": 0}]
    result = wire.post(
        "externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "zhangsan"}
    )
    assert {r["status"] for r in result["send_list"]} == {0}
    wire.control("follows/delete", {"userid": "zhangsan", "external_userid": c, "by": "customer"})
    confirmed = wire.control(f"mass/{msgid}/confirm", {"userid": "zhangsan"})
    assert confirmed == {"sent": 2, "not_friend": 1, "quota_exceeded": 0}
    tasks = wire.post("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
    assert tasks[0]["status"] == 2
    assert isinstance(tasks[0]["send_time"], int)
    send = wire.post(
        "externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "zhangsan"}
    )["send_list"]
    by_customer = {s["external_userid"]: s for s in send}
    assert by_customer[a]["status"] == 1
    assert "send_time" in by_customer[a]
    assert by_customer[c]["status"] == 2
    assert "send_time" not in by_customer[c]
    assert all(s["userid"] == "zhangsan" for s in send)


def test_mass_message_errors() -> None:
    wire = Wire(FakeConfig())
    assert_error(mass(wire, external_userid=["wmUnknown"]), 41048)
    assert_error(mass(wire), 40063)
    assert_error(mass(wire, external_userid=[f"wm{i}" for i in range(10_001)]), 40058)
    assert_error(mass(wire, chat_type="group"), 40063)
    assert_error(wire.post("externalcontact/get_groupmsg_task", {}), 41046)
    assert_error(wire.post("externalcontact/get_groupmsg_task", {"msgid": "nope"}), 41047)
    too_long = {"msgtype": "link", "link": {"title": "t" * 129, "url": "https://x"}}
    assert_error(mass(wire, sender="zhangsan", attachments=[too_long]), 40058)


@pytest.mark.parametrize(
    ("rule", "allowed"),
    [(QuotaRule.DAY_1, 1), (QuotaRule.WEEK_7, 7), (QuotaRule.MONTH_DAYS, 31),
     (QuotaRule.LEGACY_MONTH_4, 4)],
)  # fmt: skip
def test_receiving_quota_gives_status_3(rule: QuotaRule, allowed: int) -> None:
    wire = Wire(FakeConfig(quota_rule=rule, dispatch_window=0))
    (customer,) = wire.seed("zhangsan", 1)
    statuses = []
    for _ in range(allowed + 1):
        msgid = mass(wire, external_userid=[customer])["msgid"]
        wire.control(f"mass/{msgid}/confirm", {"userid": "zhangsan"})
        send = wire.post(
            "externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "zhangsan"}
        )
        statuses.append(send["send_list"][0]["status"])
    assert statuses == [1] * allowed + [3]


def test_day_quota_resets_at_shanghai_midnight() -> None:
    wire = Wire(FakeConfig(quota_rule=QuotaRule.DAY_1, dispatch_window=0))
    (customer,) = wire.seed("zhangsan", 1)

    def send() -> int:
        msgid = mass(wire, external_userid=[customer])["msgid"]
        return int(wire.control(f"mass/{msgid}/confirm", {"userid": "zhangsan"})["sent"])

    assert send() == 1
    wire.advance(6 * 3600)  # 23:00:10 Shanghai, same day
    assert send() == 0
    wire.advance(3600)  # 00:00:10 next day
    assert send() == 1


def test_member_published_messages_count_and_are_listed() -> None:
    wire = Wire(FakeConfig(quota_rule=QuotaRule.DAY_1, dispatch_window=0))
    (customer,) = wire.seed("zhangsan", 1)
    published = wire.control("mass/publish", {"userid": "zhangsan", "text": "hi"})
    assert published["sent"] == 1
    msgid = mass(wire, external_userid=[customer])["msgid"]
    assert wire.control(f"mass/{msgid}/confirm", {"userid": "zhangsan"})["quota_exceeded"] == 1
    now = wire.http.get("/_fake/time").json()["now"]
    listed = wire.post(
        "externalcontact/get_groupmsg_list_v2",
        {"chat_type": "single", "start_time": int(now) - 60, "end_time": int(now) + 60,
         "filter_type": 1},
    )  # fmt: skip
    (item,) = listed["group_msg_list"]
    assert item["create_type"] == 1
    assert item["creator"] == "zhangsan"
    everything = wire.post(
        "externalcontact/get_groupmsg_list_v2",
        {"chat_type": "single", "start_time": int(now) - 60, "end_time": int(now) + 60},
    )["group_msg_list"]
    api_made = [m for m in everything if m["create_type"] == 0]
    assert len(api_made) == 1
    assert "creator" not in api_made[0]
    month = {"chat_type": "single", "start_time": 0, "end_time": 40 * 86400}
    assert_error(wire.post("externalcontact/get_groupmsg_list_v2", month), 40058)


def test_list_v2_limit_above_max_resets_to_default() -> None:
    wire = Wire(FakeConfig(dispatch_window=0))
    wire.seed("zhangsan", 1)
    for _ in range(55):
        mass(wire, sender="zhangsan")
    now = int(wire.http.get("/_fake/time").json()["now"])
    page = wire.post(
        "externalcontact/get_groupmsg_list_v2",
        {"chat_type": "single", "start_time": now - 10, "end_time": now + 10, "limit": 1000},
    )
    assert len(page["group_msg_list"]) == 50
    assert page["next_cursor"]


def test_only_the_last_interacting_follower_gets_the_task() -> None:
    wire = Wire(FakeConfig(dispatch_window=0))
    (customer,) = wire.seed("zhangsan", 1)
    way = wire.way(user=["lisi"])
    wire.control(f"contact_ways/{way}/scan", {"external_userid": customer})
    wire.advance(5)
    wire.control("follows/interact", {"userid": "zhangsan", "external_userid": customer})
    msgid = mass(wire, external_userid=[customer])["msgid"]
    tasks = wire.post("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
    assert [t["userid"] for t in tasks] == ["zhangsan"]


def test_tag_filter_and_sender_only() -> None:
    wire = Wire(FakeConfig(dispatch_window=0))
    a, b = wire.seed("zhangsan", 2)
    wire.seed("lisi", 1)
    tag = wire.post("externalcontact/add_corp_tag", {"group_name": "g", "tag": [{"name": "vip"}]})[
        "tag_group"
    ]["tag"][0]["id"]
    wire.post(
        "externalcontact/mark_tag", {"userid": "zhangsan", "external_userid": a, "add_tag": [tag]}
    )
    msgid = mass(wire, sender="zhangsan", tag_filter={"group_list": [{"tag_list": [tag]}]})["msgid"]
    send = wire.post(
        "externalcontact/get_groupmsg_send_result", {"msgid": msgid, "userid": "zhangsan"}
    )["send_list"]
    assert [s["external_userid"] for s in send] == [a]
    everyone = mass(wire, sender="zhangsan")["msgid"]
    send = wire.post(
        "externalcontact/get_groupmsg_send_result", {"msgid": everyone, "userid": "zhangsan"}
    )["send_list"]
    assert sorted(s["external_userid"] for s in send) == sorted([a, b])


def test_remind_at_most_three_times_a_day_and_cancel() -> None:
    wire = Wire(FakeConfig(dispatch_window=0))
    wire.seed("zhangsan", 1)
    wire.seed("lisi", 1)
    msgid = mass(wire, sender="zhangsan")["msgid"]
    for _ in range(3):
        assert wire.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})["errcode"] == 0
    assert_error(wire.post("externalcontact/remind_groupmsg_send", {"msgid": msgid}), 45009)
    wire.advance(86401)
    assert wire.post("externalcontact/remind_groupmsg_send", {"msgid": msgid})["errcode"] == 0
    assert wire.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})["errcode"] == 0
    refused = wire.http.post(f"/_fake/mass/{msgid}/confirm", json={"userid": "zhangsan"})
    assert refused.status_code == 400
    tasks = wire.post("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"]
    assert tasks[0]["status"] == 0


def test_auto_confirm_after_the_configured_delay() -> None:
    wire = Wire(FakeConfig(auto_confirm_delay=30, dispatch_window=0))
    wire.seed("zhangsan", 2)
    msgid = mass(wire, sender="zhangsan")["msgid"]
    wire.advance(29)
    assert (
        wire.post("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"][0]["status"]
        == 0
    )
    wire.advance(1)
    assert (
        wire.post("externalcontact/get_groupmsg_task", {"msgid": msgid})["task_list"][0]["status"]
        == 2
    )


def test_group_mass_messages() -> None:
    wire = Wire(FakeConfig(dispatch_window=0))
    (customer,) = wire.seed("zhangsan", 1)
    chat = wire.control("groups", {"owner": "zhangsan", "name": "VIP群", "members": [customer]})
    other = wire.control("groups", {"owner": "lisi", "name": "其他"})
    created = mass(wire, chat_type="group", sender="zhangsan",
                   chat_id_list=[chat["chat_id"], other["chat_id"]])  # fmt: skip
    assert created["fail_list"] == [other["chat_id"]]
    wire.control(f"mass/{created['msgid']}/confirm", {"userid": "zhangsan"})
    send = wire.post(
        "externalcontact/get_groupmsg_send_result",
        {"msgid": created["msgid"], "userid": "zhangsan"},
    )["send_list"]
    assert send == [
        {"userid": "zhangsan", "status": 1, "chat_id": chat["chat_id"],
         "send_time": send[0]["send_time"]}
    ]  # fmt: skip
