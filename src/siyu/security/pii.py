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
import hmac
import os
import uuid
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
        key = _tenant_blind_key(self._blind_master, tenant_id)
        return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=4096)
def _tenant_blind_key(master: bytes, tenant_id: uuid.UUID) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"siyu-blind-index:" + tenant_id.bytes
    ).derive(master)


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
