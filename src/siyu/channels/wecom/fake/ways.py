"""Fake contact ways (「联系我」, spec §3.3) and customers who scan them."""

from __future__ import annotations

from typing import Any

from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.callbacks import emit
from siyu.channels.wecom.fake.contacts import new_customer
from siyu.channels.wecom.fake.state import (
    ContactWay,
    FakeState,
    Follow,
    Member,
    WelcomeCode,
)
from siyu.channels.wecom.fake.wire import Body, WeComFault

DAY = 86400


def _way_member(state: FakeState, userid: str) -> Member:
    member = state.member(userid)
    if not member.active:
        raise WeComFault(41054)
    if not member.verified:
        raise WeComFault(40098)
    if not member.contact_enabled:
        raise WeComFault(84074)
    return member


def _way_users(state: FakeState, body: Body, way_type: int) -> tuple[list[str], list[int]]:
    users = body.texts("user")
    party = body.items("party")
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in party):
        raise WeComFault(40058, "party must hold department ids")
    if party and way_type != 2:
        raise WeComFault(40058, "party is only for type 2")
    if len(users) + len(party) > 100:
        raise WeComFault(41041)
    if way_type == 1 and len(users) != 1:
        raise WeComFault(40058, "type 1 needs exactly one user")
    if not users:
        raise WeComFault(40058, "the fake needs at least one user per contact way")
    for userid in users:
        _way_member(state, userid)
    return users, party


def _expiry(body: Body, name: str, default: int) -> int:
    value = body.integer(name, default)
    if not 0 < value <= 14 * DAY:
        raise WeComFault(40058, f"{name} out of range")
    return value


def render_way(way: ContactWay) -> dict[str, Any]:
    data: dict[str, Any] = {
        "config_id": way.config_id,
        "type": way.type,
        "scene": way.scene,
        "remark": way.remark,
        "skip_verify": way.skip_verify,
        "state": way.state,
        "user": list(way.user),
        "party": list(way.party),
        "is_temp": way.is_temp,
    }
    if way.scene == 2:
        data["qr_code"] = way.qr_code
    if way.style is not None:
        data["style"] = way.style
    if way.is_temp:
        data["expires_in"] = way.expires_in
        data["chat_expires_in"] = way.chat_expires_in
    return data


