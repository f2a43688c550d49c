"""Fake customer contact, corp tags and contact ways (spec §3.1–§3.3).

API changes (remark, mark_tag, tags, ways) produce no callbacks; the ``simulate_*`` functions,
driven by the control API, stand for actions in the WeCom client and do.
"""

from __future__ import annotations

from typing import Any

from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.callbacks import emit
from siyu.channels.wecom.fake.state import (
    ContactWay,
    Customer,
    FakeState,
    Follow,
    Member,
    Tag,
    TagGroup,
    WelcomeCode,
)
from siyu.channels.wecom.fake.wire import Body, WeComFault

FOLLOWERS_PER_PAGE = 500
DAY = 86400


def render_contact(customer: Customer) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "avatar": customer.avatar,
        "type": customer.type,
        "gender": customer.gender,
    }
    if customer.type == 1 and customer.unionid:
        data["unionid"] = customer.unionid
    if customer.type == 2:
        data["corp_name"] = customer.corp_name or ""
        data["corp_full_name"] = customer.corp_name or ""
        data["position"] = ""
    return data


def _follow_common(follow: Follow) -> dict[str, Any]:
    data: dict[str, Any] = {
        "userid": follow.userid,
        "remark": follow.remark,
        "description": follow.description,
        "createtime": follow.createtime,
        "remark_corp_name": follow.remark_company or "",
        "remark_mobiles": list(follow.remark_mobiles),
        "add_way": follow.add_way,
    }
    if follow.oper_userid:
        data["oper_userid"] = follow.oper_userid
    if follow.state:
        data["state"] = follow.state
    return data


def render_follow_user(state: FakeState, follow: Follow) -> dict[str, Any]:
    tags = []
    for tag_id in sorted(follow.tags):
        tag = state.tag(tag_id)
        if tag is not None:
            group = state.tag_groups[tag.group_id]
            tags.append(
                {"group_name": group.name, "tag_name": tag.name, "tag_id": tag.id, "type": 1}
            )
    return {**_follow_common(follow), "tags": tags}


def render_follow_info(follow: Follow) -> dict[str, Any]:
    return {**_follow_common(follow), "tag_id": sorted(follow.tags)}


def _visible_follow(state: FakeState, follow: Follow) -> bool:
    member = state.members.get(follow.userid)
    return member is not None and member.visible


def get_follow_user_list(call: Call) -> dict[str, Any]:
    members = call.state.members.values()
    users = [m.userid for m in members if m.visible and m.contact_enabled and not m.resigned_at]
    return {"follow_user": users}


def list_contacts(call: Call) -> dict[str, Any]:
    member = call.state.contact_member(call.body.text("userid", missing=40063))
    follows = call.state.customers_of(member.userid)
    if not follows:
        raise WeComFault(84061)
    return {"external_userid": [f.external_userid for f in follows]}


def get_contact(call: Call) -> dict[str, Any]:
    state = call.state
    customer = state.customer(call.body.text("external_userid", missing=41035))
    follows = [f for f in state.followers(customer.external_userid) if _visible_follow(state, f)]
    if not follows:
        raise WeComFault(84061)
    page, cursor = state.page(
        call.binding(external_userid=customer.external_userid),
        call.body.text("cursor"),
        FOLLOWERS_PER_PAGE,
        lambda: [render_follow_user(state, f) for f in follows],
    )
    return {
        "external_contact": render_contact(customer),
        "follow_user": page,
        "next_cursor": cursor,
    }


