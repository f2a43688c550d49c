"""Fake customer groups (spec §3.6) and the client-side group changes that emit
``change_external_chat`` callbacks."""

from __future__ import annotations

import hashlib
from typing import Any

from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.callbacks import emit
from siyu.channels.wecom.fake.state import FakeState, GroupChat, GroupMember
from siyu.channels.wecom.fake.wire import WeComFault


def _group(state: FakeState, chat_id: str | None) -> GroupChat:
    group = state.groups.get(chat_id or "")
    if group is None or group.dismissed:
        raise WeComFault(90501)
    return group


def groupchat_list(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    limit = body.integer("limit", missing=40063)
    if not 1 <= limit <= 1000:
        raise WeComFault(40058, "limit must be 1-1000")
    status_filter = body.integer("status_filter", 0)
    owners = body.obj("owner_filter").texts("userid_list", max_items=100)
    if not owners and sum(1 for m in state.members.values() if m.visible) > 1000:
        raise WeComFault(81017)
    for userid in owners:
        state.member(userid)
    groups = sorted(
        (
            g
            for g in state.groups.values()
            if not g.dismissed
            and (not owners or g.owner in owners)
            and (status_filter == 0 or g.status == status_filter)
        ),
        key=lambda g: (g.create_time, g.chat_id),
    )
    page, cursor = state.page(
        call.binding(owners=owners, status=status_filter),
        body.text("cursor"),
        limit,
        lambda: [{"chat_id": g.chat_id, "status": g.status} for g in groups],
    )
    return {"group_chat_list": page, "next_cursor": cursor}


def groupchat_get(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    group = _group(state, body.req("chat_id"))
    need_name = body.integer("need_name", 0) == 1
    members = []
    for m in group.members:
        data: dict[str, Any] = {
            "userid": m.userid,
            "type": m.type,
            "join_time": m.join_time,
            "join_scene": m.join_scene,
            "group_nickname": m.group_nickname,
        }
        if m.unionid:
            data["unionid"] = m.unionid
        if m.invitor:
            data["invitor"] = {"userid": m.invitor}
        if need_name:
            data["name"] = m.name
        members.append(data)
    return {
        "group_chat": {
            "chat_id": group.chat_id,
            "name": group.name,
            "owner": group.owner,
            "create_time": group.create_time,
            "notice": group.notice,
            "member_list": members,
            "admin_list": [{"userid": u} for u in group.admins],
        }
    }


ROUTES: Routes = {
    "externalcontact/groupchat/list": ("POST", groupchat_list),
    "externalcontact/groupchat/get": ("POST", groupchat_get),
}


def _version(group: GroupChat) -> str:
    ids = ",".join(sorted(m.userid for m in group.members))
    return hashlib.md5(ids.encode(), usedforsecurity=False).hexdigest()


def _member(state: FakeState, userid: str, scene: int, invitor: str | None) -> GroupMember:
    customer = state.customers.get(userid)
    if customer is None:
        state.member(userid)
        return GroupMember(userid, 1, state.now_int(), scene, invitor, name=userid)
    return GroupMember(
        userid, 2, state.now_int(), scene, invitor, unionid=customer.unionid, name=customer.name
    )


def create(state: FakeState, owner: str, name: str, members: list[str]) -> str:
    state.contact_member(owner)
    group = GroupChat(state.new_id("wr", 28), name, owner, state.now_int())
    group.members = [_member(state, u, 1, owner) for u in dict.fromkeys([owner, *members])]
    group.version = _version(group)
    state.groups[group.chat_id] = group
    emit(state, "change_external_chat", "create", [("ChatId", group.chat_id)])
    return group.chat_id


def _update(state: FakeState, group: GroupChat, detail: str, extra: list[Any]) -> None:
    last = group.version
    group.version = _version(group)
    fields = [("ChatId", group.chat_id), ("UpdateDetail", detail), *extra]
    if detail in ("add_member", "del_member"):
        fields += [("LastMemVer", last), ("CurMemVer", group.version)]
    emit(state, "change_external_chat", "update", fields)


def join(state: FakeState, chat_id: str, userids: list[str], scene: int) -> None:
    group = _group(state, chat_id)
    present = {m.userid for m in group.members}
    new = [u for u in dict.fromkeys(userids) if u not in present]
    group.members += [_member(state, u, scene, group.owner) for u in new]
    changes = [("JoinScene", scene), ("MemChangeCnt", len(new)), ("MemChangeList", new)]
    _update(state, group, "add_member", changes)


def leave(state: FakeState, chat_id: str, userids: list[str], scene: int) -> None:
    group = _group(state, chat_id)
    gone = [m.userid for m in group.members if m.userid in userids and m.userid != group.owner]
    group.members = [m for m in group.members if m.userid not in gone]
    changes = [("QuitScene", scene), ("MemChangeCnt", len(gone)), ("MemChangeList", gone)]
    _update(state, group, "del_member", changes)


def rename(state: FakeState, chat_id: str, name: str) -> None:
    group = _group(state, chat_id)
    group.name = name
    _update(state, group, "change_name", [])


def dismiss(state: FakeState, chat_id: str) -> None:
    group = _group(state, chat_id)
    group.dismissed = True
    emit(state, "change_external_chat", "dismiss", [("ChatId", chat_id)])
