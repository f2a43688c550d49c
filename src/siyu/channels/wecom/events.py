"""Decrypted callback XML → typed customer-contact events (spec §6.3).

``parse_event(xml)`` returns one of the frozen dataclasses below; an event or change type this
module does not know becomes ``UnknownEvent`` (so a receiver can acknowledge it and log it)
rather than an error. Times are aware UTC datetimes built from ``CreateTime``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypedDict, TypeVar
from xml.etree.ElementTree import Element

from siyu.channels.wecom.crypto import XML_PARSE, parse_xml, xml_field
from siyu.channels.wecom.errors import CallbackRejected

_E = TypeVar("_E", bound=StrEnum)


class FailReason(StrEnum):
    CUSTOMER_REFUSED = "customer_refused"
    CUSTOMER_LIMIT_EXCEED = "customer_limit_exceed"


class ChatUpdate(StrEnum):
    ADD_MEMBER = "add_member"
    DEL_MEMBER = "del_member"
    CHANGE_OWNER = "change_owner"
    CHANGE_NAME = "change_name"
    CHANGE_NOTICE = "change_notice"


class TagType(StrEnum):
    TAG = "tag"
    TAG_GROUP = "tag_group"


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """Envelope common to every event: ``ToUserName`` (corp id), ``FromUserName``, time."""

    corp_id: str
    from_user: str
    create_time: datetime
    event: str
    change_type: str

    def dedupe_key(self) -> str:
        """Return a key equal for WeCom's retries of one event (spec §6.1, siyu's choice)."""
        return "|".join(
            [self.corp_id, self.event, self.change_type, *self._subject(),
             str(int(self.create_time.timestamp()))]
        )  # fmt: skip

    def _subject(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class _ContactEvent(CallbackEvent):
    user_id: str
    external_user_id: str

    def _subject(self) -> tuple[str, ...]:
        return (self.user_id, self.external_user_id)


@dataclass(frozen=True, slots=True)
class ExternalContactAdded(_ContactEvent):
    """``add_external_contact``: a member added a customer; ``welcome_code`` lives 20 s."""

    state: str | None = None
    welcome_code: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalContactHalfAdded(_ContactEvent):
    """``add_half_external_contact``: added with skip_verify, member not yet confirmed."""

    state: str | None = None
    welcome_code: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalContactEdited(_ContactEvent):
    """``edit_external_contact``: remark, description or corp tags edited in the client."""


@dataclass(frozen=True, slots=True)
class ExternalContactDeleted(_ContactEvent):
    """``del_external_contact``: the member deleted the customer (``DELETE_BY_TRANSFER``...)."""

    source: str | None = None

    @property
    def by_transfer(self) -> bool:
        return self.source == "DELETE_BY_TRANSFER"


@dataclass(frozen=True, slots=True)
class FollowUserDeleted(_ContactEvent):
    """``del_follow_user``: the customer deleted the member."""


@dataclass(frozen=True, slots=True)
class TransferFailed(_ContactEvent):
    """``transfer_fail``: an inheritance failed; which member ``user_id`` names is unstated."""

    fail_reason: FailReason | str = ""


@dataclass(frozen=True, slots=True)
class _ChatEvent(CallbackEvent):
    chat_id: str

    def _subject(self) -> tuple[str, ...]:
        return (self.chat_id,)


@dataclass(frozen=True, slots=True)
class ExternalChatCreated(_ChatEvent):
    """``change_external_chat`` / ``create``: read the group with ``groupchat/get``."""


@dataclass(frozen=True, slots=True)
class ExternalChatDismissed(_ChatEvent):
    """``change_external_chat`` / ``dismiss``."""


@dataclass(frozen=True, slots=True)
class ExternalChatUpdated(_ChatEvent):
    """``change_external_chat`` / ``update`` with its detail and member-change fields."""

    update_detail: ChatUpdate | str = ""
    join_scene: int | None = None
    quit_scene: int | None = None
    mem_change_cnt: int | None = None
    mem_change_list: tuple[str, ...] = ()
    last_mem_ver: str | None = None
    cur_mem_ver: str | None = None


@dataclass(frozen=True, slots=True)
class _TagEvent(CallbackEvent):
    id: str
    tag_type: TagType | None = None
    strategy_id: str | None = None

    def _subject(self) -> tuple[str, ...]:
        return (self.id,)


@dataclass(frozen=True, slots=True)
class ExternalTagCreated(_TagEvent):
    """``change_external_tag`` / ``create``; re-read with ``get_corp_tag_list``."""


@dataclass(frozen=True, slots=True)
class ExternalTagUpdated(_TagEvent):
    """``change_external_tag`` / ``update``."""


@dataclass(frozen=True, slots=True)
class ExternalTagDeleted(_TagEvent):
    """``change_external_tag`` / ``delete`` (a group's deletion covers its tags)."""


@dataclass(frozen=True, slots=True)
class ExternalTagShuffled(_TagEvent):
    """``change_external_tag`` / ``shuffle`` (reorder; ``tag_type`` may be absent)."""


@dataclass(frozen=True, slots=True)
class UnknownEvent(CallbackEvent):
    """An event siyu does not model; ``fields`` holds every top-level element's text."""

    fields: dict[str, str] = field(default_factory=dict)


_CONTACT: dict[str, type[_ContactEvent]] = {
    "add_external_contact": ExternalContactAdded,
    "add_half_external_contact": ExternalContactHalfAdded,
    "edit_external_contact": ExternalContactEdited,
    "del_external_contact": ExternalContactDeleted,
    "del_follow_user": FollowUserDeleted,
    "transfer_fail": TransferFailed,
}
_CHAT: dict[str, type[_ChatEvent]] = {
    "create": ExternalChatCreated,
    "update": ExternalChatUpdated,
    "dismiss": ExternalChatDismissed,
}
_TAG: dict[str, type[_TagEvent]] = {
    "create": ExternalTagCreated,
    "update": ExternalTagUpdated,
    "delete": ExternalTagDeleted,
    "shuffle": ExternalTagShuffled,
}


class _Envelope(TypedDict):
    corp_id: str
    from_user: str
    create_time: datetime
    event: str
    change_type: str


class _Contact(TypedDict):
    user_id: str
    external_user_id: str


def _int(root: Element, name: str) -> int | None:
    text = xml_field(root, name)
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise CallbackRejected(XML_PARSE, f"{name} is not an integer: {text!r}") from exc


def _required(root: Element, name: str) -> str:
    text = xml_field(root, name)
    if not text:
        raise CallbackRejected(XML_PARSE, f"event XML has no {name}")
    return text


def _enum(kind: type[_E], value: str | None) -> _E | str:
    if value is None:
        return ""
    try:
        return kind(value)
    except ValueError:
        return value


def _contact_event(root: Element, base: _Envelope) -> CallbackEvent:
    contact = _Contact(
        user_id=_required(root, "UserID"), external_user_id=_required(root, "ExternalUserID")
    )
    cls = _CONTACT[base["change_type"]]
    if cls is ExternalContactAdded or cls is ExternalContactHalfAdded:
        return cls(
            **base,
            **contact,
            state=xml_field(root, "State") or None,
            welcome_code=xml_field(root, "WelcomeCode") or None,
        )
    if cls is ExternalContactDeleted:
        return ExternalContactDeleted(**base, **contact, source=xml_field(root, "Source") or None)
    if cls is TransferFailed:
        reason = _enum(FailReason, xml_field(root, "FailReason"))
        return TransferFailed(**base, **contact, fail_reason=reason)
    return cls(**base, **contact)


def _chat_event(root: Element, base: _Envelope) -> CallbackEvent:
    chat_id = _required(root, "ChatId")
    if base["change_type"] != "update":
        return _CHAT[base["change_type"]](**base, chat_id=chat_id)
    items = root.find("MemChangeList")
    members = () if items is None else tuple(i.text or "" for i in items.findall("Item"))
    return ExternalChatUpdated(
        **base,
        chat_id=chat_id,
        update_detail=_enum(ChatUpdate, xml_field(root, "UpdateDetail")),
        join_scene=_int(root, "JoinScene"),
        quit_scene=_int(root, "QuitScene"),
        mem_change_cnt=_int(root, "MemChangeCnt"),
        mem_change_list=members,
        last_mem_ver=xml_field(root, "LastMemVer"),
        cur_mem_ver=xml_field(root, "CurMemVer"),
    )


def parse_event(xml: bytes | str) -> CallbackEvent:
    """Parse decrypted callback XML into a typed event."""
    root = parse_xml(xml)
    create_time = _int(root, "CreateTime")
    if create_time is None:
        raise CallbackRejected(XML_PARSE, "event XML has no CreateTime")
    base = _Envelope(
        corp_id=xml_field(root, "ToUserName") or "",
        from_user=xml_field(root, "FromUserName") or "",
        create_time=datetime.fromtimestamp(create_time, UTC),
        event=xml_field(root, "Event") or "",
        change_type=xml_field(root, "ChangeType") or "",
    )
    event, change = base["event"], base["change_type"]
    if event == "change_external_contact" and change in _CONTACT:
        return _contact_event(root, base)
    if event == "change_external_chat" and change in _CHAT:
        return _chat_event(root, base)
    if event == "change_external_tag" and change in _TAG:
        tag_type = xml_field(root, "TagType")
        return _TAG[change](
            **base,
            id=_required(root, "Id"),
            tag_type=TagType(tag_type) if tag_type in ("tag", "tag_group") else None,
            strategy_id=xml_field(root, "StrategyId") or None,
        )
    return UnknownEvent(**base, fields={child.tag: child.text or "" for child in root})
