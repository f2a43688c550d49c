"""In-memory state of the fake corp, guarded by one lock; ids come from a seeded RNG."""

from __future__ import annotations

import json
import pickle
import random
import string
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from siyu.channels.wecom.fake.config import FakeConfig
from siyu.channels.wecom.fake.wire import WeComFault
from siyu.core.clock import SYSTEM_CLOCK, Clock

_ALNUM = string.ascii_letters + string.digits


class AdvanceableClock(Protocol):
    def now(self) -> datetime: ...

    def advance(self, delta: timedelta) -> None: ...


class OffsetClock:
    """A base clock plus an offset that tests and the control API can move forward."""

    def __init__(self, base: Clock = SYSTEM_CLOCK, start: datetime | None = None) -> None:
        self._base = base
        self._offset = timedelta(0) if start is None else start - base.now()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._base.now() + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta


@dataclass
class Member:
    userid: str
    name: str = ""
    active: bool = True
    verified: bool = True
    contact_enabled: bool = True
    visible: bool = True
    resigned_at: float | None = None
    customer_cap: int | None = None
    console_welcome: bool = False  # a console welcome message is configured → no WelcomeCode


@dataclass
class Customer:
    external_userid: str
    name: str
    type: int = 1
    gender: int = 0
    unionid: str | None = None
    avatar: str = ""
    corp_name: str | None = None


@dataclass
class Follow:
    userid: str
    external_userid: str
    createtime: int
    add_way: int = 1
    state: str | None = None
    oper_userid: str | None = None
    remark: str = ""
    description: str = ""
    remark_company: str | None = None
    remark_mobiles: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    last_interaction: float = 0.0
    chatted: bool = False


class FollowTable:
    """Follow relations keyed by (userid, external_userid), indexed both ways."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], Follow] = {}
        self._by_member: dict[str, dict[str, Follow]] = {}
        self._by_customer: dict[str, dict[str, Follow]] = {}

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._rows

    def __setitem__(self, key: tuple[str, str], follow: Follow) -> None:
        self._rows[key] = follow
        self._by_member.setdefault(key[0], {})[key[1]] = follow
        self._by_customer.setdefault(key[1], {})[key[0]] = follow

    def get(self, key: tuple[str, str]) -> Follow | None:
        return self._rows.get(key)

    def pop(self, key: tuple[str, str]) -> Follow | None:
        follow = self._rows.pop(key, None)
        if follow is not None:
            del self._by_member[key[0]][key[1]]
            del self._by_customer[key[1]][key[0]]
        return follow

    def values(self) -> list[Follow]:
        return list(self._rows.values())

    def of_member(self, userid: str) -> list[Follow]:
        return list(self._by_member.get(userid, {}).values())

    def of_customer(self, external_userid: str) -> list[Follow]:
        return list(self._by_customer.get(external_userid, {}).values())


@dataclass
class Tag:
    id: str
    name: str
    order: int
    create_time: int
    group_id: str


@dataclass
class TagGroup:
    group_id: str
    name: str
    order: int
    create_time: int
    tags: dict[str, Tag] = field(default_factory=dict)


@dataclass
class ContactWay:
    config_id: str
    type: int
    scene: int
    created_at: int
    style: int | None = None
    remark: str = ""
    skip_verify: bool = True
    state: str = ""
    user: list[str] = field(default_factory=list)
    party: list[int] = field(default_factory=list)
    is_temp: bool = False
    expires_in: int | None = None
    chat_expires_in: int | None = None
    unionid: str | None = None
    qr_code: str = ""
    used: bool = False  # temporary ways die after the first add


@dataclass
class WelcomeCode:
    code: str
    userid: str
    external_userid: str
    expires_at: float
    used: bool = False
    sent: dict[str, Any] | None = None  # the welcome message, for assertions


@dataclass
class Recipient:
    """One customer (``external_userid``) or group (``chat_id``) of a member's task."""

    key: str
    is_group: bool
    status: int = 0
    send_time: int | None = None


@dataclass
class MemberTask:
    userid: str
    recipients: list[Recipient]
    status: int = 0
    send_time: int | None = None
    cancelled: bool = False


@dataclass
class MassMessage:
    msgid: str
    chat_type: str
    create_type: int
    created_at: float
    creator: str | None
    text: str | None
    attachments: list[Any]
    tasks: dict[str, MemberTask] = field(default_factory=dict)
    reminders: list[float] = field(default_factory=list)


@dataclass
class Transfer:
    external_userid: str
    handover: str
    takeover: str
    resigned: bool
    started_at: float
    status: int = 2
    takeover_time: int = 0


@dataclass
class GroupMember:
    userid: str
    type: int
    join_time: int
    join_scene: int
    invitor: str | None = None
    unionid: str | None = None
    group_nickname: str = ""
    name: str = ""


@dataclass
class GroupChat:
    chat_id: str
    name: str
    owner: str
    create_time: int
    notice: str = ""
    members: list[GroupMember] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)
    status: int = 0
    dismissed: bool = False
    version: str = ""


@dataclass
class IssuedToken:
    value: str
    secret: str
    expires_at: float
    revoked: bool = False


