"""The fake against spec §2, §5, §7 and §9 ("Tokens", "Limits and errors"), over raw HTTP."""

from __future__ import annotations

import threading
import time

import pytest

from siyu.channels.wecom.fake.config import DEFAULT_CORP_ID, DEFAULT_SECRET, FakeConfig
from tests.fixtures.wecom.harness import ERRMSG, Wire, assert_error


def test_gettoken_returns_the_same_token_until_expiry() -> None:
    wire = Wire(FakeConfig(token_ttl=7200))
    first = wire.gettoken()
    assert first["errcode"] == 0
    assert first["errmsg"] == "ok"
    assert first["expires_in"] == 7200
    assert len(first["access_token"]) <= 512
    wire.advance(100)
    again = wire.gettoken()
    assert again["access_token"] == first["access_token"]
    wire.advance(7100)
    renewed = wire.gettoken()
    assert renewed["access_token"] != first["access_token"]
    assert renewed["expires_in"] == 7200


def test_token_errors() -> None:
    wire = Wire(FakeConfig(token_ttl=60))
    assert_error(wire.gettoken(secret="wrong"), 40001)
    assert_error(wire.gettoken(corpid="wwother"), 40013)
    assert_error(wire.gettoken(corpid=None), 41002)
    assert_error(wire.gettoken(secret=None), 41004)
    response = wire.http.get("/cgi-bin/externalcontact/get_follow_user_list")
    assert_error(response.json(), 41001)
    assert_error(wire.get("externalcontact/get_follow_user_list", token="forged"), 40014)
    token = wire.token()
    assert wire.get("externalcontact/get_follow_user_list", token=token)["errcode"] == 0
    wire.advance(60)
    assert_error(wire.get("externalcontact/get_follow_user_list", token=token), 42001)


def test_tokens_are_per_app_and_other_apps_get_48002() -> None:
    wire = Wire(FakeConfig(other_app_secrets=["office-app-secret"]))
    other = wire.gettoken(secret="office-app-secret")["access_token"]
    assert other != wire.token()
    assert_error(wire.get("externalcontact/get_follow_user_list", token=other), 48002)


def test_a_revoked_token_is_40014_and_gettoken_issues_a_new_one() -> None:
    wire = Wire(FakeConfig())
    token = wire.token()
    assert wire.control("tokens/revoke", {"access_token": token}) == {"revoked": 1}
    assert_error(wire.get("externalcontact/get_follow_user_list", token=token), 40014)
    assert wire.gettoken()["access_token"] != token


def test_per_minute_limit_blocks_to_the_end_of_the_minute() -> None:
    wire = Wire(FakeConfig(per_minute=3, per_hour=1000))
    token = wire.token()
    for _ in range(3):
        assert wire.get("externalcontact/get_follow_user_list", token=token)["errcode"] == 0
    assert_error(wire.get("externalcontact/get_follow_user_list", token=token), 45009)
    assert wire.get("externalcontact/list", token=token, userid="zhangsan")["errcode"] == 84061
    wire.advance(49)  # 09:00:59 — same minute, still blocked
    assert_error(wire.get("externalcontact/get_follow_user_list", token=token), 45009)
    wire.advance(1)  # 09:01:00
    assert wire.get("externalcontact/get_follow_user_list", token=token)["errcode"] == 0


def test_per_hour_limit() -> None:
    wire = Wire(FakeConfig(per_minute=100, per_hour=4))
    token = wire.token()
    for _ in range(4):
        wire.get("externalcontact/get_follow_user_list", token=token)
        wire.advance(60)
    assert_error(wire.get("externalcontact/get_follow_user_list", token=token), 45009)
    wire.advance(3600 - 4 * 60 - 10)  # → 10:00:00
    assert wire.get("externalcontact/get_follow_user_list", token=token)["errcode"] == 0


def test_per_ip_limit() -> None:
    wire = Wire(FakeConfig(ip_per_minute=2))
    token = wire.token()
    wire.get("externalcontact/get_follow_user_list", token=token)
    wire.get("externalcontact/get_follow_user_list", token=token)
    assert_error(wire.get("externalcontact/get_follow_user_list", token=token), 45009)


def test_untrusted_ip_gets_60020() -> None:
    wire = Wire(FakeConfig(trusted_ips=["10.0.0.1"]))
    assert_error(wire.gettoken(), 60020)


def test_concurrency_cap_answers_45033() -> None:
    wire = Wire(FakeConfig(concurrency={"externalcontact/remark": 1}))
    external = wire.seed("zhangsan", 1)[0]
    token = wire.token()
    wire.control("faults", {"kind": "delay", "api": "externalcontact/remark", "delay": 0.3})
    body = {"userid": "zhangsan", "external_userid": external, "remark": "r"}
    slow: list[int] = []
    thread = threading.Thread(
        target=lambda: slow.append(
            wire.post("externalcontact/remark", body, token=token)["errcode"]
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not wire.fake.limits._in_flight["externalcontact/remark"]:
        assert time.monotonic() < deadline, "the slow call never started"
        time.sleep(0.005)
    assert_error(wire.post("externalcontact/remark", body, token=token), 45033)
    thread.join()
    assert slow == [0]


def test_fault_injection_schedule() -> None:
    wire = Wire(FakeConfig())
    token = wire.token()
    wire.control("faults", {"kind": "busy", "api": "externalcontact/get_follow_user_list"})
    wire.control("faults", {"kind": "http", "status": 502})
    assert_error(wire.get("externalcontact/get_follow_user_list", token=token), -1)
    response = wire.http.get(
        "/cgi-bin/externalcontact/get_follow_user_list", params={"access_token": token}
    )
    assert response.status_code == 502
    assert wire.get("externalcontact/get_follow_user_list", token=token)["errcode"] == 0


def test_busy_fraction_is_deterministic_per_seed() -> None:
    def run() -> list[int]:
        wire = Wire(FakeConfig(seed=7))
        token = wire.token()
        wire.control("faults", {"busy_fraction": 0.5})
        return [
            wire.get("externalcontact/get_follow_user_list", token=token)["errcode"]
            for _ in range(20)
        ]

    first = run()
    assert first == run()
    assert {0, -1} == set(first)


def test_post_bodies_that_are_not_json_objects_are_40063() -> None:
    wire = Wire(FakeConfig())
    token = wire.token()
    for content in (b"", b"{not json", b"[1, 2]"):
        response = wire.http.post(
            "/cgi-bin/externalcontact/get_corp_tag_list",
            params={"access_token": token},
            content=content,
        )
        assert_error(response.json(), 40063)
    assert "wrong json format" in response.json()["errmsg"]


def test_legacy_transfer_endpoints_are_deprecated() -> None:
    wire = Wire(FakeConfig())
    assert_error(wire.post("externalcontact/transfer", {}), 48005)
    assert_error(wire.post("externalcontact/get_transfer_result", {}), 48005)


def test_errmsg_hints_are_unique() -> None:
    wire = Wire(FakeConfig())
    a = wire.gettoken(secret="x")["errmsg"]
    b = wire.gettoken(secret="x")["errmsg"]
    assert ERRMSG.match(a)
    assert a != b


@pytest.mark.parametrize("corpid", [DEFAULT_CORP_ID])
def test_defaults_are_the_printed_ones(corpid: str) -> None:
    wire = Wire(FakeConfig())
    assert wire.gettoken(corpid=corpid, secret=DEFAULT_SECRET)["errcode"] == 0
    follow = wire.get("externalcontact/get_follow_user_list")
    assert follow["follow_user"] == ["zhangsan", "lisi", "wangwu"]
