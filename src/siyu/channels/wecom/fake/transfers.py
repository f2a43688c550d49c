"""Fake inheritance: on-job and resigned customer transfers, unassigned customers and group
transfers (spec §3.7, §9 "Inheritance").

A started transfer waits ``transfer_wait`` (24 h) on the fake clock; ``complete_due`` then moves
the customer (status 1) or, when the takeover member is full, fails it (status 4,
``transfer_fail``/``customer_limit_exceed``). ``refuse`` stands for the customer refusing.
"""

from __future__ import annotations

from typing import Any

from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.callbacks import emit
from siyu.channels.wecom.fake.config import TransferRule
from siyu.channels.wecom.fake.state import FakeState, Follow, Member, Transfer
from siyu.channels.wecom.fake.wire import Body, WeComFault


def _customer_count(state: FakeState, userid: str) -> int:
    pending = sum(1 for t in state.transfers if t.takeover == userid and t.status == 2)
    return len(state.customers_of(userid)) + pending


def _cap(state: FakeState, member: Member) -> int:
    return member.customer_cap if member.customer_cap is not None else state.config.customer_cap


def _too_often(state: FakeState, external_userid: str) -> bool:
    rule = state.config.transfer_rule
    since = state.now() - state.config.transfer_window().total_seconds()
    done = [
        t
        for t in state.transfers
        if t.external_userid == external_userid and not t.resigned and t.status in (1, 2)
    ]
    if rule is TransferRule.LIFETIME_2:
        return len(done) >= 2
    recent = [t for t in done if t.started_at >= since]
    return len(recent) >= (1 if rule is TransferRule.WINDOW_90_MAX_1 else 2)


def _start(state: FakeState, body: Body, *, resigned: bool) -> dict[str, Any]:
    handover = state.member(body.req("handover_userid"))
    takeover = state.contact_member(body.req("takeover_userid"))
    if takeover.resigned_at or not takeover.active:
        raise WeComFault(41054, "takeover member is not active")
    external_ids = body.texts("external_userid", max_items=100)
    if not external_ids:
        raise WeComFault(40063, "external_userid missing")
    if not resigned:
        body.text("transfer_success_msg", max_len=200)
    results = []
    for external_userid in external_ids:
        code = 0
        pending = any(
            t.external_userid == external_userid and t.status == 2 for t in state.transfers
        )
        if external_userid not in state.customers:
            code = 40096
        elif resigned and not handover.resigned_at:
            code = 40097
        elif handover.userid == takeover.userid:
            code = 40130
        elif (handover.userid, external_userid) not in state.follows:
            code = 40131
        elif pending:
            code = 40129
        elif not resigned and _too_often(state, external_userid):
            code = 40128
        elif not takeover.verified:
            code = 40098
        elif _customer_count(state, takeover.userid) >= _cap(state, takeover):
            code = 40099
        if code == 0:
            state.transfers.append(
                Transfer(
                    external_userid,
                    handover.userid,
                    takeover.userid,
                    resigned,
                    started_at=state.now(),
                    takeover_time=state.now_int() + state.config.transfer_wait,
                )
            )
        results.append({"external_userid": external_userid, "errcode": code})
    return {"customer": results}


def transfer_customer(call: Call) -> dict[str, Any]:
    return _start(call.state, call.body, resigned=False)


def resigned_transfer_customer(call: Call) -> dict[str, Any]:
    return _start(call.state, call.body, resigned=True)


def _result(call: Call, *, resigned: bool) -> dict[str, Any]:
    state, body = call.state, call.body
    handover, takeover = body.req("handover_userid"), body.req("takeover_userid")
    latest: dict[str, Transfer] = {}
    for t in state.transfers:
        if t.handover == handover and t.takeover == takeover and t.resigned == resigned:
            latest[t.external_userid] = t
    page, cursor = state.page(
        call.binding(handover=handover, takeover=takeover),
        body.text("cursor"),
        1000,
        lambda: [
            {"external_userid": t.external_userid, "status": t.status,
             "takeover_time": t.takeover_time}
            for t in latest.values()
        ],
    )  # fmt: skip
    return {"customer": page, "next_cursor": cursor}


def transfer_result(call: Call) -> dict[str, Any]:
    return _result(call, resigned=False)


def resigned_transfer_result(call: Call) -> dict[str, Any]:
    return _result(call, resigned=True)


