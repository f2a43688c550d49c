"""Authenticated, rate-limited, retried calls to the WeCom server API (spec §2, §5).

- Access tokens are cached per (host, corp, secret) in a ``TokenCache`` (share one per process),
  fetched single-flight, refreshed 300 s before expiry and once more on 40014/42001.
- Calls go through an ``ApiLimiter`` (80% of the per-corp limits, concurrency caps per API);
  share one per corp across clients. On 45009 the transport waits for the next minute boundary
  (the hour boundary if it repeats), on 45033 it narrows the API to one call in flight; a wait
  longer than ``RetryPolicy.max_rate_limit_wait`` raises ``RateLimited`` so the caller can
  reschedule instead of blocking.
- -1 and transport failures are retried up to ``max_busy_retries`` times with capped
  exponential backoff (transport failures only when the request was not sent or is
  idempotent); 41063 waits ``not_ready_wait`` seconds per attempt.
- ``clock`` and ``sleep`` are injectable, so tests move time instead of waiting.
- The secret and tokens never reach logs or reprs (httpx's own request log is redacted too).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

import httpx
import structlog
from pydantic import BaseModel, SecretStr

from siyu.channels.wecom import errors as e
from siyu.channels.wecom.ratelimit import ApiLimiter, RateLimits
from siyu.core.clock import SYSTEM_CLOCK, Clock

WECOM_BASE_URL = "https://qyapi.weixin.qq.com"
log = structlog.get_logger(__name__)
M = TypeVar("M", bound=BaseModel)
Json = dict[str, Any]

_SECRET_QUERY = re.compile(r"(corpsecret|access_token)=[^&\s\"']+")


class _RedactSecrets(logging.Filter):
    """Mask ``corpsecret`` and ``access_token`` in httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1=***", str(a)) if isinstance(a, str | httpx.URL) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1=***", record.msg)
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactSecrets) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactSecrets())


class HttpResponse(Protocol):
    @property
    def status_code(self) -> int: ...

    def json(self) -> Any: ...


class HttpClient(Protocol):
    """What the client needs of ``httpx.Client`` (Starlette's ``TestClient`` fits too)."""

    def request(
        self, method: str, url: str, *, params: dict[str, Any], json: Any
    ) -> HttpResponse: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_busy_retries: int = 3  # -1, 41063, transport failures ("≤ 3 retries", spec §5)
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    not_ready_wait: float = 2.0  # 41063: wait this long times the attempt number
    max_rate_limit_retries: int = 3
    max_rate_limit_wait: float = 65.0  # longer waits raise RateLimited for rescheduling
    refresh_margin: float = 300.0  # refresh tokens this many seconds before expiry
    timeout: float = 10.0


