"""The fake's control API under ``/_fake/`` (never a WeCom path): move time, simulate what
members, customers and admins do in the WeCom client, inject faults, inspect callbacks.

Bodies are JSON objects; a rule broken here answers 400 with ``errcode`` and ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from siyu.channels.wecom.fake import contacts, groups, messages, tags, transfers, ways
from siyu.channels.wecom.fake.app import FakeWeCom
from siyu.channels.wecom.fake.limits import Fault
from siyu.channels.wecom.fake.state import Member
from siyu.channels.wecom.fake.wire import Body as Fields
from siyu.channels.wecom.fake.wire import WeComFault

router = APIRouter(prefix="/_fake", tags=["fake control"])
Payload = Annotated[dict[str, Any] | None, Body()]


def _fake(request: Request) -> FakeWeCom:
    fake: FakeWeCom = request.app.state.fake
    return fake


FakeDep = Annotated[FakeWeCom, Depends(_fake)]


def _run(fake: FakeWeCom, action: Callable[[], Any]) -> Any:
    """Run ``action`` under the state lock, then deliver callbacks; faults become 400."""
    try:
        with fake.state.lock:
            result = action()
    except WeComFault as fault:
        detail = fault.note or str(fault.errcode)
        return JSONResponse({"errcode": fault.errcode, "detail": detail}, status_code=400)
    fake.tick()
    return {"ok": True} if result is None else result


@router.get("/time")
def get_time(fake: FakeDep) -> dict[str, Any]:
    return {"now": fake.state.now(), "iso": fake.state.clock.now().isoformat()}


@router.post("/time/advance")
def advance_time(fake: FakeDep, payload: Payload = None) -> Any:
    """Move the fake clock forward by ``seconds``; due transfers, tasks and retries then run."""
    seconds = Fields(payload or {}).integer("seconds", missing=40063)
    fake.state.clock.advance(timedelta(seconds=seconds))
    fake.tick()
    return get_time(fake)


@router.get("/config")
def get_config(fake: FakeDep) -> dict[str, Any]:
    return fake.config.model_dump(mode="json", exclude={"secrets", "other_app_secrets"})


@router.post("/members")
def upsert_member(fake: FakeDep, payload: Payload = None) -> Any:
    """Create or change a member: ``userid`` and any of the ``Member`` flags."""
    fields = Fields(payload or {})

    def act() -> dict[str, Any]:
        userid = fields.req("userid")
        member = fake.state.members.setdefault(userid, Member(userid, name=userid))
        for flag in ("active", "verified", "contact_enabled", "visible", "console_welcome"):
            setattr(member, flag, fields.flag(flag, getattr(member, flag)))
        member.name = fields.text("name", default=member.name) or userid
        if fields.has("customer_cap"):
            member.customer_cap = fields.integer("customer_cap")
        return {"userid": userid}

    return _run(fake, act)


@router.post("/members/{userid}/resign")
def resign_member(userid: str, fake: FakeDep) -> Any:
    return _run(fake, lambda: transfers.resign(fake.state, userid))


@router.post("/customers/seed")
def seed_customers(fake: FakeDep, payload: Payload = None) -> Any:
    """Give ``userid`` ``count`` customers at once, without callbacks."""
    fields = Fields(payload or {})
    return _run(
        fake,
        lambda: {
            "external_userids": contacts.seed_customers(
                fake.state, fields.req("userid"), fields.integer("count", 1), fields.text("state")
            )
        },
    )


@router.post("/contact_ways/{config_id}/scan")
def scan_contact_way(config_id: str, fake: FakeDep, payload: Payload = None) -> Any:
    """A customer scans the way's code and adds a member (``add_external_contact``)."""
    fields = Fields(payload or {})
    return _run(
        fake,
        lambda: ways.simulate_scan(
            fake.state,
            config_id,
            external_userid=fields.text("external_userid"),
            name=fields.text("name"),
            unionid=fields.text("unionid"),
            half=fields.flag("half", False),
        ),
    )


