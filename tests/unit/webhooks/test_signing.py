"""Webhook signatures: the documented vector, the replay window, rotation, tampering."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.webhooks.signing import SignatureRejected, new_secret, sign, verify

# The worked example of docs/api.md, "Signed order webhooks".
DOC_SECRET = "whsec_3q2-7wLJg0aZ8Ux1c4Hk9mR5tY6bN0vPqS8dF2eG1hA"
DOC_TIMESTAMP = 1780300800
DOC_BODY = (
    b'{"orders":[{"external_id":"POS-20260601-0001","keys":[{"kind":"member_no",'
    b'"value":"VIP-0001"}],"paid_fen":25900,"paid_at":"2026-06-01T16:00:00+08:00",'
    b'"store_code":"SH-001"}]}'
)
DOC_SIGNATURE = "sha256=3cc307a54da44598800afb9e3042cd305432d1418a11d7c473a7c8b07379c5c3"
AT = datetime.fromtimestamp(DOC_TIMESTAMP, UTC)


def test_the_documented_example_signs_and_verifies() -> None:
    assert len(DOC_BODY) == 174
    assert sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    verify(
        [DOC_SECRET], body=DOC_BODY, timestamp=str(DOC_TIMESTAMP), signature=DOC_SIGNATURE, now=AT
    )


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_five_minutes_either_way(offset: int, ok: bool) -> None:
    stamp = DOC_TIMESTAMP + offset
    signature = sign(DOC_SECRET, stamp, DOC_BODY)
    if ok:
        verify([DOC_SECRET], body=DOC_BODY, timestamp=str(stamp), signature=signature, now=AT)
    else:
        with pytest.raises(SignatureRejected, match="refused as possible replays"):
            verify([DOC_SECRET], body=DOC_BODY, timestamp=str(stamp), signature=signature, now=AT)


def test_any_current_secret_and_any_listed_signature_will_do() -> None:
    old, new = new_secret(), new_secret()
    by_old = sign(old, DOC_TIMESTAMP, DOC_BODY)
    stamp = str(DOC_TIMESTAMP)
    verify([new, old], body=DOC_BODY, timestamp=stamp, signature=by_old, now=AT)
    both = f"{sign('whsec_other', DOC_TIMESTAMP, DOC_BODY)}, {by_old.upper().replace('SHA', 'sha')}"
    verify([old], body=DOC_BODY, timestamp=stamp, signature=both, now=AT)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify([new], body=DOC_BODY, timestamp=stamp, signature=by_old, now=AT)


@pytest.mark.parametrize(
    ("timestamp", "signature", "message"),
    [
        (None, DOC_SIGNATURE, "missing X-Siyu-Timestamp"),
        (str(DOC_TIMESTAMP), "", "missing X-Siyu-Signature"),
        ("2026-06-01T08:00:00Z", DOC_SIGNATURE, "unix seconds"),
        (str(DOC_TIMESTAMP), "sha1=" + "0" * 40, "64 hex digits"),
        (str(DOC_TIMESTAMP), DOC_SIGNATURE[:-1], "64 hex digits"),
    ],
)
def test_malformed_headers_say_what_is_wrong(
    timestamp: str | None, signature: str, message: str
) -> None:
    with pytest.raises(SignatureRejected, match=message) as caught:
        verify([DOC_SECRET], body=DOC_BODY, timestamp=timestamp, signature=signature, now=AT)
    assert caught.value.status == 401
    assert caught.value.hint


def test_secrets_are_fresh_and_long() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    assert all(s.startswith("whsec_") and len(s) == 6 + 43 for s in secrets)


@given(body=st.binary(max_size=2048), position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_round_trip_and_any_changed_byte_is_refused(body: bytes, position: int, flip: int) -> None:
    secret = "whsec_fixed-for-the-property"
    signature = sign(secret, DOC_TIMESTAMP, body)
    verify([secret], body=body, timestamp=str(DOC_TIMESTAMP), signature=signature, now=AT)
    if not body:
        return
    i = position % len(body)
    tampered = body[:i] + bytes([body[i] ^ flip]) + body[i + 1 :]
    with pytest.raises(SignatureRejected):
        verify([secret], body=tampered, timestamp=str(DOC_TIMESTAMP), signature=signature, now=AT)