def get_unassigned_list(call: Call) -> dict[str, Any]:
    state, body = call.state, call.body
    page_size = body.integer("page_size", 1000)
    page_size = 1000 if not 1 <= page_size <= 1000 else page_size
    busy = {(t.handover, t.external_userid) for t in state.transfers if t.status in (1, 2)}
    resigned = sorted((m for m in state.members.values() if m.resigned_at), key=lambda m: m.userid)
    items = [
        {
            "handover_userid": m.userid,
            "external_userid": f.external_userid,
            "dimission_time": int(m.resigned_at or 0),
        }
        for m in resigned
        for f in state.customers_of(m.userid)
        if (m.userid, f.external_userid) not in busy
    ]
    page, cursor = state.page(call.binding(), body.text("cursor"), page_size, lambda: items)
    return {"info": page, "is_last": not cursor, "next_cursor": cursor}


def _group_transfer(call: Call, *, on_job: bool) -> dict[str, Any]:
    state, body = call.state, call.body
    chat_ids = body.texts("chat_id_list", max_items=100)
    if not chat_ids:
        raise WeComFault(40063, "chat_id_list missing")
    new_owner = state.contact_member(body.req("new_owner"))
    failed = []
    for chat_id in chat_ids:
        group = state.groups.get(chat_id)
        if group is None or group.dismissed:
            failed.append({"chat_id": chat_id, "errcode": 90501, "errmsg": "failed"})
            continue
        owner = state.members.get(group.owner)
        code = 0
        if not on_job and not (owner and owner.resigned_at):
            code = 90500
        elif on_job and owner and owner.resigned_at:
            code = 90502
        elif group.owner == new_owner.userid:
            code = 90504
        if code:
            failed.append({"chat_id": chat_id, "errcode": code, "errmsg": "failed"})
            continue
        group.owner = new_owner.userid
        group.status = 3 if not on_job else 0
    return {"failed_chat_list": failed}


def groupchat_transfer(call: Call) -> dict[str, Any]:
    return _group_transfer(call, on_job=False)


def groupchat_onjob_transfer(call: Call) -> dict[str, Any]:
    return _group_transfer(call, on_job=True)


def deprecated(call: Call) -> dict[str, Any]:
    raise WeComFault(48005)


ROUTES: Routes = {
    "externalcontact/transfer_customer": ("POST", transfer_customer),
    "externalcontact/transfer_result": ("POST", transfer_result),
    "externalcontact/resigned/transfer_customer": ("POST", resigned_transfer_customer),
    "externalcontact/resigned/transfer_result": ("POST", resigned_transfer_result),
    "externalcontact/get_unassigned_list": ("POST", get_unassigned_list),
    "externalcontact/groupchat/transfer": ("POST", groupchat_transfer),
    "externalcontact/groupchat/onjob_transfer": ("POST", groupchat_onjob_transfer),
    "externalcontact/transfer": ("POST", deprecated),
    "externalcontact/get_transfer_result": ("POST", deprecated),
}


def _fail(state: FakeState, transfer: Transfer, status: int, reason: str) -> None:
    transfer.status = status
    if status == 3:
        transfer.takeover_time = 0
    emit(state, "change_external_contact", "transfer_fail",
         [("UserID", transfer.handover), ("ExternalUserID", transfer.external_userid),
          ("FailReason", reason)])  # fmt: skip


def complete_due(state: FakeState) -> None:
    """Finish every waiting transfer whose takeover time has come."""
    now = state.now()
    for transfer in state.transfers:
        if transfer.status != 2 or transfer.takeover_time > now:
            continue
        takeover = state.members[transfer.takeover]
        if len(state.customers_of(takeover.userid)) >= _cap(state, takeover):
            _fail(state, transfer, 4, "customer_limit_exceed")
            continue
        old = state.follows.pop((transfer.handover, transfer.external_userid))
        state.follows[(takeover.userid, transfer.external_userid)] = Follow(
            takeover.userid,
            transfer.external_userid,
            transfer.takeover_time,
            add_way=202,
            oper_userid=takeover.userid,
            remark=old.remark if old else "",
            description=old.description if old else "",
            tags=set(old.tags) if old else set(),
            last_interaction=transfer.takeover_time,
        )
        transfer.status = 1
        if old is not None and not transfer.resigned:
            emit(state, "change_external_contact", "del_external_contact",
                 [("UserID", transfer.handover), ("ExternalUserID", transfer.external_userid),
                  ("Source", "DELETE_BY_TRANSFER")])  # fmt: skip


def refuse(state: FakeState, external_userid: str) -> dict[str, Any]:
    """The customer refuses the pending transfer: status 3 and ``customer_refused``."""
    for transfer in state.transfers:
        if transfer.external_userid == external_userid and transfer.status == 2:
            _fail(state, transfer, 3, "customer_refused")
            return {"handover_userid": transfer.handover, "takeover_userid": transfer.takeover}
    raise WeComFault(40096, "no pending transfer for this customer")


def resign(state: FakeState, userid: str) -> None:
    member = state.member(userid)
    member.resigned_at = state.now()
    for group in state.groups.values():
        if group.owner == userid and group.status == 0:
            group.status = 1