@router.post("/follows/delete")
def delete_follow(fake: FakeDep, payload: Payload = None) -> Any:
    """``by: member`` deletes the customer; ``by: customer`` deletes the member."""
    fields = Fields(payload or {})
    by = fields.text("by", default="member") or "member"
    return _run(
        fake,
        lambda: contacts.simulate_delete(
            fake.state, fields.req("userid"), fields.req("external_userid"), by=by
        ),
    )


@router.post("/follows/edit")
def edit_follow(fake: FakeDep, payload: Payload = None) -> Any:
    """The member edits remark, description or tags in the client."""
    fields = Fields(payload or {})
    return _run(
        fake,
        lambda: contacts.simulate_edit(
            fake.state, fields.req("userid"), fields.req("external_userid"), fields
        ),
    )


@router.post("/follows/interact")
def interact(fake: FakeDep, payload: Payload = None) -> Any:
    """Member and customer chat: the member becomes the last-interacting follower."""
    fields = Fields(payload or {})

    def act() -> None:
        follow = fake.state.follows.get((fields.req("userid"), fields.req("external_userid")))
        if follow is None:
            raise WeComFault(84061)
        follow.last_interaction = fake.state.now()
        follow.chatted = True

    return _run(fake, act)


@router.post("/tags/console")
def console_tag(fake: FakeDep, payload: Payload = None) -> Any:
    """The admin edits corp tags in the console: ``action`` create/update/delete/shuffle."""
    return _run(fake, lambda: tags.simulate_console_tag(fake.state, Fields(payload or {})))


@router.post("/groups")
def create_group(fake: FakeDep, payload: Payload = None) -> Any:
    fields = Fields(payload or {})
    return _run(
        fake,
        lambda: {
            "chat_id": groups.create(
                fake.state,
                fields.req("owner"),
                fields.text("name", default="") or "",
                fields.texts("members"),
            )
        },
    )


@router.post("/groups/{chat_id}/{action}")
def change_group(chat_id: str, action: str, fake: FakeDep, payload: Payload = None) -> Any:
    """``join`` / ``leave`` (``userids``, ``scene``), ``rename`` (``name``), ``dismiss``."""
    fields = Fields(payload or {})

    def act() -> None:
        if action == "join":
            groups.join(fake.state, chat_id, fields.texts("userids"), fields.integer("scene", 0))
        elif action == "leave":
            groups.leave(fake.state, chat_id, fields.texts("userids"), fields.integer("scene", 0))
        elif action == "rename":
            groups.rename(fake.state, chat_id, fields.req("name"))
        elif action == "dismiss":
            groups.dismiss(fake.state, chat_id)
        else:
            raise WeComFault(40058, "action must be join, leave, rename or dismiss")

    return _run(fake, act)


@router.post("/mass/{msgid}/confirm")
def confirm_mass(msgid: str, fake: FakeDep, payload: Payload = None) -> Any:
    """The member ``userid`` confirms the task in the client; recipients get final statuses."""
    userid = Fields(payload or {}).req("userid")
    return _run(fake, lambda: messages.confirm(fake.state, msgid, userid))


@router.post("/mass/publish")
def publish_mass(fake: FakeDep, payload: Payload = None) -> Any:
    """A member publishes a mass message (create_type 1) that counts toward quotas."""
    fields = Fields(payload or {})
    return _run(
        fake,
        lambda: messages.member_publish(
            fake.state,
            fields.req("userid"),
            fields.texts("external_userids"),
            fields.text("text", default="") or "",
            fields.text("chat_type", default="single") or "single",
        ),
    )


@router.post("/transfers/refuse")
def refuse_transfer(fake: FakeDep, payload: Payload = None) -> Any:
    """The customer refuses the pending transfer (status 3, ``customer_refused``)."""
    external_userid = Fields(payload or {}).req("external_userid")
    return _run(fake, lambda: transfers.refuse(fake.state, external_userid))


@router.post("/tokens/revoke")
def revoke_tokens(fake: FakeDep, payload: Payload = None) -> Any:
    """Revoke one ``access_token`` or, without it, all (WeCom may invalidate tokens early)."""
    value = Fields(payload or {}).text("access_token")

    def act() -> dict[str, int]:
        revoked = 0
        for token in fake.state.tokens.values():
            if value is None or token.value == value:
                token.revoked, revoked = True, revoked + 1
        return {"revoked": revoked}

    return _run(fake, act)


