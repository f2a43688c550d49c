"""Callbacks from the fake to siyu (spec §6.1, §9 "Callbacks").

Events are queued as plaintext XML with their ``CreateTime``; the dispatcher verifies the URL once
(GET with an encrypted ``echostr``), then POSTs each event encrypted and signed with a fresh
timestamp and nonce. A delivery that times out (``callback_timeout``) or gets a non-200 answer is
retried after each of ``callback_retry_delays`` (3 retries by default), always the same event.
Delivery never happens while the state lock is held, so the receiver may call the fake back.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from xml.sax.saxutils import escape

import httpx
import structlog

from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.fake.state import FakeState, PendingEvent

log = structlog.get_logger(__name__)
Field = tuple[str, str | int | list[str] | None]


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(corp_id: str, create_time: int, event: str, fields: list[Field]) -> str:
    """Return the decrypted XML of a customer-contact event (spec §6.3 layout)."""
    parts = [
        f"<ToUserName>{_cdata(corp_id)}</ToUserName>",
        f"<FromUserName>{_cdata('sys')}</FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType>{_cdata('event')}</MsgType>",
        f"<Event>{_cdata(event)}</Event>",
    ]
    for name, value in fields:
        if value is None:
            continue
        if isinstance(value, list):
            items = "".join(f"<Item>{escape(v)}</Item>" for v in value)
            parts.append(f"<{name}>{items}</{name}>")
        elif isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}>{_cdata(value)}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def emit(state: FakeState, event: str, change_type: str, fields: list[Field]) -> None:
    """Queue a callback (caller holds the state lock)."""
    now = state.now_int()
    all_fields: list[Field] = [("ChangeType", change_type), *fields]
    if event == "change_external_chat":  # ChatId precedes ChangeType in WeCom's sample
        all_fields = [fields[0], ("ChangeType", change_type), *fields[1:]]
    xml = event_xml(state.config.corp_id, now, event, all_fields)
    state.outbox.append(PendingEvent(xml, now, event, change_type))


class CallbackResponse(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...


class CallbackHttp(Protocol):
    """What delivery needs of ``httpx.Client`` (Starlette's ``TestClient`` fits too)."""

    def get(self, url: str, *, params: dict[str, str]) -> CallbackResponse: ...

    def post(
        self, url: str, *, params: dict[str, str], content: bytes, headers: dict[str, str]
    ) -> CallbackResponse: ...


@dataclass
class Attempt:
    at: float
    timestamp: str
    nonce: str
    status: int | None
    error: str | None = None


@dataclass
class Delivery:
    id: int
    event: PendingEvent
    next_at: float
    state: Literal["pending", "delivered", "failed", "dropped"] = "pending"
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event.event,
            "change_type": self.event.change_type,
            "create_time": self.event.create_time,
            "xml": self.event.xml,
            "state": self.state,
            "attempts": [a.__dict__ for a in self.attempts],
        }


class CallbackDispatcher:
    """Queue, deliver and record callbacks for one fake corp."""

    def __init__(self, state: FakeState, http: CallbackHttp | None = None) -> None:
        self.state = state
        config = state.config
        self._rng = random.Random(config.seed + 1)  # noqa: S311 - nonces of a fake
        self.crypto = WeComCrypto(
            config.callback_token,
            config.callback_aes_key,
            config.corp_id,
            random_source=lambda: "".join(self._rng.choices("0123456789abcdef", k=16)).encode(),
        )
        # an injected client (tests) brings its own timeouts
        self._own_http = httpx.Client(timeout=config.callback_timeout) if http is None else None
        self.http: CallbackHttp = http or self._own_http  # type: ignore[assignment]  # set above
        self.deliveries: list[Delivery] = []
        self.verifications: list[dict[str, Any]] = []
        self.verified = False
        self.paused = False
        self.drop_next = 0
        self._flushing = threading.Lock()
        self._lock = threading.Lock()

    def _collect(self) -> None:
        with self.state.lock:
            pending, self.state.outbox = self.state.outbox, []
        with self._lock:
            for event in pending:
                delivery = Delivery(len(self.deliveries) + 1, event, next_at=0.0)
                if self.drop_next > 0:
                    self.drop_next -= 1
                    delivery.state = "dropped"
                self.deliveries.append(delivery)

    def _query(self, encrypt: str) -> dict[str, str]:
        timestamp = str(self.state.now_int())
        nonce = str(self._rng.randint(10**8, 10**10))
        return {
            "msg_signature": self.crypto.sign(timestamp, nonce, encrypt),
            "timestamp": timestamp,
            "nonce": nonce,
        }

    def _verify(self, url: str) -> bool:
        echo = str(self._rng.randint(10**17, 10**19))
        encrypt = self.crypto.encrypt(echo)
        query = {**self._query(encrypt), "echostr": encrypt}
        try:
            response = self.http.get(url, params=query)
            ok = response.status_code == 200 and response.content == echo.encode()
            record: dict[str, Any] = {"status": response.status_code, "ok": ok}
        except httpx.HTTPError as exc:
            ok, record = False, {"status": None, "ok": False, "error": type(exc).__name__}
        self.verifications.append({**record, "at": self.state.now()})
        self.verified = ok
        return ok

    def _attempt(self, url: str, delivery: Delivery) -> None:
        config = self.state.config
        encrypt = self.crypto.encrypt(delivery.event.xml)
        query = self._query(encrypt)
        body = (
            f"<xml><ToUserName>{_cdata(config.corp_id)}</ToUserName>"
            f"<AgentID>{_cdata(str(config.callback_agent_id))}</AgentID>"
            f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        )
        attempt = Attempt(self.state.now(), query["timestamp"], query["nonce"], None)
        try:
            response = self.http.post(
                url,
                params=query,
                content=body.encode(),
                headers={"content-type": "text/xml"},
            )
            attempt.status = response.status_code
        except httpx.HTTPError as exc:
            attempt.error = type(exc).__name__
        delivery.attempts.append(attempt)
        if attempt.status == 200:
            delivery.state = "delivered"
            return
        delays = config.callback_retry_delays
        if len(delivery.attempts) > len(delays):
            delivery.state = "failed"
            log.warning("fake_wecom_callback_failed", delivery=delivery.id)
            return
        delivery.next_at = self.state.now() + delays[len(delivery.attempts) - 1]

    def flush(self) -> None:
        """Deliver every due event; another thread already flushing makes this a no-op."""
        if not self._flushing.acquire(blocking=False):
            return
        try:
            while True:
                self._collect()
                url = self.state.config.callback_url
                if self.paused or not url:
                    return
                if not self.verified and not self._verify(url):
                    return
                now = self.state.now()
                due = [d for d in self.deliveries if d.state == "pending" and d.next_at <= now]
                if not due:
                    return
                for delivery in due:
                    self._attempt(url, delivery)
        finally:
            self._flushing.release()

    def close(self) -> None:
        if self._own_http is not None:
            self._own_http.close()

    def redeliver(self, delivery_id: int) -> None:
        """Queue a delivered event once more, unchanged (WeCom may send duplicates)."""
        with self._lock:
            original = self.deliveries[delivery_id - 1]
            copy = Delivery(len(self.deliveries) + 1, original.event, next_at=0.0)
            self.deliveries.append(copy)