def add_contact_way(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    way_type = body.integer("type", missing=41037)
    scene = body.integer("scene", missing=41038)
    if way_type not in (1, 2):
        raise WeComFault(41039)
    if scene not in (1, 2):
        raise WeComFault(41040)
    style = body.opt_int("style")
    if style is not None and not 1 <= style <= 3:
        raise WeComFault(41042)
    remark_text = body.text("remark", max_len=30, default="")
    state_text = body.text("state", max_len=30, default="")
    users, party = _way_users(state, body, way_type)
    is_temp = body.flag("is_temp", False)
    if is_temp and way_type != 1:
        raise WeComFault(40058, "temporary ways take a single member")
    permanent = sum(1 for w in state.contact_ways.values() if not w.is_temp)
    if not is_temp and permanent >= state.config.contact_way_limit:
        raise WeComFault(41045)
    config_id = state.new_id("", 32).lower()
    way = ContactWay(
        config_id=config_id,
        type=way_type,
        scene=scene,
        created_at=state.now_int(),
        style=style,
        remark=remark_text or "",
        skip_verify=body.flag("skip_verify", True),
        state=state_text or "",
        user=users,
        party=party,
        is_temp=is_temp,
        expires_in=_expiry(body, "expires_in", 7 * DAY) if is_temp else None,
        chat_expires_in=_expiry(body, "chat_expires_in", DAY) if is_temp else None,
        qr_code=f"https://wework.qpic.cn/wwpic/fake/{config_id}/0" if scene == 2 else "",
    )
    state.contact_ways[config_id] = way
    return {"config_id": config_id, **({"qr_code": way.qr_code} if scene == 2 else {})}


def _way(state: FakeState, body: Body) -> ContactWay:
    config_id = body.text("config_id", missing=41043)
    way = state.contact_ways.get(config_id or "")
    if way is None:
        raise WeComFault(41044)
    return way


def get_contact_way(call: Call) -> dict[str, Any]:
    return {"contact_way": render_way(_way(call.state, call.body))}


def list_contact_way(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    now = state.now_int()
    end = body.integer("end_time", now)
    start = body.integer("start_time", now - 90 * DAY)
    limit = body.integer("limit", 100)
    if not 1 <= limit <= 1000 or start > end:
        raise WeComFault(40058, "limit or time range out of range")
    ways = sorted(
        (w for w in state.contact_ways.values() if not w.is_temp and start <= w.created_at <= end),
        key=lambda w: (w.created_at, w.config_id),
    )
    page, cursor = state.page(
        call.binding(start=start, end=end),
        body.text("cursor"),
        limit,
        lambda: [{"config_id": w.config_id} for w in ways],
    )
    return {"contact_way": page, "next_cursor": cursor}


def update_contact_way(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    way = _way(state, body)
    if way.is_temp and (way.used or way.created_at + (way.expires_in or 0) < state.now()):
        raise WeComFault(40058, "an expired temporary way cannot be edited")
    if body.has("style"):
        style = body.integer("style")
        if not 1 <= style <= 3:
            raise WeComFault(41042)
        way.style = style
    if "remark" in body.data:
        way.remark = body.text("remark", max_len=30, default="") or ""
    if "state" in body.data:
        way.state = body.text("state", max_len=30, default="") or ""
    if "skip_verify" in body.data:
        way.skip_verify = body.flag("skip_verify", way.skip_verify)
    if "user" in body.data or "party" in body.data:
        merged = Body({"user": body.data.get("user", way.user),
                       "party": body.data.get("party", way.party)})  # fmt: skip
        way.user, way.party = _way_users(state, merged, way.type)
    return {}


def del_contact_way(call: Call) -> dict[str, Any]:
    way = _way(call.state, call.body)
    del call.state.contact_ways[way.config_id]
    return {}


ROUTES: Routes = {
    "externalcontact/add_contact_way": ("POST", add_contact_way),
    "externalcontact/get_contact_way": ("POST", get_contact_way),
    "externalcontact/list_contact_way": ("POST", list_contact_way),
    "externalcontact/update_contact_way": ("POST", update_contact_way),
    "externalcontact/del_contact_way": ("POST", del_contact_way),
}


def simulate_scan(
    state: FakeState,
    config_id: str,
    *,
    external_userid: str | None = None,
    name: str | None = None,
    unionid: str | None = None,
    half: bool = False,
) -> dict[str, Any]:
    """A customer scans a contact way and adds its (first free) member: emits the add event.

    A new customer gets ``unionid`` when given (a WeChat user the brand knows from elsewhere).
    """
    way = state.contact_ways.get(config_id)
    if way is None:
        raise WeComFault(41044)
    if way.is_temp and way.used:
        raise WeComFault(41044, "temporary contact way already used")
    customer = state.customers.get(external_userid or "") or new_customer(
        state, name=name, unionid=unionid
    )
    userid = way.user[len(state.followers(customer.external_userid)) % len(way.user)]
    member = state.members[userid]
    now = state.now_int()
    previous = state.follows.get((userid, customer.external_userid))
    chatted = previous is not None and previous.chatted
    follow = Follow(userid, customer.external_userid, now, add_way=1, state=way.state or None,
                    last_interaction=now, chatted=chatted)  # fmt: skip
    state.follows[(userid, customer.external_userid)] = follow
    way.used = way.is_temp
    code = None
    if not member.console_welcome and not chatted:
        code = state.new_id("", 43)
        state.welcome_codes[code] = WelcomeCode(
            code, userid, customer.external_userid, now + state.config.welcome_code_ttl
        )
    change = "add_half_external_contact" if half and way.skip_verify else "add_external_contact"
    emit(
        state,
        "change_external_contact",
        change,
        [("UserID", userid), ("ExternalUserID", customer.external_userid),
         ("State", way.state or None), ("WelcomeCode", code)],
    )  # fmt: skip
    return {"external_userid": customer.external_userid, "userid": userid, "welcome_code": code}