@dataclass
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """Access tokens keyed by (host, corp id, secret digest); one lock per key (single flight)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[tuple[str, str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, key: tuple[str, str, str]) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def get(self, key: tuple[str, str, str]) -> _Token | None:
        return self._tokens.get(key)

    def put(self, key: tuple[str, str, str], token: _Token) -> None:
        self._tokens[key] = token

    def drop(self, key: tuple[str, str, str], value: str) -> None:
        """Forget the token if it is still ``value`` (another thread may have refreshed it)."""
        with self._guard:
            current = self._tokens.get(key)
            if current is not None and current.value == value:
                del self._tokens[key]

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"


def _clean(body: Mapping[str, Any]) -> Json:
    return {k: v for k, v in body.items() if v is not None}


class WeComTransport:
    """Calls for one WeCom app of one corp: ``corp_id`` plus that app's ``secret``."""

    def __init__(
        self,
        corp_id: str,
        secret: SecretStr | str,
        *,
        base_url: str = WECOM_BASE_URL,
        http: HttpClient | None = None,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] = time.sleep,
        tokens: TokenCache | None = None,
        limiter: ApiLimiter | None = None,
        retry: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.corp_id = corp_id
        self._secret = secret if isinstance(secret, SecretStr) else SecretStr(secret)
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        # an injected client brings its own timeouts; ours uses RetryPolicy.timeout
        self._own_http = httpx.Client(timeout=self.retry.timeout) if http is None else None
        self._http: HttpClient = http or self._own_http  # type: ignore[assignment]  # set above
        self._clock = clock
        self._sleep = sleep
        self._tokens = tokens or TokenCache()
        self._limiter = limiter or ApiLimiter(RateLimits())
        self._jitter = jitter
        digest = hashlib.sha256(self._secret.get_secret_value().encode()).hexdigest()[:16]
        self._key = (self.base_url, corp_id, digest)

    def close(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._own_http is not None:
            self._own_http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(corp_id={self.corp_id!r}, base_url={self.base_url!r}, secret=***)"

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def access_token(self) -> str:
        """Return a valid access token, fetching one when none is cached or it nearly expired."""
        cached = self._tokens.get(self._key)
        if cached and cached.expires_at - self.retry.refresh_margin > self._now():
            return cached.value
        with self._tokens.lock(self._key):
            cached = self._tokens.get(self._key)
            if cached and cached.expires_at - self.retry.refresh_margin > self._now():
                return cached.value
            params = {"corpid": self.corp_id, "corpsecret": self._secret.get_secret_value()}
            body = self._request("gettoken", "GET", params=params, json=None, idempotent=True)
            token = _Token(str(body["access_token"]), self._now() + int(body["expires_in"]))
            self._tokens.put(self._key, token)
            log.info("wecom_token_fetched", corp_id=self.corp_id, expires_in=body["expires_in"])
            return token.value

    def _backoff(self, attempt: int) -> float:
        delay: float = min(self.retry.backoff_cap, self.retry.backoff_base * 2.0 ** (attempt - 1))
        return delay * (0.5 + self._jitter() / 2)

    def _rate_wait(self, errcode: int, attempt: int) -> float:
        now = self._now()
        if errcode == e.CONCURRENCY_LIMIT:
            return 0.1 + self._jitter()
        period = 60 if attempt == 1 else 3600
        return period - now % period + 0.001

    def _send(self, api: str, method: str, params: Json, json: Json | None) -> HttpResponse:
        while (wait := self._limiter.reserve(api, self._now())) > 0:
            self._sleep(wait)
        with self._limiter.gate(api).slot():
            return self._http.request(
                method, f"{self.base_url}/cgi-bin/{api}", params=params, json=json
            )

    def _request(
        self, api: str, method: str, *, params: Json, json: Json | None, idempotent: bool
    ) -> Json:
        """Send one call with limits and retries; return the body of an ``errcode`` 0 answer."""
        busy = limited = 0
        refreshed = False
        while True:
            query = dict(params)
            token = None
            if api != "gettoken":
                token = self.access_token()
                query["access_token"] = token
            started = time.perf_counter()
            try:
                response = self._send(api, method, query, json)
                if response.status_code != 200:
                    raise e.WeComTransportError(api, f"HTTP {response.status_code}", sent=True)
                body = response.json()
                if not isinstance(body, dict):
                    raise e.WeComTransportError(api, "answer is not a JSON object", sent=True)
            except (httpx.TransportError, ValueError, e.WeComTransportError) as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                failure = (
                    exc
                    if isinstance(exc, e.WeComTransportError)
                    else e.WeComTransportError(api, type(exc).__name__, sent=sent)
                )
                busy += 1
                if (failure.sent and not idempotent) or busy > self.retry.max_busy_retries:
                    raise failure from exc
                log.warning("wecom_transport_retry", api=api, attempt=busy, error=failure.detail)
                self._sleep(self._backoff(busy))
                continue
            errcode = int(body.get("errcode", 0))
            log.debug(
                "wecom_call",
                api=api,
                errcode=errcode,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
            if errcode == 0:
                return body
            error = e.error_for(api, errcode, str(body.get("errmsg", "")))
            kind = error.retry
            if kind is e.Retry.REFRESH_TOKEN and token is not None and not refreshed:
                refreshed = True
                self._tokens.drop(self._key, token)
                log.info("wecom_token_refresh", api=api, errcode=errcode)
                continue
            if kind is e.Retry.BACKOFF and busy < self.retry.max_busy_retries:
                busy += 1
                log.warning("wecom_busy_retry", api=api, errcode=errcode, attempt=busy)
                not_ready = errcode == e.NOT_READY
                self._sleep(self.retry.not_ready_wait * busy if not_ready else self._backoff(busy))
                continue
            if kind is e.Retry.RATE_LIMIT:
                limited += 1
                wait = self._rate_wait(errcode, limited)
                if errcode == e.CONCURRENCY_LIMIT:
                    self._limiter.gate(api).narrow(1)
                if limited > self.retry.max_rate_limit_retries or (
                    wait > self.retry.max_rate_limit_wait
                ):
                    raise e.RateLimited(api, errcode, error.errmsg, retry_after=wait)
                log.warning("wecom_rate_limited", api=api, errcode=errcode, wait_s=round(wait, 3))
                self._sleep(wait)
                continue
            raise error

    def get(self, api: str, **params: Any) -> Json:
        """Call a GET endpoint (``api`` relative to ``/cgi-bin/``)."""
        return self._request(api, "GET", params=_clean(params), json=None, idempotent=True)

    def post(self, api: str, body: Mapping[str, Any], *, idempotent: bool = True) -> Json:
        """Call a POST endpoint with a JSON body (``None`` values are left out)."""
        return self._request(api, "POST", params={}, json=_clean(body), idempotent=idempotent)

    def _model(self, model: type[M], api: str, body: Mapping[str, Any]) -> M:
        return model.model_validate(self.post(api, body))
