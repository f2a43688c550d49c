"""The fake's callback delivery (spec §6.1, §9 "Callbacks"), received by wechatpy's crypto."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from siyu.channels.wecom.fake.app import create_fake_app, fake_of
from siyu.channels.wecom.fake.config import FakeConfig
from tests.fixtures.wecom.harness import CALLBACK_URL, WechatpyReceiver, Wire


def make(receiver: WechatpyReceiver, **overrides: object) -> Wire:
    config = FakeConfig(callback_url=CALLBACK_URL, **overrides)
    return Wire(config, callback_http=receiver.client())


def test_url_is_verified_before_the_first_event_and_events_decrypt_independently() -> None:
    receiver = WechatpyReceiver()
    wire = make(receiver)
    added = wire.control(f"contact_ways/{wire.way(state='s1')}/scan", {})
    first, second = receiver.requests[:2]
    assert first.method == "GET"
    raw_query = first.url.query.decode()
    assert "echostr=" in raw_query
    assert "%3D" in raw_query  # base64 padding is percent-encoded
    assert receiver.verified[0].isdigit()
    assert second.method == "POST"
    assert set(second.url.params) == {"msg_signature", "timestamp", "nonce"}
    assert b"<AgentID>" in second.content
    (xml,) = receiver.events
    (delivery,) = wire.deliveries()
    assert xml == delivery["xml"]
    assert delivery["state"] == "delivered"
    assert f"<ExternalUserID><![CDATA[{added['external_userid']}]]></ExternalUserID>" in xml
    assert "<FromUserName><![CDATA[sys]]></FromUserName>" in xml
    assert "<MsgType><![CDATA[event]]></MsgType>" in xml


def test_failed_deliveries_are_retried_with_the_same_event() -> None:
    receiver = WechatpyReceiver()
    wire = make(receiver, callback_retry_delays=[5.0, 10.0, 20.0])
    wire.control(f"contact_ways/{wire.way()}/scan", {})  # verifies the URL and delivers
    receiver.down = 2
    wire.control(f"contact_ways/{wire.way()}/scan", {})
    delivery = wire.deliveries()[1]
    assert delivery["state"] == "pending"
    assert [a["status"] for a in delivery["attempts"]] == [503]
    wire.advance(4)
    assert len(wire.deliveries()[1]["attempts"]) == 1
    wire.advance(1)
    assert [a["status"] for a in wire.deliveries()[1]["attempts"]] == [503, 503]
    wire.advance(10)
    delivery = wire.deliveries()[1]
    assert [a["status"] for a in delivery["attempts"]] == [503, 503, 200]
    assert delivery["state"] == "delivered"
    assert len({(a["timestamp"], a["nonce"]) for a in delivery["attempts"]}) == 3
    assert receiver.events[-1] == delivery["xml"]  # same CreateTime: one event, resent


def test_delivery_gives_up_after_three_retries() -> None:
    receiver = WechatpyReceiver()
    wire = make(receiver)
    wire.control(f"contact_ways/{wire.way()}/scan", {})
    receiver.down, receiver.refuse = 100, True
    wire.control(f"contact_ways/{wire.way()}/scan", {})
    for seconds in (5, 10, 20, 60):
        wire.advance(seconds)
    delivery = wire.deliveries()[1]
    assert delivery["state"] == "failed"
    assert [a["error"] for a in delivery["attempts"]] == ["ConnectError"] * 4


def test_verification_failure_holds_deliveries_back() -> None:
    receiver = WechatpyReceiver(down=1)
    wire = make(receiver)
    wire.control(f"contact_ways/{wire.way()}/scan", {})
    callbacks = wire.http.get("/_fake/callbacks").json()
    assert callbacks["verified"] is True  # verification is retried on the next flush
    assert callbacks["verifications"][0]["ok"] is False
    assert receiver.events  # and the event followed


def test_pause_drop_and_redeliver() -> None:
    receiver = WechatpyReceiver()
    wire = make(receiver)
    wire.control("callbacks/pause")
    wire.control(f"contact_ways/{wire.way()}/scan", {})
    assert receiver.events == []
    wire.control("callbacks/resume")
    assert len(receiver.events) == 1
    wire.control("callbacks/drop", {"count": 1})
    wire.control(f"contact_ways/{wire.way()}/scan", {})
    assert wire.deliveries()[1]["state"] == "dropped"
    assert len(receiver.events) == 1
    wire.control("callbacks/deliveries/1/redeliver")
    assert receiver.events[1] == receiver.events[0]
    assert wire.deliveries()[2]["create_time"] == wire.deliveries()[0]["create_time"]


def test_no_callback_url_keeps_events_queued() -> None:
    wire = Wire(FakeConfig())
    wire.control(f"contact_ways/{wire.way()}/scan", {})
    assert wire.deliveries()[0]["state"] == "pending"
    assert wire.deliveries()[0]["attempts"] == []


def test_state_file_keeps_the_corp_across_restarts(tmp_path: Path) -> None:
    """A fake started with ``state_file`` comes back with its members, customers and ways."""
    path = tmp_path / "fake.state"
    config = FakeConfig(members=["zhangsan"])
    first = create_fake_app(config, state_file=path)
    with TestClient(first) as http:
        http.post("/_fake/members", json={"userid": "lisi"}).raise_for_status()
        seeded = http.post("/_fake/customers/seed", json={"userid": "zhangsan", "count": 3})
        external_userids = seeded.json()["external_userids"]
    assert path.exists()
    second = create_fake_app(config, state_file=path)
    state = fake_of(second).state
    assert {"zhangsan", "lisi"} <= set(state.members)
    assert set(external_userids) <= set(state.customers)
    assert [f.external_userid for f in state.customers_of("zhangsan")] == sorted(external_userids)
