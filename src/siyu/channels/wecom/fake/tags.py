"""Fake corporate customer tags (spec §3.2); console edits emit ``change_external_tag``."""

from __future__ import annotations

from typing import Any

from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.callbacks import emit
from siyu.channels.wecom.fake.state import (
    FakeState,
    Tag,
    TagGroup,
)
from siyu.channels.wecom.fake.wire import Body, WeComFault


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


ROUTES: Routes = {
    "externalcontact/get_corp_tag_list": ("POST", get_corp_tag_list),
    "externalcontact/add_corp_tag": ("POST", add_corp_tag),
    "externalcontact/edit_corp_tag": ("POST", edit_corp_tag),
    "externalcontact/del_corp_tag": ("POST", del_corp_tag),
}


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
    target: TagGroup | Tag | None = state.tag_groups.get(item_id) or state.tag(item_id)
    if target is None:
        raise WeComFault(40058, "unknown tag or group id")
    is_group = isinstance(target, TagGroup)
    tag_type = "tag_group" if is_group else "tag"
    if action == "update":
        target.name = body.req("name")
    elif action == "delete":
        delete_tags(state, set() if is_group else {item_id}, {item_id} if is_group else set())
    elif action != "shuffle":
        raise WeComFault(40058, "action must be create, update, delete or shuffle")
    emit(state, "change_external_tag", action, [("Id", item_id), ("TagType", tag_type)])
    return {"id": item_id}
