"""The client against spec-shaped responses (httpx.MockTransport), independent of the fake."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog

from siyu.channels.wecom import errors as e
from siyu.channels.wecom.client import RetryPolicy, TokenCache, WeComClient
from siyu.channels.wecom.ratelimit import ApiLimiter, RateLimits, SlidingWindow
from siyu.channels.wecom.schemas import Link, NewTag, SendStatus, TransferStatus
from siyu.core.clock import FixedClock

SECRET = "s3cr3t-app-secret-value"
START = datetime(2026, 1, 5, 9, 0, 10, tzinfo=UTC)
Handler = Callable[[httpx.Request], dict[str, Any] | httpx.Response]


class Recorder:
    """A scripted WeCom: per API path a list of answers (the last one repeats)."""

    def __init__(self, **answers: list[Any]) -> None:
        self.answers = {k.replace("__", "/"): v for k, v in answers.items()}
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        api = request.url.path.removeprefix("/cgi-bin/")
        if api == "gettoken" and "gettoken" not in self.answers:
            self.tokens_issued += 1
            body: Any = {
                "errcode": 0,
                "errmsg": "ok",
                "access_token": f"TOKEN{self.tokens_issued}",
                "expires_in": 7200,
            }
            return httpx.Response(200, json=body)
        queue = self.answers[api]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def calls(self, api: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/cgi-bin/{api}"]


def make_client(
    recorder: Recorder, *, limits: RateLimits | None = None, **kw: Any
) -> tuple[WeComClient, FixedClock, list[float]]:
    clock = FixedClock(START)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    client = WeComClient(
        "wwcorp",
        SECRET,
        http=httpx.Client(transport=httpx.MockTransport(recorder)),
        clock=clock,
        sleep=sleep,
        limiter=ApiLimiter(limits or RateLimits()),
        jitter=lambda: 0.5,
        **kw,
    )
    return client, clock, slept


def err(code: int, text: str = "error") -> dict[str, Any]:
    return {
        "errcode": code,
        "errmsg": f"{text}, hint: [1700000000_1_abc], from ip: 1.2.3.4, more info at "
        f"https://open.work.weixin.qq.com/devtool/query?e={code}",
    }


OK = {"errcode": 0, "errmsg": "ok"}


def test_gettoken_is_called_once_and_cached_then_refreshed_before_expiry() -> None:
    rec = Recorder(externalcontact__get_follow_user_list=[{**OK, "follow_user": ["zhangsan"]}])
    client, clock, _ = make_client(rec)
    assert client.get_follow_user_list() == ["zhangsan"]
    assert client.get_follow_user_list() == ["zhangsan"]
    token_calls = rec.calls("gettoken")
    assert len(token_calls) == 1
    assert token_calls[0].url.params["corpid"] == "wwcorp"
    assert token_calls[0].url.params["corpsecret"] == SECRET
    api_calls = rec.calls("externalcontact/get_follow_user_list")
    assert api_calls[0].url.params["access_token"] == "TOKEN1"
    clock.advance(timedelta(seconds=7200 - 299))  # inside the 300 s refresh margin
    client.get_follow_user_list()
    assert len(rec.calls("gettoken")) == 2
    assert rec.calls("externalcontact/get_follow_user_list")[-1].url.params["access_token"] == (
        "TOKEN2"
    )


def test_token_cache_is_shared_per_corp_and_secret() -> None:
    rec = Recorder(externalcontact__get_follow_user_list=[{**OK, "follow_user": []}])
    cache = TokenCache()
    a, _, _ = make_client(rec, tokens=cache)
    b, _, _ = make_client(rec, tokens=cache)
    a.get_follow_user_list()
    b.get_follow_user_list()
    assert len(rec.calls("gettoken")) == 1
    other = WeComClient(
        "wwcorp",
        "another-secret",
        http=httpx.Client(transport=httpx.MockTransport(rec)),
        tokens=cache,
    )
    other.get_follow_user_list()
    assert len(rec.calls("gettoken")) == 2


@pytest.mark.parametrize("code", [42001, 40014])
def test_token_error_refreshes_once_and_retries(code: int) -> None:
    rec = Recorder(externalcontact__list=[err(code), {**OK, "external_userid": ["wmA", "wmB"]}])
    client, _, _ = make_client(rec)
    assert client.list_external_contacts("zhangsan") == ["wmA", "wmB"]
    assert len(rec.calls("gettoken")) == 2
    tokens = [r.url.params["access_token"] for r in rec.calls("externalcontact/list")]
    assert tokens == ["TOKEN1", "TOKEN2"]


def test_a_second_token_error_is_raised_typed() -> None:
    rec = Recorder(externalcontact__list=[err(42001, "access_token expired")])
    client, _, _ = make_client(rec)
    with pytest.raises(e.TokenExpired) as exc:
        client.list_external_contacts("zhangsan")
    assert exc.value.errcode == 42001
    assert exc.value.errmsg.startswith("access_token expired")
    assert exc.value.api == "externalcontact/list"
    assert len(rec.calls("externalcontact/list")) == 2


@pytest.mark.parametrize("code", [40001, 40013, 48002, 60020])
def test_configuration_errors_are_never_retried(code: int) -> None:
    rec = Recorder(gettoken=[err(code)], externalcontact__list=[OK])
    client, _, slept = make_client(rec)
    with pytest.raises(e.CredentialsRejected) as exc:
        client.list_external_contacts("zhangsan")
    assert exc.value.errcode == code
    assert len(rec.calls("gettoken")) == 1
    assert slept == []
    assert not rec.calls("externalcontact/list")


def test_84061_means_no_customers() -> None:
    rec = Recorder(
        externalcontact__list=[{**err(84061), "external_userid": []}],
        externalcontact__batch__get_by_user=[err(84061)],
    )
    client, _, _ = make_client(rec)
    assert client.list_external_contacts("nobody") == []
    assert client.batch_get_by_user(["nobody"]).external_contact_list == []


def test_system_busy_is_retried_three_times_with_backoff() -> None:
    answer = {**OK, "follow_user": ["a"]}
    rec = Recorder(externalcontact__get_follow_user_list=[err(-1), err(-1), err(-1), answer])
    client, _, slept = make_client(rec)
    assert client.get_follow_user_list() == ["a"]
    assert slept == [0.375, 0.75, 1.5]  # base 0.5 doubling, jitter fixed at 0.75
    rec = Recorder(externalcontact__get_follow_user_list=[err(-1)])
    client, _, _ = make_client(rec)
    with pytest.raises(e.SystemBusy):
        client.get_follow_user_list()
    assert len(rec.calls("externalcontact/get_follow_user_list")) == 4


def test_45009_waits_for_the_next_minute_then_succeeds() -> None:
    answer = {**OK, "follow_user": ["a"]}
    rec = Recorder(externalcontact__get_follow_user_list=[err(45009), answer])
    client, clock, slept = make_client(rec)
    assert client.get_follow_user_list() == ["a"]
    assert slept == [pytest.approx(50.001)]  # START is hh:00:10
    assert clock.now().second == 0


def test_repeated_45009_needs_the_hour_and_is_raised_for_rescheduling() -> None:
    rec = Recorder(externalcontact__get_follow_user_list=[err(45009, "api freq out of limit")])
    client, _, slept = make_client(rec)
    with pytest.raises(e.RateLimited) as exc:
        client.get_follow_user_list()
    assert exc.value.errcode == 45009
    assert exc.value.retry_after == pytest.approx(3540, abs=0.01)  # 09:01:00 → 10:00:00
    assert len(slept) == 1  # the minute wait; the hour wait is left to the caller


def test_45033_narrows_concurrency_and_retries() -> None:
    rec = Recorder(externalcontact__remark=[err(45033), OK])
    limiter = ApiLimiter(RateLimits())
    client, _, slept = make_client(rec)
    client._limiter = limiter
    client.remark("zhangsan", "wmA", remark="VIP")
    assert limiter.gate("externalcontact/remark").limit == 1
    assert slept == [pytest.approx(0.6)]
    body = json.loads(rec.calls("externalcontact/remark")[-1].content)
    assert body == {"userid": "zhangsan", "external_userid": "wmA", "remark": "VIP"}


def test_41063_is_retried_like_busy() -> None:
    page = {**OK, "task_list": [{"userid": "zhangsan", "status": 2, "send_time": 1700000000}]}
    rec = Recorder(externalcontact__get_groupmsg_task=[err(41063), page])
    client, _, _ = make_client(rec)
    result = client.get_groupmsg_task("msgA")
    assert result.task_list[0].send_time == 1700000000


def test_transport_errors_retry_only_when_safe() -> None:
    page = {**OK, "follow_user": []}
    rec = Recorder(
        externalcontact__get_follow_user_list=[httpx.ConnectError("down"), page],
        externalcontact__add_msg_template=[httpx.ReadTimeout("slow"), {**OK, "msgid": "m"}],
    )
    client, _, _ = make_client(rec)
    assert client.get_follow_user_list() == []
    with pytest.raises(e.WeComTransportError) as exc:
        client.add_msg_template(external_userid=["wmA"], text="hi")
    assert exc.value.sent
    assert len(rec.calls("externalcontact/add_msg_template")) == 1
    rec = Recorder(externalcontact__get_follow_user_list=[httpx.Response(502, text="bad gw"), page])
    client, _, _ = make_client(rec)
    assert client.get_follow_user_list() == []


def test_client_side_limiter_spaces_calls() -> None:
    rec = Recorder(externalcontact__get_follow_user_list=[{**OK, "follow_user": []}])
    client, _, slept = make_client(rec, limits=RateLimits(per_minute=3, per_hour=100))
    for _ in range(7):
        client.get_follow_user_list()
    assert len(slept) == 2
    assert all(59 < s <= 62 for s in slept)


def test_sliding_window_never_allows_more_than_the_limit_in_any_window() -> None:
    window = SlidingWindow(5, 60)
    times: list[float] = []
    now = 1000.3
    while len(times) < 40:
        wait = window.wait_time(now)
        if wait:
            now += wait
            continue
        window.record(now)
        times.append(now)
        now += 2.7
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 60) <= 5


def test_batch_get_by_user_request_and_response_follow_the_spec() -> None:
    first = {
        **OK,
        "external_contact_list": [
            {
                "external_contact": {
                    "external_userid": "wmA",
                    "name": "李四",
                    "avatar": "http://a/0",
                    "type": 1,
                    "gender": 1,
                    "unionid": "ozA",
                },
                "follow_info": {
                    "userid": "zhangsan",
                    "remark": "r",
                    "description": "d",
                    "createtime": 1700000000,
                    "tag_id": ["etA"],
                    "remark_corp_name": "c",
                    "remark_mobiles": ["13800000000"],
                    "oper_userid": "zhangsan",
                    "add_way": 1,
                    "state": "store-001",
                },
            }
        ],
        "next_cursor": "CUR1",
    }
    last = {**OK, "external_contact_list": [], "next_cursor": ""}
    rec = Recorder(externalcontact__batch__get_by_user=[first, last])
    client, _, _ = make_client(rec)
    pages = list(client.iter_contacts_by_user(["zhangsan"], limit=100))
    assert len(pages) == 2
    item = pages[0].external_contact_list[0]
    assert item.external_contact.unionid == "ozA"
    assert item.follow_info.state == "store-001"
    assert item.follow_info.tag_id == ["etA"]
    bodies = [json.loads(r.content) for r in rec.calls("externalcontact/batch/get_by_user")]
    assert bodies == [
        {"userid_list": ["zhangsan"], "limit": 100},
        {"userid_list": ["zhangsan"], "cursor": "CUR1", "limit": 100},
    ]


def test_get_external_contact_follows_the_follower_cursor() -> None:
    contact = {"external_userid": "wmA", "name": "n", "type": 2, "corp_name": "c"}
    first = {
        **OK,
        "external_contact": contact,
        "follow_user": [
            {
                "userid": "a",
                "createtime": 1,
                "tags": [{"group_name": "g", "tag_name": "t", "tag_id": "etA", "type": 1}],
                "add_way": 202,
            }
        ],
        "next_cursor": "N",
    }
    second = {**OK, "external_contact": contact, "follow_user": [{"userid": "b"}]}
    rec = Recorder(externalcontact__get=[first, second])
    client, _, _ = make_client(rec)
    detail = client.get_external_contact_all("wmA")
    assert [f.userid for f in detail.follow_user] == ["a", "b"]
    assert detail.follow_user[0].tags[0].tag_id == "etA"
    assert rec.calls("externalcontact/get")[1].url.params["cursor"] == "N"


def test_mass_message_shapes() -> None:
    created = {**OK, "fail_list": ["wmGone"], "msgid": "msgGCAAAXtWyujaWJHDDGi0mACAAAA"}
    send = {
        **OK,
        "send_list": [
            {"external_userid": "wmA", "userid": "zhangsan", "status": 1, "send_time": 5},
            {"external_userid": "wmB", "userid": "zhangsan", "status": 3},
        ],
        "next_cursor": "",
    }
    rec = Recorder(
        externalcontact__add_msg_template=[created],
        externalcontact__get_groupmsg_send_result=[send],
    )
    client, _, _ = make_client(rec)
    result = client.add_msg_template(
        external_userid=["wmA", "wmB", "wmGone"],
        sender="zhangsan",
        text="新品到店",
        attachments=[Link(title="t", url="https://x")],
        tag_filter=[["etA", "etB"]],
    )
    assert result.fail_list == ["wmGone"]
    body = json.loads(rec.calls("externalcontact/add_msg_template")[0].content)
    assert body == {
        "chat_type": "single",
        "external_userid": ["wmA", "wmB", "wmGone"],
        "tag_filter": {"group_list": [{"tag_list": ["etA", "etB"]}]},
        "sender": "zhangsan",
        "text": {"content": "新品到店"},
        "attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://x"}}],
    }
    page = client.get_groupmsg_send_result(result.msgid, "zhangsan")
    assert [s.status for s in page.send_list] == [SendStatus.SENT, SendStatus.QUOTA_EXCEEDED]


def test_transfer_shapes() -> None:
    started = {**OK, "customer": [{"external_userid": "wmA", "errcode": 0},
                                  {"external_userid": "wmB", "errcode": 40128}]}  # fmt: skip
    result = {
        **OK,
        "customer": [
            {"external_userid": "wmA", "status": 2, "takeover_time": 1700086400},
            {"external_userid": "wmC", "status": 3, "takeover_time": 0},
        ],
        "next_cursor": "",
    }
    rec = Recorder(
        externalcontact__transfer_customer=[started], externalcontact__transfer_result=[result]
    )
    client, _, _ = make_client(rec)
    out = client.transfer_customer("a", "b", ["wmA", "wmB"], transfer_success_msg="hi")
    assert [(c.external_userid, c.errcode) for c in out] == [("wmA", 0), ("wmB", 40128)]
    states = client.transfer_result("a", "b").customer
    assert [s.status for s in states] == [TransferStatus.WAITING, TransferStatus.REFUSED]


def test_secrets_never_reach_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder(externalcontact__list=[err(42001), {**OK, "external_userid": []}])
    client, _, _ = make_client(rec)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # an app built earlier quietens httpx
    with structlog.testing.capture_logs() as logs:
        client.list_external_contacts("zhangsan")
    text = caplog.text + repr(logs) + repr(client)
    assert any(r.name == "httpx" for r in caplog.records)  # httpx did log the requests
    assert SECRET not in text
    assert "TOKEN1" not in text
    assert "TOKEN2" not in text
    assert "corpsecret=***" in caplog.text
    assert "wecom_token_refresh" in repr(logs)


def test_retry_policy_is_configurable() -> None:
    rec = Recorder(externalcontact__get_follow_user_list=[err(-1)])
    client, _, _ = make_client(rec, retry=RetryPolicy(max_busy_retries=0))
    with pytest.raises(e.SystemBusy):
        client.get_follow_user_list()
    assert len(rec.calls("externalcontact/get_follow_user_list")) == 1


REQUEST_SHAPES: list[tuple[str, Callable[[WeComClient], object], dict[str, Any], Any]] = [
    (
        "externalcontact/add_contact_way",
        lambda c: c.add_contact_way(
            type=2, scene=2, state="store-001", user=["a", "b"], party=[3], skip_verify=False
        ),
        {
            "type": 2,
            "scene": 2,
            "state": "store-001",
            "user": ["a", "b"],
            "party": [3],
            "skip_verify": False,
        },
        {"config_id": "42b34949e138eb6e027c123cba77fad7", "qr_code": "http://p.qpic.cn/x"},
    ),
    (
        "externalcontact/update_contact_way",
        lambda c: c.update_contact_way("cfg", state="s2", user=["a"]),
        {"config_id": "cfg", "state": "s2", "user": ["a"]},
        {},
    ),
    (
        "externalcontact/get_contact_way",
        lambda c: c.get_contact_way("cfg"),
        {"config_id": "cfg"},
        {"contact_way": {"config_id": "cfg", "type": 1, "scene": 2, "state": "s"}},
    ),
    (
        "externalcontact/list_contact_way",
        lambda c: c.list_contact_way(start_time=1, end_time=2, limit=1000),
        {"start_time": 1, "end_time": 2, "limit": 1000},
        {"contact_way": [{"config_id": "cfg"}], "next_cursor": ""},
    ),
    (
        "externalcontact/send_welcome_msg",
        lambda c: c.send_welcome_msg("CODE", text="欢迎", attachments=[Link(title="t", url="u")]),
        {
            "welcome_code": "CODE",
            "text": {"content": "欢迎"},
            "attachments": [{"msgtype": "link", "link": {"title": "t", "url": "u"}}],
        },
        {},
    ),
    (
        "externalcontact/get_corp_tag_list",
        lambda c: c.get_corp_tag_list(group_ids=["etG"]),
        {"group_id": ["etG"]},
        {
            "tag_group": [
                {"group_id": "etG", "group_name": "g", "tag": [{"id": "etT", "name": "t"}]}
            ]
        },
    ),
    (
        "externalcontact/add_corp_tag",
        lambda c: c.add_corp_tag([NewTag(name="金卡", order=2)], group_name="会员", order=1),
        {"group_name": "会员", "order": 1, "tag": [{"name": "金卡", "order": 2}]},
        {
            "tag_group": {
                "group_id": "etG",
                "group_name": "会员",
                "tag": [{"id": "etT", "name": "金卡"}],
            }
        },
    ),
    (
        "externalcontact/edit_corp_tag",
        lambda c: c.edit_corp_tag("etT", name="银卡"),
        {"id": "etT", "name": "银卡"},
        {},
    ),
    (
        "externalcontact/del_corp_tag",
        lambda c: c.del_corp_tag(tag_ids=["etT"]),
        {"tag_id": ["etT"]},
        {},
    ),
    (
        "externalcontact/mark_tag",
        lambda c: c.mark_tag("u", "wm", add_tag=["etA"], remove_tag=["etB"]),
        {"userid": "u", "external_userid": "wm", "add_tag": ["etA"], "remove_tag": ["etB"]},
        {},
    ),
    (
        "externalcontact/get_groupmsg_list_v2",
        lambda c: c.get_groupmsg_list_v2(
            chat_type="single", start_time=1, end_time=2, filter_type=1
        ),
        {"chat_type": "single", "start_time": 1, "end_time": 2, "filter_type": 1},
        {
            "group_msg_list": [
                {"msgid": "m", "create_type": 1, "creator": "u", "text": {"content": "hi"}}
            ],
            "next_cursor": "",
        },
    ),
    (
        "externalcontact/remind_groupmsg_send",
        lambda c: c.remind_groupmsg_send("m"),
        {"msgid": "m"},
        {},
    ),
    (
        "externalcontact/cancel_groupmsg_send",
        lambda c: c.cancel_groupmsg_send("m"),
        {"msgid": "m"},
        {},
    ),
    (
        "externalcontact/groupchat/list",
        lambda c: c.groupchat_list(limit=10, status_filter=1, owner_userids=["u"]),
        {"status_filter": 1, "owner_filter": {"userid_list": ["u"]}, "limit": 10},
        {"group_chat_list": [{"chat_id": "wrA", "status": 1}], "next_cursor": ""},
    ),
    (
        "externalcontact/groupchat/get",
        lambda c: c.groupchat_get("wrA", need_name=True),
        {"chat_id": "wrA", "need_name": 1},
        {
            "group_chat": {
                "chat_id": "wrA",
                "name": "g",
                "owner": "u",
                "member_list": [
                    {"userid": "wmA", "type": 2, "join_scene": 3, "invitor": {"userid": "u"}}
                ],
                "admin_list": [{"userid": "u"}],
            }
        },
    ),
    (
        "externalcontact/resigned/transfer_customer",
        lambda c: c.resigned_transfer_customer("gone", "u", ["wmA"]),
        {"handover_userid": "gone", "takeover_userid": "u", "external_userid": ["wmA"]},
        {"customer": [{"external_userid": "wmA", "errcode": 40097}]},
    ),
    (
        "externalcontact/get_unassigned_list",
        lambda c: c.get_unassigned_list(cursor="C", page_size=1000),
        {"cursor": "C", "page_size": 1000},
        {
            "info": [{"handover_userid": "gone", "external_userid": "wmA", "dimission_time": 1}],
            "is_last": True,
            "next_cursor": "",
        },
    ),
    (
        "externalcontact/groupchat/onjob_transfer",
        lambda c: c.groupchat_transfer(["wrA"], "u", on_job=True),
        {"chat_id_list": ["wrA"], "new_owner": "u"},
        {"failed_chat_list": [{"chat_id": "wrA", "errcode": 90504, "errmsg": "x"}]},
    ),
]


@pytest.mark.parametrize(("api", "call", "body", "answer"), REQUEST_SHAPES)
def test_request_bodies_use_the_spec_field_names(
    api: str, call: Callable[[WeComClient], object], body: dict[str, Any], answer: Any
) -> None:
    rec = Recorder(**{api.replace("/", "__"): [{**OK, **answer}]})
    client, _, _ = make_client(rec)
    result = call(client)
    (request,) = rec.calls(api)
    assert request.method == "POST"
    assert json.loads(request.content) == body
    assert (result is None) == (answer == {})  # typed results for data, None for errcode-only