@router.post("/faults")
def add_fault(fake: FakeDep, payload: Payload = None) -> Any:
    """Schedule ``count`` faults (``kind`` busy/http/delay) for ``api`` or set ``busy_fraction``."""
    fields = Fields(payload or {})
    if fields.has("busy_fraction"):
        fraction = fields.data["busy_fraction"]
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            return JSONResponse({"detail": "busy_fraction must be in [0, 1]"}, status_code=400)
        fake.faults.busy_fraction = float(fraction)
        return {"ok": True}
    kind = fields.req("kind")
    if kind not in ("busy", "http", "delay"):
        return JSONResponse({"detail": "kind must be busy, http or delay"}, status_code=400)
    fake.faults.add(
        Fault(
            kind,  # type: ignore[arg-type]  # checked against the Literal above
            api=fields.text("api", default="*") or "*",
            remaining=fields.integer("count", 1),
            status=fields.integer("status", 503),
            delay=float(fields.data.get("delay") or 0.0),
        )
    )
    return {"ok": True}


@router.delete("/faults")
def clear_faults(fake: FakeDep) -> dict[str, bool]:
    fake.faults.clear()
    return {"ok": True}


@router.get("/callbacks")
def list_callbacks(fake: FakeDep) -> dict[str, Any]:
    """Every queued, delivered, failed or dropped callback with its attempts."""
    fake.dispatcher.flush()
    return {
        "verified": fake.dispatcher.verified,
        "verifications": fake.dispatcher.verifications,
        "deliveries": [d.as_dict() for d in fake.dispatcher.deliveries],
    }


@router.post("/callbacks/{action}")
def control_callbacks(action: str, fake: FakeDep, payload: Payload = None) -> Any:
    """``pause`` / ``resume`` delivery, ``flush`` now, ``drop`` the next ``count`` events."""
    dispatcher = fake.dispatcher
    if action in ("pause", "resume"):
        dispatcher.paused = action == "pause"
    elif action == "drop":
        dispatcher.drop_next += Fields(payload or {}).integer("count", 1)
    elif action != "flush":
        return JSONResponse({"detail": "unknown action"}, status_code=400)
    dispatcher.flush()
    return list_callbacks(fake)


@router.post("/callbacks/deliveries/{delivery_id}/redeliver")
def redeliver(delivery_id: int, fake: FakeDep) -> Any:
    """Send a delivered event again, unchanged (a duplicate, as WeCom may send)."""
    if not 1 <= delivery_id <= len(fake.dispatcher.deliveries):
        return JSONResponse({"detail": "no such delivery"}, status_code=404)
    fake.dispatcher.redeliver(delivery_id)
    fake.dispatcher.flush()
    return list_callbacks(fake)


@router.get("/welcome_messages")
def welcome_messages(fake: FakeDep) -> dict[str, Any]:
    """Welcome messages sent with a code, for assertions."""
    with fake.state.lock:
        sent = [
            {"userid": c.userid, "external_userid": c.external_userid, **(c.sent or {})}
            for c in fake.state.welcome_codes.values()
            if c.used
        ]
    return {"sent": sent}


@router.get("/state/follows")
def list_follows(fake: FakeDep) -> dict[str, Any]:
    """Every (member, customer) friendship, for demos and assertions."""
    with fake.state.lock:
        follows = [
            {"userid": f.userid, "external_userid": f.external_userid, "state": f.state}
            for userid in sorted(fake.state.members)
            for f in fake.state.customers_of(userid)
        ]
    return {"follows": follows}


@router.get("/state/groups")
def list_groups(fake: FakeDep) -> dict[str, Any]:
    """Every group chat that is not dismissed, with its member count."""
    with fake.state.lock:
        groups = [
            {"chat_id": g.chat_id, "name": g.name, "owner": g.owner, "members": len(g.members)}
            for g in fake.state.groups.values()
            if not g.dismissed
        ]
    return {"groups": groups}