def batch_get_by_user(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    userids = body.texts("userid_list", max_items=100)
    if not userids:
        raise WeComFault(40063, "userid_list missing")
    members = [state.contact_member(u) for u in userids]
    limit = body.integer("limit", 50)
    if limit < 1:
        raise WeComFault(40058, "limit must be positive")
    limit = min(limit, 100)  # WeCom clamps larger values

    def produce() -> list[dict[str, Any]]:
        return [
            {
                "external_contact": render_contact(state.customers[f.external_userid]),
                "follow_info": render_follow_info(f),
            }
            for m in members
            for f in state.customers_of(m.userid)
        ]

    if not body.has("cursor") and not any(state.customers_of(m.userid) for m in members):
        raise WeComFault(84061)
    page, cursor = state.page(call.binding(userids=userids), body.text("cursor"), limit, produce)
    return {"external_contact_list": page, "next_cursor": cursor}


def _follow(state: FakeState, body: Body) -> Follow:
    member = state.contact_member(body.text("userid", missing=40063))
    customer = state.customer(body.text("external_userid", missing=41035))
    follow = state.follows.get((member.userid, customer.external_userid))
    if follow is None:
        raise WeComFault(84061)
    return follow


def remark(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    follow = _follow(state, body)
    fields = ("remark", "description", "remark_company", "remark_mobiles", "remark_pic_mediaid")
    if not any(name in body.data for name in fields):
        raise WeComFault(40063, "nothing to change")
    new_remark = body.text("remark", max_len=20)
    description = body.text("description", max_len=150)
    company = body.text("remark_company", max_len=20)
    mobiles = body.texts("remark_mobiles") if "remark_mobiles" in body.data else None
    if company is not None and state.customers[follow.external_userid].type != 1:
        raise WeComFault(40058, "remark_company is only for WeChat-user customers")
    if new_remark is not None:
        follow.remark = new_remark
    if description is not None:
        follow.description = description
    if company is not None:
        follow.remark_company = company
    if mobiles is not None:
        follow.remark_mobiles = [m for m in mobiles if m]
    return {}


def mark_tag(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    follow = _follow(state, body)
    add, remove = body.texts("add_tag"), body.texts("remove_tag")
    if not add and not remove:
        raise WeComFault(40063, "add_tag and remove_tag are both empty")
    for tag_id in [*add, *remove]:
        if state.tag(tag_id) is None:
            raise WeComFault(40058, f"unknown tag id {tag_id}")
    follow.tags |= set(add)
    follow.tags -= set(remove)
    return {}


def _order(body: Body, name: str = "order") -> int:
    order = body.integer(name, 0)
    if not 0 <= order < 2**32:
        raise WeComFault(40058, f"{name} out of range")
    return order


def render_group(group: TagGroup, only: set[str] | None = None) -> dict[str, Any]:
    tags = [t for t in group.tags.values() if only is None or t.id in only]
    return {
        "group_id": group.group_id,
        "group_name": group.name,
        "create_time": group.create_time,
        "order": group.order,
        "deleted": False,
        "tag": [
            {"id": t.id, "name": t.name, "create_time": t.create_time, "order": t.order,
             "deleted": False}
            for t in sorted(tags, key=lambda t: (-t.order, t.create_time, t.id))
        ],
    }  # fmt: skip


def get_corp_tag_list(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    tag_ids, group_ids = set(body.texts("tag_id")), set(body.texts("group_id"))
    groups = sorted(state.tag_groups.values(), key=lambda g: (-g.order, g.create_time))
    if not tag_ids and not group_ids:
        return {"tag_group": [render_group(g) for g in groups]}
    out = []
    for group in groups:
        if group.group_id in group_ids:
            out.append(render_group(group))
        elif tag_ids & group.tags.keys():
            out.append(render_group(group, tag_ids))
    return {"tag_group": out}


def add_corp_tag(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    new_tags = body.items("tag")
    if not new_tags:
        raise WeComFault(40058, "an empty tag group cannot be created")
    specs: dict[str, int] = {}
    for raw in new_tags:
        spec = Body(raw if isinstance(raw, dict) else {})
        specs.setdefault(spec.req("name", max_len=30), _order(spec))
    now = state.now_int()
    group_id = body.text("group_id")
    if group_id:
        group = state.tag_groups.get(group_id)
        if group is None:
            raise WeComFault(40058, "unknown group_id")
    else:
        name = body.req("group_name", max_len=30)
        found = [g for g in state.tag_groups.values() if g.name == name]
        group = found[0] if found else TagGroup(state.new_id("et", 20), name, _order(body), now)
    existing = {t.name: t for t in group.tags.values()}
    fresh = [n for n in specs if n not in existing]
    if state.tag_count() + len(fresh) > state.config.corp_tag_limit:
        raise WeComFault(40126)
    state.tag_groups[group.group_id] = group
    wanted = set()
    for name, order in specs.items():
        tag = existing.get(name)
        if tag is None:
            tag = Tag(state.new_id("et", 20), name, order, now, group.group_id)
            group.tags[tag.id] = tag
        wanted.add(tag.id)
    return {"tag_group": render_group(group, wanted)}


def edit_corp_tag(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    item_id = body.req("id")
    name = body.text("name", max_len=30)
    order = _order(body) if body.has("order") else None
    group = state.tag_groups.get(item_id)
    if group is not None:
        if name and any(g.name == name and g is not group for g in state.tag_groups.values()):
            raise WeComFault(40058, "group name already used")
        group.name = name or group.name
        group.order = group.order if order is None else order
        return {}
    tag = state.tag(item_id)
    if tag is None:
        raise WeComFault(40058, "unknown tag or group id")
    siblings = state.tag_groups[tag.group_id].tags.values()
    if name and any(t.name == name and t is not tag for t in siblings):
        raise WeComFault(40058, "tag name already used in this group")
    tag.name = name or tag.name
    tag.order = tag.order if order is None else order
    return {}


def delete_tags(state: FakeState, tag_ids: set[str], group_ids: set[str]) -> None:
    for group_id in group_ids:
        group = state.tag_groups.pop(group_id, None)
        if group:
            tag_ids |= group.tags.keys()
    for group in list(state.tag_groups.values()):
        for tag_id in tag_ids & group.tags.keys():
            del group.tags[tag_id]
        if not group.tags:
            del state.tag_groups[group.group_id]
    for follow in state.follows.values():
        follow.tags -= tag_ids


def del_corp_tag(call: Call) -> dict[str, Any]:
    tag_ids, group_ids = set(call.body.texts("tag_id")), set(call.body.texts("group_id"))
    if not tag_ids and not group_ids:
        raise WeComFault(40063, "tag_id and group_id are both empty")
    unknown = [t for t in tag_ids if call.state.tag(t) is None]
    unknown += [g for g in group_ids if g not in call.state.tag_groups]
    if unknown:
        raise WeComFault(40058, f"unknown ids {unknown}")
    delete_tags(call.state, tag_ids, group_ids)
    return {}


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
    party = [int(p) for p in body.items("party")]
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


def close_temp_chat(call: Call) -> dict[str, Any]:
    _follow(call.state, call.body)
    return {}


ROUTES: Routes = {
    "externalcontact/get_follow_user_list": ("GET", get_follow_user_list),
    "externalcontact/list": ("GET", list_contacts),
    "externalcontact/get": ("GET", get_contact),
    "externalcontact/batch/get_by_user": ("POST", batch_get_by_user),
    "externalcontact/remark": ("POST", remark),
    "externalcontact/mark_tag": ("POST", mark_tag),
    "externalcontact/get_corp_tag_list": ("POST", get_corp_tag_list),
    "externalcontact/add_corp_tag": ("POST", add_corp_tag),
    "externalcontact/edit_corp_tag": ("POST", edit_corp_tag),
    "externalcontact/del_corp_tag": ("POST", del_corp_tag),
    "externalcontact/add_contact_way": ("POST", add_contact_way),
    "externalcontact/get_contact_way": ("POST", get_contact_way),
    "externalcontact/list_contact_way": ("POST", list_contact_way),
    "externalcontact/update_contact_way": ("POST", update_contact_way),
    "externalcontact/del_contact_way": ("POST", del_contact_way),
    "externalcontact/close_temp_chat": ("POST", close_temp_chat),
}


def new_customer(
    state: FakeState, *, name: str | None = None, unionid: str | None = None, kind: int = 1
) -> Customer:
    external_userid = state.new_id("wm" if kind == 1 else "wo", 30)
    customer = Customer(
        external_userid,
        name or f"客户{len(state.customers) + 1}",
        type=kind,
        gender=state.rng.choice([0, 1, 2]),
        unionid=unionid or (state.new_id("oz", 26) if kind == 1 else None),
        avatar=f"https://wework.qpic.cn/fake/{external_userid}/0",
        corp_name="某公司" if kind == 2 else None,
    )
    state.customers[external_userid] = customer
    return customer


def simulate_scan(
    state: FakeState,
    config_id: str,
    *,
    external_userid: str | None = None,
    name: str | None = None,
    half: bool = False,
) -> dict[str, Any]:
    """A customer scans a contact way and adds its (first free) member: emits the add event."""
    way = state.contact_ways.get(config_id)
    if way is None:
        raise WeComFault(41044)
    if way.is_temp and way.used:
        raise WeComFault(41044, "temporary contact way already used")
    customer = state.customers.get(external_userid or "") or new_customer(state, name=name)
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


def seed_customers(state: FakeState, userid: str, count: int, state_text: str | None) -> list[str]:
    """Give a member ``count`` new customers without callbacks (bulk set-up for tests)."""
    member = state.contact_member(userid)
    ids = []
    base = state.now_int() - count
    for i in range(count):
        customer = new_customer(state)
        state.follows[(member.userid, customer.external_userid)] = Follow(
            member.userid, customer.external_userid, base + i, add_way=1, state=state_text,
            last_interaction=base + i,
        )  # fmt: skip
        ids.append(customer.external_userid)
    return ids


def simulate_delete(state: FakeState, userid: str, external_userid: str, *, by: str) -> None:
    """The member deletes the customer (``by="member"``) or the customer the member."""
    follow = state.follows.pop((userid, external_userid), None)
    if follow is None:
        raise WeComFault(84061)
    change = "del_external_contact" if by == "member" else "del_follow_user"
    emit(state, "change_external_contact", change,
         [("UserID", userid), ("ExternalUserID", external_userid)])  # fmt: skip


def simulate_edit(state: FakeState, userid: str, external_userid: str, body: Body) -> None:
    """The member edits remark/description/tags in the client: ``edit_external_contact``."""
    follow = state.follows.get((userid, external_userid))
    if follow is None:
        raise WeComFault(84061)
    follow.remark = body.text("remark", default=follow.remark) or ""
    follow.description = body.text("description", default=follow.description) or ""
    follow.tags = (follow.tags | set(body.texts("add_tag"))) - set(body.texts("remove_tag"))
    emit(state, "change_external_contact", "edit_external_contact",
         [("UserID", userid), ("ExternalUserID", external_userid)])  # fmt: skip


def simulate_console_tag(state: FakeState, body: Body) -> dict[str, Any]:
    """The admin changes corp tags in the console: ``change_external_tag``."""
    action = body.req("action")
    now = state.now_int()
    if action == "create":
        group_name, tag_name = body.req("group_name"), body.req("tag_name")
        found = [g for g in state.tag_groups.values() if g.name == group_name]
        group = found[0] if found else TagGroup(state.new_id("et", 20), group_name, 0, now)
        state.tag_groups[group.group_id] = group
        tag = Tag(state.new_id("et", 20), tag_name, 0, now, group.group_id)
        group.tags[tag.id] = tag
        emit(state, "change_external_tag", "create", [("Id", tag.id), ("TagType", "tag")])
        return {"id": tag.id, "group_id": group.group_id}
    item_id = body.req("id")
    is_group = item_id in state.tag_groups
    if not is_group and state.tag(item_id) is None:
        raise WeComFault(40058, "unknown tag or group id")
    tag_type = "tag_group" if is_group else "tag"
    if action == "update":
        target: TagGroup | Tag | None = state.tag_groups.get(item_id) or state.tag(item_id)
        assert target is not None  # noqa: S101 - checked above
        target.name = body.req("name")
    elif action == "delete":
        delete_tags(state, set() if is_group else {item_id}, {item_id} if is_group else set())
    elif action != "shuffle":
        raise WeComFault(40058, "action must be create, update, delete or shuffle")
    emit(state, "change_external_tag", action, [("Id", item_id), ("TagType", tag_type)])
    return {"id": item_id}
