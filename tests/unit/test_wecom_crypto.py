"""Callback crypto against the spec's vectors (§8) and wechatpy as an independent implementation."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import (  # type: ignore[import-untyped]  # no stubs published
    WeChatCrypto,
)

from siyu.channels.wecom.crypto import (
    BAD_AES_KEY,
    BASE64_DECODE,
    ILLEGAL_BUFFER,
    RECEIVE_ID_MISMATCH,
    SIGNATURE_MISMATCH,
    WeComCrypto,
    decode_aes_key,
    parse_xml,
    pkcs7_pad,
    pkcs7_unpad,
    signature,
    xml_field,
)
from siyu.channels.wecom.errors import CallbackRejected
from tests.fixtures.wecom.vectors import (
    A1_ECHO,
    A2_ENCRYPT,
    A2_MSG,
    A3_ENCRYPT,
    A3_MSG,
    A_CORP,
    A_KEY,
    A_TOKEN,
    B1_ECHO,
    B2_ENCRYPT,
    B2_MSG,
    B_CORP,
    B_KEY,
    B_TOKEN,
    C_ENCRYPT,
    C_MSG,
)


def crypto_a(**kw: object) -> WeComCrypto:
    return WeComCrypto(A_TOKEN, A_KEY, A_CORP, **kw)  # type: ignore[arg-type]


def crypto_b(**kw: object) -> WeComCrypto:
    return WeComCrypto(B_TOKEN, B_KEY, B_CORP, **kw)  # type: ignore[arg-type]


def test_aes_key_decodes_to_the_documented_32_bytes() -> None:
    key = decode_aes_key(A_KEY)
    assert key.hex() == "916c4f115d94103cb15a998f74a0b71787603c398ebdf297d471a71140d2d5a4"
    with pytest.raises(CallbackRejected) as exc:
        decode_aes_key(A_KEY[:-1])
    assert exc.value.local_code == BAD_AES_KEY


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "encrypt", "expected"),
    [
        (A_TOKEN, "1411443780", "437374425", A1_ECHO, "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"),
        (
            A_TOKEN,
            "1411525903",
            "461056294",
            A2_ENCRYPT,
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
        ),
        (B_TOKEN, "1409659589", "263014780", B1_ECHO, "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"),
        (
            B_TOKEN,
            "1409659813",
            "1372623149",
            B2_ENCRYPT,
            "477715d11cdb4164915debcba66cb864d751f3e6",
        ),
    ],
)
def test_signatures_match_the_vectors(
    token: str, timestamp: str, nonce: str, encrypt: str, expected: str
) -> None:
    assert signature(token, timestamp, nonce, encrypt) == expected


def test_a1_url_verification_and_its_negative() -> None:
    sig = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
    assert crypto_a().verify_url(sig, "1411443780", "437374425", A1_ECHO) == "5927782489442352469"
    with pytest.raises(CallbackRejected) as exc:
        crypto_a().verify_url(sig, "1411443780", "437374424", A1_ECHO)
    assert exc.value.local_code == SIGNATURE_MISMATCH


def test_b1_url_verification() -> None:
    sig = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
    assert crypto_b().verify_url(sig, "1409659589", "263014780", B1_ECHO) == "1616140317555161061"


def test_a2_and_b2_decrypt_exactly() -> None:
    assert crypto_a().decrypt(A2_ENCRYPT) == A2_MSG
    assert len(A2_MSG) == 281
    body = (
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        f"<Encrypt><![CDATA[{B2_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    )
    sig = "477715d11cdb4164915debcba66cb864d751f3e6"
    assert crypto_b().decrypt_message(body, sig, "1409659813", "1372623149") == B2_MSG
    assert len(B2_MSG) == 284


def test_a3_and_c_encrypt_deterministically() -> None:
    a = crypto_a(random_source=lambda: b"1234567890123456")
    assert len(A3_MSG) == 247
    encrypt, sig = a.encrypt_message(A3_MSG, timestamp="1411525903", nonce="461056294")
    assert encrypt == A3_ENCRYPT
    assert sig == "407518b7649e86ef23978113f92d27afa9296533"
    c = crypto_b(random_source=lambda: b"0123456789abcdef")
    assert len(C_MSG) == 491
    encrypt, sig = c.encrypt_message(C_MSG, timestamp="1700000000", nonce="5432112345")
    assert encrypt == C_ENCRYPT
    assert sig == "dc25abd107d03f98ad3e04c430fd4811574805a9"


def test_tampering_wrong_token_and_wrong_receiveid_are_rejected() -> None:
    sig = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    raw = bytearray(base64.b64decode(A2_ENCRYPT))
    raw[40] ^= 0x01
    tampered = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(CallbackRejected) as exc:
        crypto_a().check_signature(sig, "1411525903", "461056294", tampered)
    assert exc.value.local_code == SIGNATURE_MISMATCH
    raw = bytearray(base64.b64decode(A2_ENCRYPT))
    raw[-17] ^= 0x01  # CBC: flips the last plaintext byte, i.e. the padding
    with pytest.raises(CallbackRejected) as exc:
        crypto_a().decrypt(base64.b64encode(bytes(raw)).decode())
    assert exc.value.local_code == ILLEGAL_BUFFER
    wrong_token = WeComCrypto("654321", A_KEY, A_CORP)
    with pytest.raises(CallbackRejected):
        wrong_token.check_signature(sig, "1411525903", "461056294", A2_ENCRYPT)
    other_corp = WeComCrypto(A_TOKEN, A_KEY, "wwsomeoneelse")
    with pytest.raises(CallbackRejected) as exc:
        other_corp.decrypt(A2_ENCRYPT)
    assert exc.value.local_code == RECEIVE_ID_MISMATCH
    with pytest.raises(CallbackRejected) as exc:
        crypto_a().decrypt("not base64!!")
    assert exc.value.local_code == BASE64_DECODE


def test_padding_is_pkcs7_to_32_bytes() -> None:
    assert pkcs7_pad(b"") == bytes([32]) * 32
    assert pkcs7_pad(b"x" * 31) == b"x" * 31 + b"\x01"
    assert pkcs7_pad(b"x" * 32) == b"x" * 32 + bytes([32]) * 32
    assert pkcs7_unpad(pkcs7_pad(b"abc")) == b"abc"
    for bad in (b"x" * 31 + b"\x00", b"x" * 30 + b"\x01\x02", b"x" * 31 + b"\x21", b"x" * 16):
        with pytest.raises(CallbackRejected) as exc:
            pkcs7_unpad(bad)
        assert exc.value.local_code == ILLEGAL_BUFFER


def test_repr_hides_token_and_key() -> None:
    text = repr(crypto_a())
    assert A_TOKEN not in text
    assert A_KEY not in text
    assert A_CORP in text


_KEYS = st.text(alphabet=string.ascii_letters + string.digits, min_size=43, max_size=43)
_IDS = st.text(alphabet=string.ascii_letters + string.digits, min_size=0, max_size=24)
_NONCES = st.text(alphabet=string.digits, min_size=1, max_size=12)


@given(
    message=st.text(max_size=2000), key=_KEYS, corp=_IDS, nonce=_NONCES, ts=st.integers(0, 2**31)
)
def test_round_trip_siyu_encrypts_wechatpy_decrypts(
    message: str, key: str, corp: str, nonce: str, ts: int
) -> None:
    ours = WeComCrypto("tok", key, corp)
    encrypt, sig = ours.encrypt_message(message, timestamp=str(ts), nonce=nonce)
    xml = f"<xml><ToUserName>{corp}</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    theirs = WeChatCrypto("tok", key, corp)
    assert theirs.decrypt_message(xml, sig, str(ts), nonce) == message


@given(
    message=st.text(max_size=2000), key=_KEYS, corp=_IDS, nonce=_NONCES, ts=st.integers(0, 2**31)
)
def test_round_trip_wechatpy_encrypts_siyu_decrypts(
    message: str, key: str, corp: str, nonce: str, ts: int
) -> None:
    theirs = WeChatCrypto("tok", key, corp)
    reply = theirs.encrypt_message(message, nonce, str(ts))
    ours = WeComCrypto("tok", key, corp)
    root = parse_xml(reply)
    sig = xml_field(root, "MsgSignature")
    assert sig is not None
    assert ours.decrypt_message(reply, sig, str(ts), nonce).decode() == message
