from __future__ import annotations

import uuid

import pytest
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
