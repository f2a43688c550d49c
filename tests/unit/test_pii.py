from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from siyu.config import PiiSettings
from siyu.core.errors import ConfigurationError
from siyu.security.pii import Keyring, generate_key


def _ring(keys: dict[str, str], active: str, blind: str | None = None) -> Keyring:
    return Keyring(
        PiiSettings(
            keys={k: SecretStr(v) for k, v in keys.items()},
            active_key_id=active,
            blind_index_key=SecretStr(blind or generate_key()),
        )
    )


@given(st.text(max_size=200))
def test_encrypt_round_trip(plain: str) -> None:
    ring = _ring({"k1": generate_key()}, "k1")
    stored = ring.encrypt(plain)
    assert stored.startswith("v1:k1:")
    assert ring.decrypt(stored) == plain


def test_encryption_is_randomised() -> None:
    ring = _ring({"k1": generate_key()}, "k1")
    assert ring.encrypt("13800001111") != ring.encrypt("13800001111")


def test_key_rotation() -> None:
    k1, k2 = generate_key(), generate_key()
    old = _ring({"k1": k1}, "k1")
    stored_old = old.encrypt("13800001111")
    rotated = _ring({"k1": k1, "k2": k2}, "k2")
    assert rotated.decrypt(stored_old) == "13800001111"
    assert rotated.key_id_of(rotated.encrypt("x")) == "k2"
    dropped = _ring({"k2": k2}, "k2")
    with pytest.raises(ConfigurationError) as info:
        dropped.decrypt(stored_old)
    assert "k1" in info.value.detail


def test_tampered_ciphertext_is_refused() -> None:
    ring = _ring({"k1": generate_key()}, "k1")
    stored = ring.encrypt("13800001111")
    tampered = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
    with pytest.raises(ConfigurationError):
        ring.decrypt(tampered)


def test_bad_keys_are_explained() -> None:
    with pytest.raises(ConfigurationError) as info:
        _ring({"k1": "c2hvcnQ="}, "k1")
    assert "32" in info.value.detail
    with pytest.raises(ValueError, match="active_key_id"):
        PiiSettings(keys={"k1": SecretStr(generate_key())}, active_key_id="k9")


def test_blind_index_is_per_tenant_and_key() -> None:
    blind = generate_key()
    ring = _ring({"k1": generate_key()}, "k1", blind)
    same = _ring({"k1": generate_key()}, "k1", blind)
    t1, t2 = uuid.uuid4(), uuid.uuid4()
    assert ring.blind_index(t1, "phone", "13800001111") == same.blind_index(
        t1, "phone", "13800001111"
    )
    assert ring.blind_index(t1, "phone", "13800001111") != ring.blind_index(
        t2, "phone", "13800001111"
    )
    assert ring.blind_index(t1, "phone", "x") != ring.blind_index(t1, "email", "x")


@given(st.lists(st.text(max_size=80), max_size=5), st.sampled_from(["phone", "email", "id:x:"]))
def test_blind_indexes_are_hmac_sha256_under_the_hkdf_tenant_key(
    values: list[str], kind: str
) -> None:
    blind = generate_key()
    ring = _ring({"k1": generate_key()}, "k1", blind)
    tenant = uuid.UUID("0190f3a2-1111-7222-8333-444455556666")
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"siyu-blind-index:" + tenant.bytes
    ).derive(base64.urlsafe_b64decode(blind))
    expected = [hmac.new(key, f"{kind}:{v}".encode(), hashlib.sha256).hexdigest() for v in values]
    assert ring.blind_indexes(tenant, kind, values) == expected
    assert [ring.blind_index(tenant, kind, v) for v in values] == expected
