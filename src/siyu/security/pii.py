"""PII at rest: AES-256-GCM encrypted columns with key ids, and HMAC blind indexes.

Ciphertext is stored as ``v1:<key id>:<urlsafe base64 of nonce ‖ ciphertext ‖ tag>``, so keys can
rotate: new values use the active key, old values decrypt with the key their id names.
A blind index is ``HMAC-SHA256(tenant key, kind ":" normalised value)`` in hex; the tenant key is
derived from the master blind-index key with HKDF over the tenant id, so equal phones in two
tenants do not share an index value.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from siyu.config import PiiSettings
from siyu.core.errors import ConfigurationError

_PREFIX = "v1"


def _decode_key(key_id: str, encoded: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(encoded.encode())
    except ValueError as exc:
        raise ConfigurationError(
            f"PII key {key_id!r} is not urlsafe base64", hint="run `siyu config generate-keys`"
        ) from exc
    if len(raw) != 32:
        raise ConfigurationError(
            f"PII key {key_id!r} is {len(raw)} bytes; AES-256 needs 32",
            hint="run `siyu config generate-keys`",
        )
    return raw


class Keyring:
    """Encrypts with the active key, decrypts with any configured key, computes blind indexes."""

    def __init__(self, settings: PiiSettings) -> None:
        self._aead = {
            key_id: AESGCM(_decode_key(key_id, secret.get_secret_value()))
            for key_id, secret in settings.keys.items()
        }
        self.active_key_id = settings.active_key_id
        self._blind_master = _decode_key(
            "blind_index_key", settings.blind_index_key.get_secret_value()
        )

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead[self.active_key_id].encrypt(nonce, plaintext.encode(), None)
        payload = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{_PREFIX}:{self.active_key_id}:{payload}"

    def decrypt(self, stored: str) -> str:
        try:
            prefix, key_id, payload = stored.split(":", 2)
        except ValueError as exc:
            raise ConfigurationError("stored PII value is not in the v1 format") from exc
        if prefix != _PREFIX or key_id not in self._aead:
            raise ConfigurationError(
                f"no PII key {key_id!r} to decrypt a stored value",
                hint="keep retired keys in SIYU_PII__KEYS until every value is re-encrypted",
            )
        raw = base64.urlsafe_b64decode(payload.encode())
        try:
            return self._aead[key_id].decrypt(raw[:12], raw[12:], None).decode()
        except InvalidTag as exc:
            raise ConfigurationError(
                f"PII key {key_id!r} does not open a stored value",
                hint="the key for this id changed; restore the original key",
            ) from exc

    def key_id_of(self, stored: str) -> str:
        return stored.split(":", 2)[1]

    def blind_index(self, tenant_id: uuid.UUID, kind: str, normalised: str) -> str:
        return self.blind_indexes(tenant_id, kind, [normalised])[0]

    def blind_indexes(self, tenant_id: uuid.UUID, kind: str, values: Iterable[str]) -> list[str]:
        """Return the blind index of each value, in order (one key derivation for all)."""
        inner, outer = _tenant_blind_pads(self._blind_master, tenant_id)
        prefix = f"{kind}:"
        out = []
        for value in values:
            # HMAC-SHA256 (RFC 2104) from the key's precomputed pad states: what hmac.new
            # computes, without deriving the pads again for every value
            digest = inner.copy()
            digest.update((prefix + value).encode())
            mac = outer.copy()
            mac.update(digest.digest())
            out.append(mac.hexdigest())
        return out


@lru_cache(maxsize=4096)
def _tenant_blind_pads(master: bytes, tenant_id: uuid.UUID) -> tuple[Any, Any]:
    """The SHA-256 states after the tenant key's inner and outer HMAC pads."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"siyu-blind-index:" + tenant_id.bytes
    ).derive(master)
    block = key.ljust(_SHA256_BLOCK, b"\0")  # 32-byte key, shorter than the block: padded
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


_SHA256_BLOCK = 64


_keyring: Keyring | None = None


def configure(settings: PiiSettings) -> Keyring:
    """Install the process-wide keyring used by ``EncryptedString`` columns."""
    global _keyring
    _keyring = Keyring(settings)
    return _keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise ConfigurationError("PII keyring not configured", hint="call init_database(settings)")
    return _keyring


def blind_index(tenant_id: uuid.UUID, kind: str, normalised: str) -> str:
    """Return the blind index of an already normalised value (phone, email, ...)."""
    return keyring().blind_index(tenant_id, kind, normalised)


def blind_indexes(tenant_id: uuid.UUID, kind: str, normalised: Iterable[str]) -> list[str]:
    """Return the blind index of each already normalised value, in order."""
    return keyring().blind_indexes(tenant_id, kind, normalised)


class EncryptedString(TypeDecorator[str]):
    """A string column stored encrypted (AES-GCM, key id recorded); plaintext in Python."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring().encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else keyring().decrypt(str(value))


def generate_key() -> str:
    """Return a fresh urlsafe-base64 32-byte key."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()
