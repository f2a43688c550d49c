"""Fake members and customers: follow users, contacts, batch get, remark, mark_tag (spec §3.1).

API changes (remark, mark_tag) produce no callbacks; the ``simulate_*`` functions, driven by the
control API, stand for actions in the WeCom client and do.
"""

from __future__ import annotations

from typing import Any

from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.callbacks import emit
from siyu.channels.wecom.fake.state import (
    Customer,
    FakeState,
    Follow,
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
    follow = state.follows.pop((userid, external_userid))
    if follow is None:
        raise WeComFault(84061)
    change = "del_external_contact" if by == "member" else "del_follow_user"
    emit(state, "change_external_contact", change,
         [("UserID", userid), ("ExternalUserID", external_userid)])  # fmt: skip


def simulate_edit(state: FakeState, userid: str, external_userid: str, body: Body) -> None:
    """The member edits remark/description/phones/tags in the client: ``edit_external_contact``."""
    follow = state.follows.get((userid, external_userid))
    if follow is None:
        raise WeComFault(84061)
    follow.remark = body.text("remark", default=follow.remark) or ""
    follow.description = body.text("description", default=follow.description) or ""
    if "remark_mobiles" in body.data:
        follow.remark_mobiles = [m for m in body.texts("remark_mobiles") if m]
    follow.tags = (follow.tags | set(body.texts("add_tag"))) - set(body.texts("remove_tag"))
    emit(state, "change_external_contact", "edit_external_contact",
         [("UserID", userid), ("ExternalUserID", external_userid)])  # fmt: skip
