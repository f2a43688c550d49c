"""Typed calls for every WeCom customer-contact endpoint siyu uses (spec §3).

``WeComClient`` adds the endpoints to ``WeComTransport`` (tokens, limits, retries: see
``siyu.channels.wecom.transport``). Pagination helpers follow ``next_cursor``; 84061 from the
list calls means "no customers" and gives an empty result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from siyu.channels.wecom import errors as e
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
from siyu.channels.wecom.transport import (
    WECOM_BASE_URL,
    HttpClient,
    RetryPolicy,
    TokenCache,
    WeComTransport,
)

__all__ = ["WECOM_BASE_URL", "HttpClient", "RetryPolicy", "TokenCache", "WeComClient"]


class WeComClient(WeComTransport):
    """One WeCom app of one corp, with a method per endpoint."""

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
