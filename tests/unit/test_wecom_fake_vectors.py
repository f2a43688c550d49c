"""The fake's callback XML and encryption reproduce spec §8 Set C byte for byte."""

from __future__ import annotations

from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.events import UnknownEvent, parse_event
from siyu.channels.wecom.fake.callbacks import event_xml
from tests.fixtures.wecom.vectors import B_CORP, B_KEY, B_TOKEN, C_ENCRYPT, C_MSG


def test_fake_event_xml_is_set_c_and_encrypts_to_its_vector() -> None:
    xml = event_xml(
        B_CORP,
        1700000000,
        "change_external_contact",
        [
            ("ChangeType", "add_external_contact"),
            ("UserID", "zhangsan"),
            ("ExternalUserID", "wmSiyuTestExternalUser0000000001"),
            ("State", "store-001"),
            ("WelcomeCode", "WELCOMECODE001"),
        ],
    )
    assert xml.encode() == C_MSG
    crypto = WeComCrypto(B_TOKEN, B_KEY, B_CORP, random_source=lambda: b"0123456789abcdef")
    encrypt, signature = crypto.encrypt_message(xml, timestamp="1700000000", nonce="5432112345")
    assert encrypt == C_ENCRYPT
    assert signature == "dc25abd107d03f98ad3e04c430fd4811574805a9"


def test_fake_event_xml_escapes_cdata_terminators() -> None:
    xml = event_xml("ww", 1, "change_external_contact", [("State", "a]]>b"), ("N", None)])
    assert "<State><![CDATA[a]]]]><![CDATA[>b]]></State>" in xml
    assert "<N>" not in xml
    event = parse_event(xml)
    assert isinstance(event, UnknownEvent)
    assert event.fields["State"] == "a]]>b"
