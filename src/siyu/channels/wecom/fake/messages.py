"""Fake welcome messages and mass messages with receiving quotas (spec §3.4, §3.5, §4)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.config import QuotaRule
from siyu.channels.wecom.fake.state import FakeState, MassMessage, MemberTask, Recipient
from siyu.channels.wecom.fake.wire import Body, WeComFault

ATTACHMENT_TYPES = {"image", "link", "miniprogram", "video", "file"}
DAY = 86400


def _content(body: Body) -> tuple[str | None, list[Any]]:
    """Validate ``text`` and ``attachments`` (≤ 4000 bytes, ≤ 9, not both empty)."""
    text = body.obj("text").text("content")
    if text is not None and len(text.encode()) > 4000:
        raise WeComFault(40058, "text.content longer than 4000 bytes")
    attachments = body.items("attachments", max_items=9)
    for raw in attachments:
        item = Body(raw if isinstance(raw, dict) else {})
        kind = item.req("msgtype")
        if kind not in ATTACHMENT_TYPES:
            raise WeComFault(40058, f"unknown attachment msgtype {kind}")
        inner = item.obj(kind)
        if kind == "image" and not (inner.has("media_id") or inner.has("pic_url")):
            raise WeComFault(40063, "image needs media_id or pic_url")
        if kind == "link":
            inner.req("url")
            if len(inner.req("title").encode()) > 128:
                raise WeComFault(40058, "link title longer than 128 bytes")
            if len((inner.text("desc") or "").encode()) > 512:
                raise WeComFault(40058, "link desc longer than 512 bytes")
        if kind == "miniprogram":
            for name in ("pic_media_id", "appid", "page"):
                inner.req(name)
            if len(inner.req("title").encode()) > 64:
                raise WeComFault(40058, "miniprogram title longer than 64 bytes")
        if kind in ("video", "file"):
            inner.req("media_id")
    if text is None and not attachments:
        raise WeComFault(40063, "text and attachments are both empty")
    return text, attachments


def send_welcome_msg(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    code = state.welcome_codes.get(body.text("welcome_code", missing=41049) or "")
    if code is None or code.expires_at < state.now():
        raise WeComFault(41050)
    if code.used:
        raise WeComFault(41051)
    text, attachments = _content(body)
    code.used = True
    code.sent = {"text": text, "attachments": attachments}
    follow = state.follows.get((code.userid, code.external_userid))
    if follow is not None:
        follow.chatted = True
    return {}


def quota_window(state: FakeState, at: float) -> tuple[float, float, int]:
    """Return the ``[start, end)`` window containing ``at`` and its limit per the quota rule."""
    tz = ZoneInfo(state.config.timezone)
    local = datetime.fromtimestamp(at, UTC).astimezone(tz)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    rule = state.config.quota_rule
    if rule is QuotaRule.DAY_1:
        return day.timestamp(), (day + timedelta(days=1)).timestamp(), 1
    if rule is QuotaRule.WEEK_7:
        start = day - timedelta(days=day.weekday())
        return start.timestamp(), (start + timedelta(days=7)).timestamp(), 7
    start = day.replace(day=1)
    days = calendar.monthrange(start.year, start.month)[1]
    end = start + timedelta(days=days)
    limit = 4 if rule is QuotaRule.LEGACY_MONTH_4 else days
    return start.timestamp(), end.timestamp(), limit


def quota_allows(state: FakeState, recipient: str, at: float) -> bool:
    start, end, limit = quota_window(state, at)
    legacy = state.config.quota_rule is QuotaRule.LEGACY_MONTH_4
    used = sum(
        1
        for sent_at, create_type in state.quota_ledger.get(recipient, [])
        if start <= sent_at < end and not (legacy and create_type == 1)
    )
    return used < limit


def _single_recipients(
    state: FakeState, body: Body, sender: str | None
) -> tuple[dict[str, list[str]], list[str]]:
    external_ids = body.texts("external_userid", max_items=10_000)
    if not external_ids and not sender:
        raise WeComFault(40063, "external_userid or sender is required")
    groups = [
        set(Body(g if isinstance(g, dict) else {}).texts("tag_list"))
        for g in body.obj("tag_filter").items("group_list")
    ]
    by_member: dict[str, list[str]] = {}
    fail: list[str] = []
    candidates = external_ids or [f.external_userid for f in state.customers_of(sender or "")]
    for external_userid in dict.fromkeys(candidates):
        follows = [
            f
            for f in state.followers(external_userid)
            if (sender is None or f.userid == sender)
            and state.members[f.userid].visible
            and not state.members[f.userid].resigned_at
        ]
        if not follows:
            fail.append(external_userid)
            continue
        # only the member who last interacted with the customer gets the task [O]
        follow = max(follows, key=lambda f: (f.last_interaction, f.createtime))
        if all(follow.tags & group for group in groups):
            by_member.setdefault(follow.userid, []).append(external_userid)
    return by_member, fail


def _group_recipients(
    state: FakeState, body: Body, sender: str | None
) -> tuple[dict[str, list[str]], list[str]]:
    if not sender:
        raise WeComFault(40063, "sender is required for chat_type group")
    chat_ids = body.texts("chat_id_list", max_items=2000)
    owned = [g.chat_id for g in state.groups.values() if g.owner == sender and not g.dismissed]
    if not chat_ids:
        return ({sender: owned} if owned else {}), []
    ok = [c for c in chat_ids if c in owned]
    return ({sender: ok} if ok else {}), [c for c in chat_ids if c not in owned]


def add_msg_template(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    chat_type = body.text("chat_type", default="single")
    if chat_type not in ("single", "group"):
        raise WeComFault(40058, "chat_type must be single or group")
    sender = body.text("sender")
    if sender:
        state.contact_member(sender)
    text, attachments = _content(body)
    if chat_type == "single":
        by_member, fail = _single_recipients(state, body, sender)
    else:
        by_member, fail = _group_recipients(state, body, sender)
    if not by_member:
        raise WeComFault(41048)
    message = MassMessage(
        msgid="msg" + state.new_id("", 28),
        chat_type=chat_type or "single",
        create_type=0,
        created_at=state.now(),
        creator=None,
        text=text,
        attachments=attachments,
    )
    for userid, keys in by_member.items():
        recipients = [Recipient(k, chat_type == "group") for k in keys]
        message.tasks[userid] = MemberTask(userid, recipients)
    state.messages[message.msgid] = message
    return {"fail_list": fail, "msgid": message.msgid}


def _message(state: FakeState, body: Body, *, dispatching: bool = True) -> MassMessage:
    message = state.messages.get(body.text("msgid", missing=41046) or "")
    if message is None:
        raise WeComFault(41047)
    if dispatching and state.now() < message.created_at + state.config.dispatch_window:
        raise WeComFault(41063)
    return message


def _limit(body: Body, default: int, maximum: int) -> int:
    limit = body.integer("limit", default)
    return default if limit < 1 or limit > maximum else limit  # WeCom resets to the default


def get_groupmsg_list_v2(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    chat_type = body.req("chat_type")
    start, end = body.integer("start_time", missing=40063), body.integer("end_time", missing=40063)
    if end < start or end - start > 31 * DAY:
        raise WeComFault(40058, "time range must be at most one month")
    creator = body.text("creator")
    filter_type = body.integer("filter_type", 2)
    messages = sorted(
        (
            m
            for m in state.messages.values()
            if m.chat_type == chat_type
            and start <= m.created_at <= end
            and (filter_type == 2 or m.create_type == filter_type)
            and (creator is None or m.creator == creator)
        ),
        key=lambda m: (m.created_at, m.msgid),
    )

    def render(m: MassMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "msgid": m.msgid,
            "create_time": int(m.created_at),
            "create_type": m.create_type,
            "attachments": m.attachments,
        }
        if m.creator:
            data["creator"] = m.creator
        if m.text is not None:
            data["text"] = {"content": m.text}
        return data

    page, cursor = state.page(
        call.binding(chat_type=chat_type, start=start, end=end, creator=creator, f=filter_type),
        body.text("cursor"),
        _limit(body, 50, 100),
        lambda: [render(m) for m in messages],
    )
    return {"group_msg_list": page, "next_cursor": cursor}


def get_groupmsg_task(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    message = _message(state, body)

    def render(task: MemberTask) -> dict[str, Any]:
        data: dict[str, Any] = {"userid": task.userid, "status": task.status}
        if task.send_time is not None:
            data["send_time"] = task.send_time
        return data

    page, cursor = state.page(
        call.binding(msgid=message.msgid),
        body.text("cursor"),
        _limit(body, 500, 1000),
        lambda: [render(t) for t in message.tasks.values()],
    )
    return {"task_list": page, "next_cursor": cursor}


def get_groupmsg_send_result(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    message = _message(state, body)
    userid = body.req("userid")
    task = message.tasks.get(userid)
    recipients = task.recipients if task else []

    def render(r: Recipient) -> dict[str, Any]:
        data: dict[str, Any] = {"userid": userid, "status": r.status}
        data["chat_id" if r.is_group else "external_userid"] = r.key
        if r.send_time is not None:
            data["send_time"] = r.send_time
        return data

    page, cursor = state.page(
        call.binding(msgid=message.msgid, userid=userid),
        body.text("cursor"),
        _limit(body, 500, 1000),
        lambda: [render(r) for r in recipients],
    )
    return {"send_list": page, "next_cursor": cursor}


def remind_groupmsg_send(call: Call) -> dict[str, Any]:
    state = call.state
    message = _message(state, call.body, dispatching=False)
    now = state.now()
    message.reminders = [t for t in message.reminders if t > now - DAY]
    if len(message.reminders) >= 3:
        raise WeComFault(45009, "at most 3 reminders per task per 24 h")
    message.reminders.append(now)
    return {}


def cancel_groupmsg_send(call: Call) -> dict[str, Any]:
    message = _message(call.state, call.body, dispatching=False)
    for task in message.tasks.values():
        if task.status == 0:
            task.cancelled = True
    return {}


ROUTES: Routes = {
    "externalcontact/send_welcome_msg": ("POST", send_welcome_msg),
    "externalcontact/add_msg_template": ("POST", add_msg_template),
    "externalcontact/get_groupmsg_list_v2": ("POST", get_groupmsg_list_v2),
    "externalcontact/get_groupmsg_task": ("POST", get_groupmsg_task),
    "externalcontact/get_groupmsg_send_result": ("POST", get_groupmsg_send_result),
    "externalcontact/remind_groupmsg_send": ("POST", remind_groupmsg_send),
    "externalcontact/cancel_groupmsg_send": ("POST", cancel_groupmsg_send),
}


def confirm(state: FakeState, msgid: str, userid: str) -> dict[str, Any]:
    """The member confirms the task in the WeCom client: recipients get their final status."""
    message = state.messages.get(msgid)
    if message is None:
        raise WeComFault(41047)
    task = message.tasks.get(userid)
    if task is None or task.cancelled or task.status == 2:
        raise WeComFault(40058, "no unsent, uncancelled task for this member")
    now = state.now()
    for recipient in task.recipients:
        if recipient.is_group:
            group = state.groups.get(recipient.key)
            friend = group is not None and not group.dismissed
        else:
            friend = (userid, recipient.key) in state.follows
        if not friend:
            recipient.status = 2
        elif not quota_allows(state, recipient.key, now):
            recipient.status = 3
        else:
            recipient.status = 1
            recipient.send_time = int(now)
            state.quota_ledger.setdefault(recipient.key, []).append((now, message.create_type))
    task.status, task.send_time = 2, int(now)
    counts = {s: sum(1 for r in task.recipients if r.status == s) for s in (1, 2, 3)}
    return {"sent": counts[1], "not_friend": counts[2], "quota_exceeded": counts[3]}


def auto_confirm(state: FakeState) -> None:
    delay = state.config.auto_confirm_delay
    if delay is None:
        return
    now = state.now()
    for message in state.messages.values():
        if message.created_at + delay > now:
            continue
        for task in message.tasks.values():
            if task.status == 0 and not task.cancelled:
                confirm(state, message.msgid, task.userid)


def member_publish(
    state: FakeState, userid: str, external_userids: list[str], text: str, chat_type: str
) -> dict[str, Any]:
    """A member publishes a mass message from the client (create_type 1), sent at once."""
    member = state.contact_member(userid)
    if chat_type == "group":
        keys = external_userids or [g.chat_id for g in state.groups.values() if g.owner == userid]
    else:
        keys = external_userids or [f.external_userid for f in state.customers_of(userid)]
    message = MassMessage(
        msgid="msg" + state.new_id("", 28),
        chat_type=chat_type,
        create_type=1,
        created_at=state.now() - state.config.dispatch_window,
        creator=member.userid,
        text=text,
        attachments=[],
    )
    message.tasks[userid] = MemberTask(userid, [Recipient(k, chat_type == "group") for k in keys])
    state.messages[message.msgid] = message
    result = confirm(state, message.msgid, userid)
    return {"msgid": message.msgid, **result}
