"""Typed WeCom responses and request parts (spec §3); unknown fields are ignored."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SendStatus(IntEnum):
    """``get_groupmsg_send_result`` status per customer (spec §3.5)."""

    NOT_SENT = 0
    SENT = 1
    NOT_FRIEND = 2
    QUOTA_EXCEEDED = 3


class TaskStatus(IntEnum):
    """``get_groupmsg_task`` status per member."""

    UNSENT = 0
    SENT = 2


class TransferStatus(IntEnum):
    """``transfer_result`` status per customer (spec §3.7)."""

    DONE = 1
    WAITING = 2
    REFUSED = 3
    TAKEOVER_FULL = 4
    NO_RECORD = 5


class ContactTag(_Wire):
    group_name: str = ""
    tag_name: str = ""
    tag_id: str | None = None
    type: int = 1


class ExternalContact(_Wire):
    external_userid: str
    name: str = ""
    avatar: str = ""
    type: int = 1
    gender: int = 0
    unionid: str | None = None
    position: str | None = None
    corp_name: str | None = None
    corp_full_name: str | None = None


class FollowUser(_Wire):
    userid: str
    remark: str = ""
    description: str = ""
    createtime: int = 0
    tags: list[ContactTag] = Field(default_factory=list)
    remark_corp_name: str | None = None
    remark_mobiles: list[str] = Field(default_factory=list)
    oper_userid: str | None = None
    add_way: int = 0
    state: str | None = None


class ContactDetail(_Wire):
    external_contact: ExternalContact
    follow_user: list[FollowUser] = Field(default_factory=list)
    next_cursor: str = ""


class FollowInfo(_Wire):
    userid: str
    remark: str = ""
    description: str = ""
    createtime: int = 0
    tag_id: list[str] = Field(default_factory=list)
    remark_corp_name: str | None = None
    remark_mobiles: list[str] = Field(default_factory=list)
    oper_userid: str | None = None
    add_way: int = 0
    state: str | None = None


class ContactWithFollow(_Wire):
    external_contact: ExternalContact
    follow_info: FollowInfo


class ContactPage(_Wire):
    external_contact_list: list[ContactWithFollow] = Field(default_factory=list)
    next_cursor: str = ""


class CorpTag(_Wire):
    id: str
    name: str
    create_time: int = 0
    order: int = 0
    deleted: bool = False


class CorpTagGroup(_Wire):
    group_id: str
    group_name: str
    create_time: int = 0
    order: int = 0
    deleted: bool = False
    tag: list[CorpTag] = Field(default_factory=list)


class NewTag(_Wire):
    name: str
    order: int | None = None


class ContactWay(_Wire):
    config_id: str
    type: int
    scene: int
    style: int | None = None
    remark: str = ""
    skip_verify: bool = True
    state: str = ""
    qr_code: str = ""
    user: list[str] = Field(default_factory=list)
    party: list[int] = Field(default_factory=list)
    is_temp: bool = False
    expires_in: int | None = None
    chat_expires_in: int | None = None
    unionid: str | None = None


class ContactWayCreated(_Wire):
    config_id: str
    qr_code: str = ""


class ContactWayRef(_Wire):
    config_id: str


class ContactWayPage(_Wire):
    contact_way: list[ContactWayRef] = Field(default_factory=list)
    next_cursor: str = ""


class Image(_Wire):
    msgtype: Literal["image"] = "image"
    media_id: str | None = None
    pic_url: str | None = None


class Link(_Wire):
    msgtype: Literal["link"] = "link"
    title: str
    url: str
    picurl: str | None = None
    desc: str | None = None


class Miniprogram(_Wire):
    msgtype: Literal["miniprogram"] = "miniprogram"
    title: str
    pic_media_id: str
    appid: str
    page: str


class Video(_Wire):
    msgtype: Literal["video"] = "video"
    media_id: str


class File(_Wire):
    msgtype: Literal["file"] = "file"
    media_id: str


Attachment = Image | Link | Miniprogram | Video | File


def attachment_wire(attachment: Attachment) -> dict[str, object]:
    """Return ``{msgtype, <msgtype>: {...}}`` as WeCom expects it."""
    body = attachment.model_dump(exclude={"msgtype"}, exclude_none=True)
    return {"msgtype": attachment.msgtype, attachment.msgtype: body}


class MsgTemplateCreated(_Wire):
    msgid: str
    fail_list: list[str] = Field(default_factory=list)


class GroupMsgText(_Wire):
    content: str = ""


class GroupMsg(_Wire):
    msgid: str
    creator: str | None = None
    create_time: int = 0
    create_type: int = 0
    text: GroupMsgText | None = None


class GroupMsgPage(_Wire):
    group_msg_list: list[GroupMsg] = Field(default_factory=list)
    next_cursor: str = ""


class GroupMsgTask(_Wire):
    userid: str
    status: TaskStatus
    send_time: int | None = None


class GroupMsgTaskPage(_Wire):
    task_list: list[GroupMsgTask] = Field(default_factory=list)
    next_cursor: str = ""


class GroupMsgSend(_Wire):
    userid: str
    status: SendStatus
    external_userid: str | None = None
    chat_id: str | None = None
    send_time: int | None = None


class GroupMsgSendPage(_Wire):
    send_list: list[GroupMsgSend] = Field(default_factory=list)
    next_cursor: str = ""


class GroupChatRef(_Wire):
    chat_id: str
    status: int = 0


class GroupChatPage(_Wire):
    group_chat_list: list[GroupChatRef] = Field(default_factory=list)
    next_cursor: str = ""


class UserRef(_Wire):
    userid: str


class GroupChatMember(_Wire):
    userid: str
    type: int
    unionid: str | None = None
    join_time: int = 0
    join_scene: int = 0
    invitor: UserRef | None = None
    group_nickname: str = ""
    name: str | None = None


class GroupChat(_Wire):
    chat_id: str
    name: str = ""
    owner: str = ""
    create_time: int = 0
    notice: str = ""
    member_list: list[GroupChatMember] = Field(default_factory=list)
    admin_list: list[UserRef] = Field(default_factory=list)


class CustomerTransfer(_Wire):
    external_userid: str
    errcode: int


class CustomerTransferState(_Wire):
    external_userid: str
    status: TransferStatus
    takeover_time: int = 0


class TransferResultPage(_Wire):
    customer: list[CustomerTransferState] = Field(default_factory=list)
    next_cursor: str = ""


class UnassignedCustomer(_Wire):
    handover_userid: str
    external_userid: str
    dimission_time: int = 0


class UnassignedPage(_Wire):
    info: list[UnassignedCustomer] = Field(default_factory=list)
    is_last: bool = True
    next_cursor: str = ""


class FailedChat(_Wire):
    chat_id: str
    errcode: int
    errmsg: str = ""
