"""Password hashing with argon2id."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from siyu.core.errors import InvalidInput

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password is {len(password)} characters long",
            hint=f"use at least {MIN_PASSWORD_LENGTH} characters",
        )
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verified against on unknown usernames so that timing does not reveal which names exist.
DUMMY_HASH = _hasher.hash("not-a-real-password")
