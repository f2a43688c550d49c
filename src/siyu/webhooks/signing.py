"""Webhook request signatures: HMAC-SHA256 over ``<timestamp>.<raw body>``, hex, ``sha256=…``.

The sender puts the unix time in ``X-Siyu-Timestamp`` and the signature in ``X-Siyu-Signature``.
The receiver recomputes the signature with every secret that is currently valid (the new one
and, during a rotation's grace period, the previous one) and compares in constant time. A
timestamp more than five minutes from the receiver's clock is refused, so a captured request
cannot be replayed later; within the window, ``X-Siyu-Delivery`` ids make retries harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

from siyu.core.errors import AuthenticationFailed

SIGNATURE_HEADER = "X-Siyu-Signature"
TIMESTAMP_HEADER = "X-Siyu-Timestamp"
DELIVERY_HEADER = "X-Siyu-Delivery"
TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SCHEME = "sha256"
_HEX = re.compile(r"^[0-9a-f]{64}$")
_HOW = (
    f"send {TIMESTAMP_HEADER}: <unix seconds> and {SIGNATURE_HEADER}: sha256=<hex of "
    "HMAC-SHA256(secret, timestamp + '.' + raw body)>; see docs/api.md, 'Signed order webhooks'"
)


class SignatureRejected(AuthenticationFailed):
    """The request is not signed by a current secret of the endpoint (HTTP 401)."""


def new_secret() -> str:
    """Return a fresh endpoint secret: ``whsec_`` and 43 urlsafe characters (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    """Return the ``X-Siyu-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(
    valid_secrets: Sequence[str],
    *,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    tolerance_seconds: int = TOLERANCE_SECONDS,
) -> None:
    """Return if ``signature`` signs ``body`` at a fresh ``timestamp``; else raise why not.

    ``signature`` may list several comma-separated ``sha256=`` values (a sender signing with the
    old and the new secret during a rotation); one match is enough.
    """
    if not timestamp or not timestamp.strip():
        raise SignatureRejected(f"missing {TIMESTAMP_HEADER} header", hint=_HOW)
    if not signature or not signature.strip():
        raise SignatureRejected(f"missing {SIGNATURE_HEADER} header", hint=_HOW)
    stamp = timestamp.strip()
    if not stamp.isdigit():
        raise SignatureRejected(
            f"{TIMESTAMP_HEADER} must be unix seconds, got {stamp[:40]!r}", hint=_HOW
        )
    skew = int(now.timestamp()) - int(stamp)
    if abs(skew) > tolerance_seconds:
        where = "behind" if skew > 0 else "ahead of"
        raise SignatureRejected(
            f"{TIMESTAMP_HEADER} {stamp} is {abs(skew)} s {where} siyu's clock; requests more "
            f"than {tolerance_seconds} s old or early are refused as possible replays",
            hint="sign every attempt (retries too) with the current time, and keep the "
            "sender's clock synchronised (NTP)",
        )
    digests = []
    for part in signature.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme.strip().lower() == SCHEME and _HEX.match(value.strip().lower()):
            digests.append(value.strip().lower())
    if not digests:
        raise SignatureRejected(
            f"{SIGNATURE_HEADER} must be 'sha256=' and 64 hex digits", hint=_HOW
        )
    matched = False
    for secret in valid_secrets:
        expected = sign(secret, stamp, body).partition("=")[2]
        for digest in digests:
            matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise SignatureRejected(
            "the signature does not match this endpoint's secret",
            hint="sign the exact bytes you send (do not re-serialise the JSON after signing), "
            f"with the secret of this endpoint — the new one after a rotation; {_HOW}",
        )