@dataclass
class PendingEvent:
    """A callback to deliver: the plaintext XML and when WeCom created it."""

    xml: str
    create_time: int
    event: str
    change_type: str


@dataclass
class _CursorState:
    binding: str
    items: list[Any]
    offset: int
    expires_at: float


_PERSISTED = (
    "members",
    "customers",
    "follows",
    "tag_groups",
    "contact_ways",
    "welcome_codes",
    "messages",
    "quota_ledger",
    "transfers",
    "groups",
    "outbox",
)


class FakeState:
    """Everything the fake corp knows. Hold ``lock`` while reading or changing it."""

    def __init__(self, config: FakeConfig, clock: AdvanceableClock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(config.seed)  # noqa: S311 - deterministic fake ids
        self.members: dict[str, Member] = {u: Member(u, name=u) for u in config.members}
        self.customers: dict[str, Customer] = {}
        self.follows = FollowTable()
        self.tag_groups: dict[str, TagGroup] = {}
        self.contact_ways: dict[str, ContactWay] = {}
        self.welcome_codes: dict[str, WelcomeCode] = {}
        self.messages: dict[str, MassMessage] = {}
        # recipient (external_userid or chat_id) → [(sent at, create_type)]
        self.quota_ledger: dict[str, list[tuple[float, int]]] = {}
        self.transfers: list[Transfer] = []
        self.groups: dict[str, GroupChat] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.token_by_secret: dict[str, str] = {}
        self.outbox: list[PendingEvent] = []
        self._cursors: dict[str, _CursorState] = {}
        self.api_calls: dict[str, int] = {}

    def save(self, path: Path) -> None:
        """Write the corp's data to ``path`` (tokens and cursors are not kept: they expire)."""
        with self.lock:
            data = {name: getattr(self, name) for name in _PERSISTED}
            data["rng"] = self.rng.getstate()
            blob = pickle.dumps(data)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(blob)
        tmp.replace(path)

    def load(self, path: Path) -> None:
        """Read what ``save`` wrote (a file this fake wrote itself, under the user's home)."""
        data = pickle.loads(path.read_bytes())  # noqa: S301 - only our own state file
        with self.lock:
            for name in _PERSISTED:
                setattr(self, name, data[name])
            self.rng.setstate(data["rng"])

    def now(self) -> float:
        return self.clock.now().timestamp()

    def now_int(self) -> int:
        return int(self.now())

    def new_id(self, prefix: str, length: int = 30) -> str:
        return prefix + "".join(self.rng.choice(_ALNUM) for _ in range(length))

    def member(self, userid: str | None, *, code: int = 40003) -> Member:
        """Return a member inside the app's visible range (40003 unknown, 60011 invisible)."""
        if not userid:
            raise WeComFault(40063, "userid missing")
        member = self.members.get(userid)
        if member is None:
            raise WeComFault(code, f"userid {userid} unknown")
        if not member.visible:
            raise WeComFault(60011, f"userid {userid} outside the app's visible range")
        return member

    def contact_member(self, userid: str | None) -> Member:
        """Return a member who has the customer-contact feature (84074 otherwise)."""
        member = self.member(userid)
        if not member.contact_enabled:
            raise WeComFault(84074, f"userid {member.userid} has no customer-contact permission")
        return member

    def customer(self, external_userid: str | None) -> Customer:
        if not external_userid:
            raise WeComFault(41035)
        customer = self.customers.get(external_userid)
        if customer is None:
            raise WeComFault(40096)
        return customer

    def followers(self, external_userid: str) -> list[Follow]:
        return sorted(
            self.follows.of_customer(external_userid), key=lambda f: (f.createtime, f.userid)
        )

    def customers_of(self, userid: str) -> list[Follow]:
        follows = self.follows.of_member(userid)
        return sorted(follows, key=lambda f: (f.createtime, f.external_userid))

    def tag(self, tag_id: str) -> Tag | None:
        for group in self.tag_groups.values():
            if tag_id in group.tags:
                return group.tags[tag_id]
        return None

    def tag_count(self) -> int:
        return sum(len(g.tags) for g in self.tag_groups.values())

    def page(
        self,
        binding: dict[str, Any],
        cursor: str | None,
        limit: int,
        produce: Any,
    ) -> tuple[list[Any], str]:
        """Return one page and the next cursor of a snapshot taken at the first page.

        ``binding`` names the endpoint, app and filters; a cursor used with another binding,
        an unknown one or an expired one is 50100.
        """
        key = json.dumps(binding, sort_keys=True)
        now = self.now()
        if cursor:
            state = self._cursors.get(cursor)
            if state is None or state.binding != key or state.expires_at < now:
                raise WeComFault(50100)
            items, offset = state.items, state.offset
        else:
            items, offset = list(produce()), 0
        chunk = items[offset : offset + limit]
        if offset + limit >= len(items):
            return chunk, ""
        for stale in [k for k, c in self._cursors.items() if c.expires_at < now]:
            del self._cursors[stale]
        token = self.new_id("", 40)
        expires = now + self.config.cursor_ttl
        self._cursors[token] = _CursorState(key, items, offset + limit, expires)
        return chunk, token
