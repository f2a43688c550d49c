"""Strong identity keys: kinds, normalisation, junk detection and blind-index hashing."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from siyu.core.errors import FieldError, InvalidInput
from siyu.core.phone import normalise_phone
from siyu.security.pii import blind_index, blind_indexes


class KeyKind(StrEnum):
    """Kinds of strong keys. Records sharing one strong key are the same customer."""

    UNIONID = "unionid"  # WeChat unionid: one person across the brand's WeChat apps
    EXTERNAL_USERID = "external_userid"  # WeCom external contact id (namespace: corp id)
    OPENID = "openid"  # per app (namespace: the 公众号 / mini-program appid)
    PHONE = "phone"  # normalised mainland mobile
    EMAIL = "email"
    MEMBER_NO = "member_no"  # the brand's membership number
    BUYER = "buyer"  # a platform buyer id / nickname (namespace: tmall, jd, pdd, douyin…)


KEY_HASH_LENGTH = 32
"""Hex digits kept of a key's blind index: 128 bits. The HMAC covers kind, namespace and value,
so the hash alone tells a tenant's keys apart (identities are unique by tenant and hash)."""

# Kinds whose namespace must be given: an openid means nothing without its app.
NAMESPACED = {KeyKind.OPENID, KeyKind.BUYER}

# A person normally has one value of these per namespace; many on one customer signals a junk key.
EXCLUSIVE = {KeyKind.UNIONID, KeyKind.MEMBER_NO, KeyKind.BUYER, KeyKind.OPENID}

# Numbers typed when the real one is unknown: documentation examples, all-same digits, sequences.
PHONE_BLOCKLIST = {
    "13800138000",
    "13800000000",
    "13888888888",
    "13900000000",
    "13912345678",
    "13812345678",
    "18888888888",
    "19999999999",
    "12345678901",
}
_REPEATED = re.compile(r"(\d)\1{6,}")
_SEQUENTIAL = ("12345678", "23456789", "98765432", "87654321")
_SEQUENTIAL_RUN = re.compile("|".join(_SEQUENTIAL))
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_JUNK_TEXT = {"", "-", "null", "none", "无", "未知", "test", "0"}


@dataclass(frozen=True)
class IdentityKey:
    """One normalised strong key."""

    kind: KeyKind
    value: str
    namespace: str = ""
    space: tuple[str, str] = field(init=False, repr=False, compare=False)
    """``(kind value, namespace)``: where the value is unique, as the identity index has it."""
    _hash: int = field(init=False, repr=False, compare=False)
    """The hash of the compared fields, computed once: batch OneID hashes each key many times
    (an enum member hashes in Python)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "space", (str(self.kind), self.namespace))
        object.__setattr__(self, "_hash", hash((self.kind, self.value, self.namespace)))

    def __hash__(self) -> int:
        return self._hash

    def hash(self, tenant_id: uuid.UUID) -> str:
        """Return the per-tenant blind index of this key (``KEY_HASH_LENGTH`` hex digits)."""
        return blind_index(tenant_id, self.purpose, self.value)[:KEY_HASH_LENGTH]

    @property
    def purpose(self) -> str:
        """What the blind index of this key's value is derived for: its kind and namespace."""
        return f"id:{self.kind}:{self.namespace}"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.namespace}" if self.namespace else str(self.kind)


def make_key(kind: KeyKind | str, raw: str, namespace: str = "") -> IdentityKey:
    """Normalise ``raw`` into a key of ``kind``; raise ``InvalidInput`` naming what is wrong."""
    kind = KeyKind(kind)
    value = raw.strip()
    namespace = namespace.strip()
    if kind in NAMESPACED and not namespace:
        raise InvalidInput(
            f"{kind} keys need a namespace",
            hint="give the appid for openid, the platform (tmall, jd, pdd, douyin) for buyer ids",
            errors=[FieldError(field="namespace", reason="missing")],
        )
    if kind is KeyKind.PHONE:
        value = normalise_phone(value)
    elif kind is KeyKind.EMAIL:
        value = value.lower()
        if not _EMAIL.match(value):
            raise InvalidInput(f"{raw!r} is not an email address", hint="write name@example.com")
    if not value or len(value) > 128:
        raise InvalidInput(
            f"{kind} value must be 1-128 characters",
            hint="send the identifier as the source has it",
        )
    return IdentityKey(kind=kind, value=value, namespace=namespace)


def key_hashes(tenant_id: uuid.UUID, keys: Iterable[IdentityKey]) -> dict[IdentityKey, str]:
    """Return each key's ``hash(tenant_id)``, one blind-index key derivation per key kind."""
    listed = list(keys)
    return dict(zip(listed, key_hash_list(tenant_id, listed), strict=True))


def key_hash_list(tenant_id: uuid.UUID, keys: Sequence[IdentityKey]) -> list[str]:
    """``key_hashes`` as a list in the order of ``keys``."""
    spaces: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n, key in enumerate(keys):
        spaces[key.space].append(n)
    out = [""] * len(keys)
    for numbers in spaces.values():
        found = blind_indexes(tenant_id, keys[numbers[0]].purpose, [keys[n].value for n in numbers])
        for n, key_hash in zip(numbers, found, strict=True):
            out[n] = key_hash[:KEY_HASH_LENGTH]
    return out


def junk_reason(key: IdentityKey) -> str | None:
    """Return why a key must never merge customers, or ``None`` when it may."""
    if key.value.lower() in _JUNK_TEXT:
        return "placeholder value"
    if key.kind is KeyKind.PHONE:
        if key.value in PHONE_BLOCKLIST:
            return "known placeholder or test number"
        if _REPEATED.search(key.value):
            return "seven or more repeated digits"
        if _SEQUENTIAL_RUN.search(key.value):
            return "sequential digits"
    return None
