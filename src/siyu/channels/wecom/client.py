"""Sync httpx client for the WeCom server API siyu uses (spec §2–§5).

- Access tokens are cached per (host, corp, secret) in a ``TokenCache`` (share one per process),
  fetched single-flight, refreshed 300 s before expiry and once more on 40014/42001.
- Calls go through an ``ApiLimiter`` (80% of the per-corp limits, concurrency caps per API);
  share one per corp across clients. On 45009 the client waits for the next minute boundary
  (the hour boundary if it repeats), on 45033 it narrows the API to one call in flight; a wait
  longer than ``RetryPolicy.max_rate_limit_wait`` raises ``RateLimited`` so the caller can
  reschedule instead of blocking.
- -1, 41063 and transport failures are retried up to ``max_busy_retries`` times with capped
  exponential backoff; transport failures only when the request was not sent or is idempotent.
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
import structlog
from pydantic import BaseModel, SecretStr

from siyu.channels.wecom import errors as e
from siyu.channels.wecom.ratelimit import ApiLimiter, RateLimits
from siyu.channels.wecom.schemas import (
    Attachment,
    ContactDetail,
    ContactPage,
    ContactWay,
    ContactWayCreated,
    ContactWayPage,
    CorpTagGroup,
    CustomerTransfer,
    FailedChat,
    GroupChat,
    GroupChatPage,
    GroupMsgPage,
    GroupMsgSendPage,
    GroupMsgTaskPage,
    MsgTemplateCreated,
    NewTag,
    TransferResultPage,
    UnassignedPage,
    attachment_wire,
)
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


class WeComClient:
    """One WeCom app of one corp: ``corp_id`` plus that app's ``secret``."""

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

    def __enter__(self) -> WeComClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WeComClient(corp_id={self.corp_id!r}, base_url={self.base_url!r}, secret=***)"

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

    def get_follow_user_list(self) -> list[str]:
        return list(self.get("externalcontact/get_follow_user_list").get("follow_user", []))

    def list_external_contacts(self, userid: str) -> list[str]:
        """Return a member's customers; a member without any (84061) gives ``[]``."""
        try:
            body = self.get("externalcontact/list", userid=userid)
        except e.NoRelationship:
            return []
        return list(body.get("external_userid", []))

    def get_external_contact(
        self, external_userid: str, cursor: str | None = None
    ) -> ContactDetail:
        body = self.get("externalcontact/get", external_userid=external_userid, cursor=cursor)
        return ContactDetail.model_validate(body)

    def get_external_contact_all(self, external_userid: str) -> ContactDetail:
        """Return a customer with every follower, following ``next_cursor`` (> 500 followers)."""
        detail = self.get_external_contact(external_userid)
        followers = list(detail.follow_user)
        cursor = detail.next_cursor
        while cursor:
            page = self.get_external_contact(external_userid, cursor)
            followers.extend(page.follow_user)
            cursor = page.next_cursor
        return detail.model_copy(update={"follow_user": followers, "next_cursor": ""})

    def batch_get_by_user(
        self, userids: Sequence[str], *, cursor: str | None = None, limit: int = 100
    ) -> ContactPage:
        """Return one page of the members' customers (≤ 100 members, ≤ 100 per page)."""
        body = {"userid_list": list(userids), "cursor": cursor, "limit": limit}
        try:
            return self._model(ContactPage, "externalcontact/batch/get_by_user", body)
        except e.NoRelationship:
            return ContactPage()

    def iter_contacts_by_user(
        self, userids: Sequence[str], *, limit: int = 100
    ) -> Iterator[ContactPage]:
        """Yield every page of ``batch/get_by_user`` until ``next_cursor`` is empty."""
        cursor: str | None = None
        while True:
            page = self.batch_get_by_user(userids, cursor=cursor, limit=limit)
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def remark(
        self,
        userid: str,
        external_userid: str,
        *,
        remark: str | None = None,
        description: str | None = None,
        remark_company: str | None = None,
        remark_mobiles: Sequence[str] | None = None,
        remark_pic_mediaid: str | None = None,
    ) -> None:
        mobiles = list(remark_mobiles) if remark_mobiles is not None else None
        self.post(
            "externalcontact/remark",
            {
                "userid": userid,
                "external_userid": external_userid,
                "remark": remark,
                "description": description,
                "remark_company": remark_company,
                "remark_mobiles": mobiles,
                "remark_pic_mediaid": remark_pic_mediaid,
            },
        )

    def mark_tag(
        self,
        userid: str,
        external_userid: str,
        *,
        add_tag: Sequence[str] = (),
        remove_tag: Sequence[str] = (),
    ) -> None:
        self.post(
            "externalcontact/mark_tag",
            {
                "userid": userid,
                "external_userid": external_userid,
                "add_tag": list(add_tag),
                "remove_tag": list(remove_tag),
            },
        )

    def get_corp_tag_list(
        self, *, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()
    ) -> list[CorpTagGroup]:
        body = self.post(
            "externalcontact/get_corp_tag_list",
            {"tag_id": list(tag_ids) or None, "group_id": list(group_ids) or None},
        )
        return [CorpTagGroup.model_validate(g) for g in body.get("tag_group", [])]

    def add_corp_tag(
        self,
        tags: Sequence[NewTag],
        *,
        group_id: str | None = None,
        group_name: str | None = None,
        order: int | None = None,
    ) -> CorpTagGroup:
        body = self.post(
            "externalcontact/add_corp_tag",
            {
                "group_id": group_id,
                "group_name": group_name,
                "order": order,
                "tag": [t.model_dump(exclude_none=True) for t in tags],
            },
            idempotent=False,
        )
        return CorpTagGroup.model_validate(body["tag_group"])

    def edit_corp_tag(self, id: str, *, name: str | None = None, order: int | None = None) -> None:
        self.post("externalcontact/edit_corp_tag", {"id": id, "name": name, "order": order})

    def del_corp_tag(self, *, tag_ids: Sequence[str] = (), group_ids: Sequence[str] = ()) -> None:
        self.post(
            "externalcontact/del_corp_tag",
            {"tag_id": list(tag_ids) or None, "group_id": list(group_ids) or None},
        )

    def add_contact_way(
        self,
        *,
        type: int,
        scene: int,
        state: str | None = None,
        user: Sequence[str] = (),
        party: Sequence[int] = (),
        remark: str | None = None,
        skip_verify: bool | None = None,
        style: int | None = None,
        is_temp: bool | None = None,
        expires_in: int | None = None,
        chat_expires_in: int | None = None,
    ) -> ContactWayCreated:
        body = self.post(
            "externalcontact/add_contact_way",
            {
                "type": type,
                "scene": scene,
                "style": style,
                "remark": remark,
                "skip_verify": skip_verify,
                "state": state,
                "user": list(user) or None,
                "party": list(party) or None,
                "is_temp": is_temp,
                "expires_in": expires_in,
                "chat_expires_in": chat_expires_in,
            },
            idempotent=False,
        )
        return ContactWayCreated.model_validate(body)

    def get_contact_way(self, config_id: str) -> ContactWay:
        body = self.post("externalcontact/get_contact_way", {"config_id": config_id})
        return ContactWay.model_validate(body["contact_way"])

    def list_contact_way(
        self,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> ContactWayPage:
        body = {"start_time": start_time, "end_time": end_time, "cursor": cursor, "limit": limit}
        return self._model(ContactWayPage, "externalcontact/list_contact_way", body)

    def update_contact_way(
        self,
        config_id: str,
        *,
        remark: str | None = None,
        skip_verify: bool | None = None,
        style: int | None = None,
        state: str | None = None,
        user: Sequence[str] | None = None,
        party: Sequence[int] | None = None,
    ) -> None:
        self.post(
            "externalcontact/update_contact_way",
            {
                "config_id": config_id,
                "remark": remark,
                "skip_verify": skip_verify,
                "style": style,
                "state": state,
                "user": None if user is None else list(user),
                "party": None if party is None else list(party),
            },
        )

    def del_contact_way(self, config_id: str) -> None:
        self.post("externalcontact/del_contact_way", {"config_id": config_id})

    def close_temp_chat(self, userid: str, external_userid: str) -> None:
        self.post(
            "externalcontact/close_temp_chat",
            {"userid": userid, "external_userid": external_userid},
        )

    def send_welcome_msg(
        self, welcome_code: str, *, text: str | None = None, attachments: Sequence[Attachment] = ()
    ) -> None:
        """Send the welcome message; the code is valid 20 s and once (41050 / 41051)."""
        self.post(
            "externalcontact/send_welcome_msg",
            {
                "welcome_code": welcome_code,
                "text": {"content": text} if text is not None else None,
                "attachments": [attachment_wire(a) for a in attachments] or None,
            },
            idempotent=False,
        )

    def add_msg_template(
        self,
        *,
        chat_type: str = "single",
        external_userid: Sequence[str] = (),
        chat_id_list: Sequence[str] = (),
        sender: str | None = None,
        tag_filter: Sequence[Sequence[str]] = (),
        allow_select: bool | None = None,
        text: str | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> MsgTemplateCreated:
        """Create a mass-message task; ``tag_filter`` is a list of tag-id groups."""
        groups = [{"tag_list": list(g)} for g in tag_filter]
        body = self.post(
            "externalcontact/add_msg_template",
            {
                "chat_type": chat_type,
                "external_userid": list(external_userid) or None,
                "chat_id_list": list(chat_id_list) or None,
                "tag_filter": {"group_list": groups} if groups else None,
                "sender": sender,
                "allow_select": allow_select,
                "text": {"content": text} if text is not None else None,
                "attachments": [attachment_wire(a) for a in attachments] or None,
            },
            idempotent=False,
        )
        return MsgTemplateCreated.model_validate(body)

    def get_groupmsg_list_v2(
        self,
        *,
        chat_type: str,
        start_time: int,
        end_time: int,
        creator: str | None = None,
        filter_type: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> GroupMsgPage:
        body = {
            "chat_type": chat_type,
            "start_time": start_time,
            "end_time": end_time,
            "creator": creator,
            "filter_type": filter_type,
            "limit": limit,
            "cursor": cursor,
        }
        return self._model(GroupMsgPage, "externalcontact/get_groupmsg_list_v2", body)

    def get_groupmsg_task(
        self, msgid: str, *, cursor: str | None = None, limit: int | None = None
    ) -> GroupMsgTaskPage:
        body = {"msgid": msgid, "cursor": cursor, "limit": limit}
        return self._model(GroupMsgTaskPage, "externalcontact/get_groupmsg_task", body)

    def get_groupmsg_send_result(
        self, msgid: str, userid: str, *, cursor: str | None = None, limit: int | None = None
    ) -> GroupMsgSendPage:
        body = {"msgid": msgid, "userid": userid, "cursor": cursor, "limit": limit}
        return self._model(GroupMsgSendPage, "externalcontact/get_groupmsg_send_result", body)

    def remind_groupmsg_send(self, msgid: str) -> None:
        self.post("externalcontact/remind_groupmsg_send", {"msgid": msgid}, idempotent=False)

    def cancel_groupmsg_send(self, msgid: str) -> None:
        self.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})

    def groupchat_list(
        self,
        *,
        limit: int = 1000,
        status_filter: int | None = None,
        owner_userids: Sequence[str] = (),
        cursor: str | None = None,
    ) -> GroupChatPage:
        owners = {"userid_list": list(owner_userids)} if owner_userids else None
        body = {
            "status_filter": status_filter,
            "owner_filter": owners,
            "cursor": cursor,
            "limit": limit,
        }
        return self._model(GroupChatPage, "externalcontact/groupchat/list", body)

    def groupchat_get(self, chat_id: str, *, need_name: bool = False) -> GroupChat:
        body = self.post(
            "externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": int(need_name)}
        )
        return GroupChat.model_validate(body["group_chat"])

    def transfer_customer(
        self,
        handover_userid: str,
        takeover_userid: str,
        external_userids: Sequence[str],
        *,
        transfer_success_msg: str | None = None,
    ) -> list[CustomerTransfer]:
        """Start on-job transfers; per-customer ``errcode`` 0 means the 24 h wait started."""
        body = self.post(
            "externalcontact/transfer_customer",
            {
                "handover_userid": handover_userid,
                "takeover_userid": takeover_userid,
                "external_userid": list(external_userids),
                "transfer_success_msg": transfer_success_msg,
            },
        )
        return [CustomerTransfer.model_validate(c) for c in body.get("customer", [])]

    def transfer_result(
        self, handover_userid: str, takeover_userid: str, *, cursor: str | None = None
    ) -> TransferResultPage:
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
        return self._model(
            TransferResultPage, "externalcontact/transfer_result", {**body, "cursor": cursor}
        )

    def resigned_transfer_customer(
        self, handover_userid: str, takeover_userid: str, external_userids: Sequence[str]
    ) -> list[CustomerTransfer]:
        body = self.post(
            "externalcontact/resigned/transfer_customer",
            {
                "handover_userid": handover_userid,
                "takeover_userid": takeover_userid,
                "external_userid": list(external_userids),
            },
        )
        return [CustomerTransfer.model_validate(c) for c in body.get("customer", [])]

    def resigned_transfer_result(
        self, handover_userid: str, takeover_userid: str, *, cursor: str | None = None
    ) -> TransferResultPage:
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid}
        return self._model(
            TransferResultPage,
            "externalcontact/resigned/transfer_result",
            {**body, "cursor": cursor},
        )

    def get_unassigned_list(
        self, *, cursor: str | None = None, page_size: int | None = None
    ) -> UnassignedPage:
        body = {"cursor": cursor, "page_size": page_size}
        return self._model(UnassignedPage, "externalcontact/get_unassigned_list", body)

    def groupchat_transfer(
        self, chat_ids: Sequence[str], new_owner: str, *, on_job: bool = False
    ) -> list[FailedChat]:
        """Hand customer groups to ``new_owner`` (resigned owner, or ``on_job``)."""
        api = "externalcontact/groupchat/" + ("onjob_transfer" if on_job else "transfer")
        body = self.post(api, {"chat_id_list": list(chat_ids), "new_owner": new_owner})
        return [FailedChat.model_validate(c) for c in body.get("failed_chat_list", [])]
