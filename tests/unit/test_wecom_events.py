"""Callback XML → typed events (spec §6.3) and the HTTP handlers (spec §6.1, §8 step 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from siyu.channels.wecom.callbacks import create_callback_router
from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.errors import CallbackRejected
from siyu.channels.wecom.events import (
    CallbackEvent,
    ChatUpdate,
    ExternalChatCreated,
    ExternalChatDismissed,
    ExternalChatUpdated,
    ExternalContactAdded,
    ExternalContactDeleted,
    ExternalContactEdited,
    ExternalContactHalfAdded,
    ExternalTagCreated,
    ExternalTagDeleted,
    ExternalTagShuffled,
    ExternalTagUpdated,
    FailReason,
    FollowUserDeleted,
    TagType,
    TransferFailed,
    UnknownEvent,
    parse_event,
)
from tests.fixtures.wecom.vectors import (
    A1_ECHO,
    A_CORP,
    A_KEY,
    A_TOKEN,
    B2_ENCRYPT,
    B2_MSG,
    B_CORP,
    B_KEY,
    B_TOKEN,
)

ENVELOPE = (
    "<ToUserName><![CDATA[ww_corp_id]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
)


def contact_xml(change: str, extra: str = "", t: int = 1700000000) -> str:
    return (
        f"<xml>{ENVELOPE.format(t=t)}<Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{change}]]></ChangeType><UserID><![CDATA[zhangsan]]></UserID>"
        f"<ExternalUserID><![CDATA[wmX]]></ExternalUserID>{extra}</xml>"
    )


def test_add_external_contact_from_the_spec_example() -> None:
    event = parse_event(
        contact_xml(
            "add_external_contact",
            "<State><![CDATA[store-001]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode>",
        )
    )
    assert isinstance(event, ExternalContactAdded)
    assert event.corp_id == "ww_corp_id"
    assert event.from_user == "sys"
    assert event.create_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert (event.user_id, event.external_user_id) == ("zhangsan", "wmX")
    assert (event.state, event.welcome_code) == ("store-001", "WELCOMECODE")


def test_add_without_state_or_welcome_code() -> None:
    event = parse_event(contact_xml("add_external_contact"))
    assert isinstance(event, ExternalContactAdded)
    assert event.state is None
    assert event.welcome_code is None


@pytest.mark.parametrize(
    ("change", "extra", "cls"),
    [
        ("edit_external_contact", "", ExternalContactEdited),
        ("add_half_external_contact", "<State>s</State><WelcomeCode>W</WelcomeCode>",
         ExternalContactHalfAdded),
        ("del_external_contact", "<Source><![CDATA[DELETE_BY_TRANSFER]]></Source>",
         ExternalContactDeleted),
        ("del_follow_user", "", FollowUserDeleted),
        ("transfer_fail", "<FailReason><![CDATA[customer_refused]]></FailReason>", TransferFailed),
    ],
)  # fmt: skip
def test_every_contact_change_type(change: str, extra: str, cls: type[CallbackEvent]) -> None:
    event = parse_event(contact_xml(change, extra))
    assert type(event) is cls
    assert event.change_type == change
    if isinstance(event, ExternalContactDeleted):
        assert event.by_transfer
    if isinstance(event, TransferFailed):
        assert event.fail_reason is FailReason.CUSTOMER_REFUSED
    if isinstance(event, ExternalContactHalfAdded):
        assert (event.state, event.welcome_code) == ("s", "W")


def test_chat_update_from_the_spec_example() -> None:
    xml = (
        f"<xml>{ENVELOPE.format(t=1700000100)}<Event><![CDATA[change_external_chat]]></Event>"
        "<ChatId><![CDATA[wrXX]]></ChatId><ChangeType><![CDATA[update]]></ChangeType>"
        "<UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene>"
        "<QuitScene>0</QuitScene><MemChangeCnt>1</MemChangeCnt>"
        "<MemChangeList><Item>wmA</Item></MemChangeList>"
        "<LastMemVer>9c3f</LastMemVer><CurMemVer>7121</CurMemVer></xml>"
    )
    event = parse_event(xml)
    assert isinstance(event, ExternalChatUpdated)
    assert event.chat_id == "wrXX"
    assert event.update_detail is ChatUpdate.ADD_MEMBER
    assert (event.join_scene, event.quit_scene, event.mem_change_cnt) == (3, 0, 1)
    assert event.mem_change_list == ("wmA",)
    assert (event.last_mem_ver, event.cur_mem_ver) == ("9c3f", "7121")


@pytest.mark.parametrize(
    ("change", "cls"), [("create", ExternalChatCreated), ("dismiss", ExternalChatDismissed)]
)
def test_chat_create_and_dismiss(change: str, cls: type[CallbackEvent]) -> None:
    xml = (
        f"<xml>{ENVELOPE.format(t=1)}<Event>change_external_chat</Event><ChatId>wrA</ChatId>"
        f"<ChangeType>{change}</ChangeType></xml>"
    )
    assert type(parse_event(xml)) is cls


@pytest.mark.parametrize(
    ("change", "tag_type", "cls"),
    [
        ("create", "<TagType><![CDATA[tag]]></TagType>", ExternalTagCreated),
        ("update", "<TagType>tag_group</TagType>", ExternalTagUpdated),
        ("delete", "<TagType>tag_group</TagType>", ExternalTagDeleted),
        ("shuffle", "", ExternalTagShuffled),
    ],
)
def test_tag_events(change: str, tag_type: str, cls: type[CallbackEvent]) -> None:
    xml = (
        f"<xml>{ENVELOPE.format(t=1700000200)}<Event><![CDATA[change_external_tag]]></Event>"
        f"<Id><![CDATA[etXX]]></Id>{tag_type}<ChangeType><![CDATA[{change}]]></ChangeType></xml>"
    )
    event = parse_event(xml)
    assert type(event) is cls
    assert getattr(event, "id", None) == "etXX"
    expected = {"": None, "tag": TagType.TAG}.get(
        tag_type.replace("<TagType><![CDATA[", "").replace("]]></TagType>", ""),
        TagType.TAG_GROUP,
    )
    assert getattr(event, "tag_type", "missing") == expected


def test_unknown_event_keeps_its_fields_and_bad_xml_is_rejected() -> None:
    event = parse_event(f"<xml>{ENVELOPE.format(t=5)}<Event>something_new</Event><X>1</X></xml>")
    assert isinstance(event, UnknownEvent)
    assert event.fields["X"] == "1"
    with pytest.raises(CallbackRejected):
        parse_event("<xml><CreateTime>1</CreateTime>")
    with pytest.raises(CallbackRejected):
        parse_event(contact_xml("add_external_contact").replace("<UserID>", "<Other>", 1))
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>'
    with pytest.raises(CallbackRejected):
        parse_event(bomb)


def test_dedupe_key_is_stable_per_event_and_differs_between_events() -> None:
    a = parse_event(contact_xml("add_external_contact", t=100))
    again = parse_event(contact_xml("add_external_contact", t=100))
    later = parse_event(contact_xml("add_external_contact", t=101))
    assert a.dedupe_key() == again.dedupe_key()
    assert a.dedupe_key() != later.dedupe_key()


def _receiver(crypto: WeComCrypto) -> tuple[TestClient, list[CallbackEvent]]:
    received: list[CallbackEvent] = []

    def resolve(_: Request) -> WeComCrypto:
        return crypto

    app = FastAPI()
    app.include_router(create_callback_router(resolve, received.append, path="/cb"))
    return TestClient(app), received


def test_http_get_answers_bare_plaintext_for_percent_encoded_a1() -> None:
    client, _ = _receiver(WeComCrypto(A_TOKEN, A_KEY, A_CORP))
    query = (
        "msg_signature=dd6b9c95b495b3f7e2901bfbc76c664930ffdb96&timestamp=1411443780"
        f"&nonce=437374425&echostr={quote(A1_ECHO, safe='')}"
    )
    assert "%2B" in query
    response = client.get(f"/cb?{query}")
    assert response.status_code == 200
    assert response.content == b"5927782489442352469"
    bad = client.get(f"/cb?{query.replace('437374425', '437374424')}")
    assert bad.status_code == 400
    assert bad.content != b"5927782489442352469"


def test_http_post_b2_is_accepted_and_a_forged_one_is_not() -> None:
    client, received = _receiver(WeComCrypto(B_TOKEN, B_KEY, B_CORP))
    body = (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        f"<Encrypt><![CDATA[{B2_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    )
    query = "msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813"
    response = client.post(f"/cb?{query}&nonce=1372623149", content=body)
    assert response.status_code == 200
    assert len(received) == 1
    assert isinstance(received[0], UnknownEvent)  # a text message, not a contact event
    assert received[0].fields["Content"] == "hello"
    assert received[0].corp_id == "wx5823bf96d3bd56c7"
    assert B2_MSG.count(b"hello") == 1
    forged = client.post(f"/cb?{query}&nonce=1", content=body)
    assert forged.status_code == 400
    missing = client.post("/cb", content=body)
    assert missing.status_code == 400
    assert len(received) == 1
