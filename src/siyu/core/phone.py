"""Mainland China mobile numbers: normalise, validate, mask."""

from __future__ import annotations

import re

from siyu.core.errors import InvalidInput

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_STRIP = re.compile(r"[\s\-()（）]")


def normalise_phone(raw: str) -> str:
    """Return the 11-digit mainland mobile number in ``raw``.

    Accepts spaces, dashes, brackets and a ``+86``/``0086``/``86`` prefix. Raises ``InvalidInput``
    for anything else, including masked numbers such as ``138****1234``.
    """
    text = _STRIP.sub("", raw.strip())
    for prefix in ("+86", "0086", "86"):
        if text.startswith(prefix) and len(text) == 11 + len(prefix):
            text = text[len(prefix) :]
            break
    if not _MOBILE.match(text):
        raise InvalidInput(
            f"{raw!r} is not a mainland China mobile number",
            hint="use 11 digits starting with 13-19, optionally prefixed with +86",
        )
    return text


def is_masked_phone(raw: str) -> bool:
    """Return whether ``raw`` looks like a masked number such as ``138****1234``."""
    return bool(re.fullmatch(r"1[3-9]\d\*{4}\d{4}", raw.strip()))


def mask_phone(phone: str) -> str:
    """Return ``138****1234`` for ``13812341234``; other strings keep first 3 and last 4."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def mask_email(email: str) -> str:
    """Return ``z***@example.com`` for ``zhang@example.com``."""
    local, _, domain = email.partition("@")
    if not domain:
        return mask_phone(email)
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """Return ``张*`` / ``张*明``: keep the first and (for 3+ characters) the last character."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
