"""siyu's client and callback receiver end to end against the fake WeCom, on one fake clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from siyu.channels.wecom import errors as e
from siyu.channels.wecom.client import WeComClient
from siyu.channels.wecom.events import (
    ExternalChatCreated,
    ExternalChatUpdated,
    ExternalContactAdded,
    ExternalContactDeleted,
    FailReason,
    TransferFailed,
)
from siyu.channels.wecom.fake.app import FakeWeCom, create_fake_app, fake_of
from siyu.channels.wecom.fake.config import (
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
    QuotaRule,
)
from siyu.channels.wecom.fake.state import OffsetClock
from siyu.channels.wecom.ratelimit import ApiLimiter, RateLimits
from siyu.channels.wecom.schemas import (
    CustomerTransferState,
    NewTag,
    SendStatus,
    TaskStatus,
    TransferStatus,
)
from siyu.core.clock import FixedClock
from tests.fixtures.wecom.harness import CALLBACK_URL, START, SiyuReceiver


@dataclass
class Stack:
    clock: FixedClock
    fake_clock: OffsetClock
    fake: FakeWeCom
    control: TestClient
    client: WeComClient
    receiver: SiyuReceiver
    slept: list[float]

    def advance(self, seconds: float) -> None:
        """Move the shared clock (client and fake), then let the fake run what is due."""
        self.clock.advance(timedelta(seconds=seconds))
        self.control.post("/_fake/time/advance", json={"seconds": 0}).raise_for_status()

    def do(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.control.post(f"/_fake/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return response.json()


def make_stack(limits: RateLimits | None = None, **overrides: Any) -> Stack:
    clock = FixedClock(START)
    fake_clock = OffsetClock(base=clock)  # tests may skew the fake ahead of the client
    receiver = SiyuReceiver()
    app = create_fake_app(
        FakeConfig(callback_url=CALLBACK_URL, **overrides),
        fake_clock,
        callback_http=receiver.client(),
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    client = WeComClient(
        DEFAULT_CORP_ID,
        DEFAULT_SECRET,
        base_url="http://fake-wecom",
        http=TestClient(app),
        clock=clock,
        sleep=sleep,
        limiter=ApiLimiter(limits or RateLimits()),
        jitter=lambda: 0.0,
    )
    return Stack(clock, fake_clock, fake_of(app), TestClient(app), client, receiver, slept)


@pytest.fixture
def stack() -> Stack:
    return make_stack()


def test_42001_refreshes_the_token_and_the_call_succeeds(stack: Stack) -> None:
    (customer,) = stack.do("customers/seed", {"userid": "zhangsan", "count": 1})["external_userids"]
    assert stack.client.list_external_contacts("zhangsan") == [customer]
    stack.fake_clock.advance(timedelta(seconds=7200))  # WeCom's clock says the token expired
    with structlog.testing.capture_logs() as logs:
        assert stack.client.list_external_contacts("zhangsan") == [customer]
    refresh = [entry for entry in logs if entry["event"] == "wecom_token_refresh"]
    assert [entry["errcode"] for entry in refresh] == [42001]
    assert len(stack.fake.state.tokens) == 2
    assert stack.fake.state.api_calls["externalcontact/list"] == 2


def test_a_revoked_token_is_replaced(stack: Stack) -> None:
    assert stack.client.get_follow_user_list() == ["zhangsan", "lisi", "wangwu"]
    stack.do("tokens/revoke")
    assert stack.client.get_follow_user_list() == ["zhangsan", "lisi", "wangwu"]
    assert sum(1 for t in stack.fake.state.tokens.values() if not t.revoked) == 1


def test_45009_backs_off_to_the_next_minute_and_no_request_is_lost() -> None:
    stack = make_stack(per_minute=5)
    answers = [stack.client.get_follow_user_list() for _ in range(12)]
    assert answers == [["zhangsan", "lisi", "wangwu"]] * 12
    waits = [s for s in stack.slept if s > 1]
    assert len(waits) == 2  # 5 calls in minute 0, 5 in minute 1, 2 in minute 2
    assert stack.clock.now() - START < timedelta(minutes=3)


def test_the_client_side_limiter_keeps_below_the_fake() -> None:
    stack = make_stack(limits=RateLimits(per_minute=4), per_minute=5)
    with structlog.testing.capture_logs() as logs:
        for _ in range(9):
            stack.client.get_follow_user_list()
    assert not [entry for entry in logs if entry["event"] == "wecom_rate_limited"]
    assert len(stack.slept) == 2


def test_system_busy_and_http_errors_are_retried(stack: Stack) -> None:
    stack.do("faults", {"kind": "busy", "api": "externalcontact/get_follow_user_list", "count": 2})
    stack.do("faults", {"kind": "http", "api": "externalcontact/get_follow_user_list"})
    assert stack.client.get_follow_user_list() == ["zhangsan", "lisi", "wangwu"]
    assert len(stack.slept) == 3


def test_cursor_pagination_over_many_contacts(stack: Stack) -> None:
    first = stack.do("customers/seed", {"userid": "zhangsan", "count": 700})["external_userids"]
    second = stack.do("customers/seed", {"userid": "lisi", "count": 534})["external_userids"]
    pages = list(stack.client.iter_contacts_by_user(["zhangsan", "lisi"], limit=100))
    seen = [c.external_contact.external_userid for p in pages for c in p.external_contact_list]
    assert len(pages) == 13
    assert seen == first + second
    owners = {c.follow_info.userid for p in pages for c in p.external_contact_list}
    assert owners == {"zhangsan", "lisi"}


def test_contact_way_scan_callback_and_welcome_code(stack: Stack) -> None:
    way = stack.client.add_contact_way(type=1, scene=2, state="store-001", user=["zhangsan"])
    assert stack.client.get_contact_way(way.config_id).state == "store-001"
    stack.do(f"contact_ways/{way.config_id}/scan", {"name": "王五"})
    (event,) = stack.receiver.events
    assert isinstance(event, ExternalContactAdded)
    assert event.corp_id == DEFAULT_CORP_ID
    assert (event.user_id, event.state) == ("zhangsan", "store-001")
    assert event.welcome_code
    detail = stack.client.get_external_contact(event.external_user_id)
    assert detail.external_contact.name == "王五"
    assert detail.follow_user[0].state == "store-001"
    stack.advance(19)
    stack.client.send_welcome_msg(event.welcome_code, text="欢迎！")
    with pytest.raises(e.WeComApiError) as used:
        stack.client.send_welcome_msg(event.welcome_code, text="again")
    assert used.value.errcode == 41051
    stack.do(f"contact_ways/{way.config_id}/scan", {})
    late = stack.receiver.events[-1]
    assert isinstance(late, ExternalContactAdded)
    assert late.welcome_code
    stack.advance(21)
    with pytest.raises(e.WeComApiError) as expired:
        stack.client.send_welcome_msg(late.welcome_code, text="too late")
    assert expired.value.errcode == 41050


def test_mass_message_confirm_and_per_customer_results() -> None:
    stack = make_stack(dispatch_window=2, quota_rule=QuotaRule.DAY_1)
    customers = stack.do("customers/seed", {"userid": "zhangsan", "count": 3})["external_userids"]
    stack.do("mass/publish", {"userid": "zhangsan", "external_userids": [customers[0]]})
    stack.do(
        "follows/delete", {"userid": "zhangsan", "external_userid": customers[1], "by": "customer"}
    )
    created = stack.client.add_msg_template(external_userid=customers, text="周末活动")
    assert created.fail_list == [customers[1]]  # no longer a friend of anyone
    tasks = stack.client.get_groupmsg_task(created.msgid)  # 41063 at first: retried
    assert [(t.userid, t.status) for t in tasks.task_list] == [("zhangsan", TaskStatus.UNSENT)]
    stack.do(f"mass/{created.msgid}/confirm", {"userid": "zhangsan"})
    results = stack.client.get_groupmsg_send_result(created.msgid, "zhangsan").send_list
    statuses = {r.external_userid: r.status for r in results}
    assert statuses == {customers[0]: SendStatus.QUOTA_EXCEEDED, customers[2]: SendStatus.SENT}
    task = stack.client.get_groupmsg_task(created.msgid).task_list[0]
    assert task.status is TaskStatus.SENT
    assert task.send_time is not None


def results(stack: Stack) -> list[CustomerTransferState]:
    return stack.client.transfer_result("zhangsan", "lisi").customer


def test_transfers_reach_done_refused_and_limit_states(stack: Stack) -> None:
    a, b, c, d = stack.do("customers/seed", {"userid": "zhangsan", "count": 4})["external_userids"]
    stack.do("members", {"userid": "lisi", "customer_cap": 2})
    started = stack.client.transfer_customer("zhangsan", "lisi", [a, b])
    assert [t.errcode for t in started] == [0, 0]
    assert [t.errcode for t in stack.client.transfer_customer("zhangsan", "lisi", [c])] == [40099]
    stack.do("transfers/refuse", {"external_userid": b})
    waiting = {
        s.external_userid: s for s in stack.client.transfer_result("zhangsan", "lisi").customer
    }
    assert waiting[a].status is TransferStatus.WAITING
    assert waiting[a].takeover_time == int((START + timedelta(days=1)).timestamp())
    assert waiting[b].status is TransferStatus.REFUSED
    stack.do("customers/seed", {"userid": "lisi", "count": 2})  # lisi fills up meanwhile
    stack.advance(86400)
    final = {
        s.external_userid: s.status
        for s in stack.client.transfer_result("zhangsan", "lisi").customer
    }
    assert final == {a: TransferStatus.TAKEOVER_FULL, b: TransferStatus.REFUSED}
    stack.do("members", {"userid": "lisi", "customer_cap": 10})
    assert [t.errcode for t in stack.client.transfer_customer("zhangsan", "lisi", [d])] == [0]
    stack.advance(86400)
    done = {
        s.external_userid: s.status
        for s in stack.client.transfer_result("zhangsan", "lisi").customer
    }
    assert done[d] is TransferStatus.DONE
    reasons = [ev.fail_reason for ev in stack.receiver.events if isinstance(ev, TransferFailed)]
    assert reasons == [FailReason.CUSTOMER_REFUSED, FailReason.CUSTOMER_LIMIT_EXCEED]
    deleted = [ev for ev in stack.receiver.events if isinstance(ev, ExternalContactDeleted)]
    assert [(ev.external_user_id, ev.by_transfer) for ev in deleted] == [(d, True)]
    assert [f.userid for f in stack.client.get_external_contact(d).follow_user] == ["lisi"]


def test_transfer_frequency_limit_via_the_client(stack: Stack) -> None:
    (a,) = stack.do("customers/seed", {"userid": "zhangsan", "count": 1})["external_userids"]
    for handover, takeover in (("zhangsan", "lisi"), ("lisi", "wangwu")):
        assert [t.errcode for t in stack.client.transfer_customer(handover, takeover, [a])] == [0]
        stack.advance(86400)
    third = stack.client.transfer_customer("wangwu", "zhangsan", [a])
    assert [t.errcode for t in third] == [40128]


def test_resigned_members_customers_are_reassigned(stack: Stack) -> None:
    customers = stack.do("customers/seed", {"userid": "wangwu", "count": 3})["external_userids"]
    stack.do("members/wangwu/resign")
    unassigned = stack.client.get_unassigned_list()
    assert sorted(i.external_userid for i in unassigned.info) == sorted(customers)
    assert unassigned.is_last
    started = stack.client.resigned_transfer_customer("wangwu", "lisi", customers)
    assert {t.errcode for t in started} == {0}
    stack.advance(86400)
    result = stack.client.resigned_transfer_result("wangwu", "lisi").customer
    assert {s.status for s in result} == {TransferStatus.DONE}
    assert stack.client.get_unassigned_list().info == []


def test_callbacks_are_retried_while_siyu_is_down(stack: Stack) -> None:
    way = stack.client.add_contact_way(type=1, scene=2, state="s", user=["zhangsan"])
    stack.do(f"contact_ways/{way.config_id}/scan", {})
    stack.receiver.up = False
    stack.do(f"contact_ways/{way.config_id}/scan", {})
    assert len(stack.receiver.events) == 1
    stack.advance(5)
    assert len(stack.receiver.events) == 1
    stack.receiver.up = True
    stack.advance(10)
    assert len(stack.receiver.events) == 2
    stack.do("callbacks/deliveries/2/redeliver")
    first, second, duplicate = stack.receiver.events
    assert duplicate == second
    assert duplicate.dedupe_key() == second.dedupe_key() != first.dedupe_key()


def test_groups_and_tags_through_the_client(stack: Stack) -> None:
    (customer,) = stack.do("customers/seed", {"userid": "zhangsan", "count": 1})["external_userids"]
    chat_id = stack.do("groups", {"owner": "zhangsan", "name": "VIP", "members": []})["chat_id"]
    stack.do(f"groups/{chat_id}/join", {"userids": [customer], "scene": 3})
    created, updated = stack.receiver.events
    assert isinstance(created, ExternalChatCreated)
    assert isinstance(updated, ExternalChatUpdated)
    assert updated.mem_change_list == (customer,)
    assert updated.join_scene == 3
    assert updated.last_mem_ver != updated.cur_mem_ver
    page = stack.client.groupchat_list(limit=100, owner_userids=["zhangsan"])
    assert [g.chat_id for g in page.group_chat_list] == [chat_id]
    group = stack.client.groupchat_get(chat_id, need_name=True)
    assert {m.userid for m in group.member_list} == {"zhangsan", customer}
    tag_group = stack.client.add_corp_tag([NewTag(name="高价值")], group_name="价值")
    tag_id = tag_group.tag[0].id
    stack.client.mark_tag("zhangsan", customer, add_tag=[tag_id])
    stack.client.remark("zhangsan", customer, remark="老客户", remark_mobiles=["13800000000"])
    follow = stack.client.get_external_contact(customer).follow_user[0]
    assert follow.remark == "老客户"
    assert [t.tag_id for t in follow.tags] == [tag_id]
    assert [g.group_name for g in stack.client.get_corp_tag_list()] == ["价值"]
    stack.client.del_corp_tag(group_ids=[tag_group.group_id])
    assert stack.client.get_corp_tag_list() == []
    assert len(stack.receiver.events) == 2  # API changes made no callbacks
