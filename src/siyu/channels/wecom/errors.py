"""Typed WeCom errors that keep ``errcode``/``errmsg``, and which of them a client may retry.

WeComError (AppError, 502)
 ├── WeComApiError            a response with errcode != 0 (fields: api, errcode, errmsg)
 │    ├── TokenRejected       40014 invalid / 41001 missing access_token
 │    │    └── TokenExpired   42001
 │    ├── RateLimited         45009 frequency, 45033 concurrency (``retry_after`` seconds)
 │    ├── SystemBusy          -1
 │    ├── NotReady            41063 mass message still being dispatched
 │    ├── CredentialsRejected 40001, 40013, 40091, 48002, 60020, 41002, 41004 (never retried)
 │    └── NoRelationship      84061 (no external-contact relationship)
 ├── WeComTransportError      connection failure, timeout, HTTP status != 200, body not JSON
 └── CallbackRejected         a callback whose signature, padding or receiveid is wrong
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from siyu.core.errors import AppError

SYSTEM_BUSY = -1
TOKEN_INVALID = 40014
TOKEN_MISSING = 41001
TOKEN_EXPIRED = 42001
FREQ_LIMIT = 45009
CONCURRENCY_LIMIT = 45033
NOT_READY = 41063
NO_RELATIONSHIP = 84061
CREDENTIAL_CODES = frozenset({40001, 40013, 40091, 41002, 41004, 48002, 60020})


class Retry(StrEnum):
    """What a client should do about an errcode (spec §2, §5, §3.5)."""

    NEVER = "never"  # a request or configuration problem: surface it
    # 40014 / 42001: fetch a new token, retry once
    REFRESH_TOKEN = "refresh"  # noqa: S105 - a retry kind, not a secret
    BACKOFF = "backoff"  # -1, 41063: retry a few times with a growing delay
    RATE_LIMIT = "rate_limit"  # 45009 / 45033: wait for the window, then retry


def retry_kind(errcode: int) -> Retry:
    """Classify an errcode by how a caller may recover from it."""
    if errcode in (TOKEN_INVALID, TOKEN_EXPIRED):
        return Retry.REFRESH_TOKEN
    if errcode in (SYSTEM_BUSY, NOT_READY):
        return Retry.BACKOFF
    if errcode in (FREQ_LIMIT, CONCURRENCY_LIMIT):
        return Retry.RATE_LIMIT
    return Retry.NEVER


class WeComError(AppError):
    """Base of everything the WeCom channel raises."""

    status, code, title = 502, "wecom_error", "WeCom error"


class WeComApiError(WeComError):
    """WeCom answered with ``errcode != 0``; ``errmsg`` is kept verbatim (it is not a contract)."""

    code = "wecom_api_error"
    default_hint: ClassVar[str | None] = None

    def __init__(self, api: str, errcode: int, errmsg: str, *, hint: str | None = None) -> None:
        super().__init__(
            f"WeCom {api} failed with errcode {errcode}: {errmsg}",
            hint=hint or self.default_hint,
        )
        self.api = api
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def retry(self) -> Retry:
        return retry_kind(self.errcode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api={self.api!r}, errcode={self.errcode})"


class TokenRejected(WeComApiError):
    code = "wecom_token_rejected"
    default_hint = "the access token was refused; fetch a new one with gettoken"


class TokenExpired(TokenRejected):
    code = "wecom_token_expired"


class RateLimited(WeComApiError):
    """45009 or 45033; ``retry_after`` is how long the caller should wait (seconds)."""

    code = "wecom_rate_limited"
    default_hint = "WeCom limits calls per corp and API; retry after the window resets"

    def __init__(
        self,
        api: str,
        errcode: int,
        errmsg: str,
        *,
        retry_after: float = 60.0,
        hint: str | None = None,
    ) -> None:
        super().__init__(api, errcode, errmsg, hint=hint)
        self.retry_after = retry_after


class SystemBusy(WeComApiError):
    code = "wecom_system_busy"
    default_hint = "WeCom reported a system error (-1); retry later"


class NotReady(WeComApiError):
    code = "wecom_not_ready"
    default_hint = "the mass message is still being dispatched; query it again in a few seconds"


class CredentialsRejected(WeComApiError):
    code = "wecom_credentials_rejected"
    default_hint = (
        "check the corp id, the app secret, that the app may call customer-contact APIs "
        "and that this server's IP is in the app's trusted IP list"
    )


class NoRelationship(WeComApiError):
    code = "wecom_no_relationship"


class WeComTransportError(WeComError):
    """The request did not produce a WeCom JSON answer (network, timeout, HTTP status)."""

    code = "wecom_transport_error"

    def __init__(self, api: str, detail: str, *, sent: bool) -> None:
        super().__init__(f"WeCom {api}: {detail}", hint="check connectivity to WeCom and retry")
        self.api = api
        self.sent = sent  # whether WeCom may have received (and acted on) the request


class CallbackRejected(WeComError):
    """A callback failed verification; ``local_code`` follows WXBizMsgCrypt (-40001 … -40011)."""

    status, code, title = 400, "wecom_callback_rejected", "WeCom callback rejected"

    def __init__(self, local_code: int, detail: str) -> None:
        super().__init__(
            detail,
            hint="check the callback Token, EncodingAESKey and corp id configured for this app",
        )
        self.local_code = local_code


_BY_CODE: dict[int, type[WeComApiError]] = {
    TOKEN_INVALID: TokenRejected,
    TOKEN_MISSING: TokenRejected,
    TOKEN_EXPIRED: TokenExpired,
    FREQ_LIMIT: RateLimited,
    CONCURRENCY_LIMIT: RateLimited,
    SYSTEM_BUSY: SystemBusy,
    NOT_READY: NotReady,
    NO_RELATIONSHIP: NoRelationship,
    **dict.fromkeys(CREDENTIAL_CODES, CredentialsRejected),
}


def error_for(api: str, errcode: int, errmsg: str) -> WeComApiError:
    """Return the typed error for an ``errcode``."""
    return _BY_CODE.get(errcode, WeComApiError)(api, errcode, errmsg)
