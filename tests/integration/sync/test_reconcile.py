"""Reconciliation repairs what lost callbacks left wrong (issue #6, acceptance 4, second half).

The fake delivers its callbacks to siyu's callback route; the tests tell it to drop some, as a
network fault would, and check that one reconciliation brings siyu back in line with WeCom.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from siyu.acquisition import flows
from siyu.acquisition.schemas import CodeCreate
from siyu.channels import service as channels
from siyu.channels.wecom import reconcile, sync
from siyu.channels.wecom.sync_state import RunStatus
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.core.actor import Actor
from siyu.core.db import unit_of_work
from siyu.events.models import Event
from siyu.groups.models import CustomerGroup, GroupStatus
from tests.integration.sync.conftest import GUIDE1, GUIDE2, Corp


def actor_of(corp: Corp) -> Actor:
    return channels.channel_actor(corp.world.tenant_id, "Asia/Shanghai", "main")


def relation(corp: Corp, userid: str, external_userid: str) -> ContactRelation | None:
    with unit_of_work(corp.admin) as db:
        found = db.scalar(
            select(ContactRelation).where(
                ContactRelation.wecom_userid == userid,
                ContactRelation.external_userid == external_userid,
            )
        )
        if found is not None:
            db.expunge(found)
        return found


def events(corp: Corp, kind: str) -> list[Event]:
    with unit_of_work(corp.admin) as db:
        found = list(db.scalars(select(Event).where(Event.type == kind)))
        for event in found:
            db.expunge(event)
        return found


def deliveries(corp: Corp) -> list[dict[str, Any]]:
    return list(corp.control.get("/_fake/callbacks").json()["deliveries"])


def test_reconciliation_repairs_dropped_add_delete_edit_and_group_callbacks(
    live_corp: Corp,
) -> None:
    corp = live_corp
    actor = actor_of(corp)
    code = flows.create_code(
        corp.admin,
        CodeCreate.model_validate(
            {"name": "Shelf", "state": "shelf-9", "owner_kind": "store", "staff_userids": [GUIDE1]}
        ),
    )
    kept, deleted, edited = corp.seed(GUIDE2, 3)
    sync.run_full_sync(actor, corp.account_id)
    assert corp.active() == corp.wecom_pairs()

    # a callback that arrives is applied at once (incremental sync)
    first = corp.do(f"contact_ways/{code.config_id}/scan", {"name": "Ann"})
    assert deliveries(corp)[-1]["state"] == "delivered"
    assert relation(corp, GUIDE1, first["external_userid"]) is not None

    # now four callbacks are lost: an add, a delete, an edit, a new group
    corp.do("callbacks/drop", {"count": 4})
    added = corp.do(f"contact_ways/{code.config_id}/scan", {"name": "Bea"})
    corp.do("follows/delete", {"userid": GUIDE2, "external_userid": deleted, "by": "customer"})
    corp.do("follows/edit", {"userid": GUIDE2, "external_userid": edited, "remark": "VIP"})
    chat = corp.do("groups", {"owner": GUIDE2, "name": "新群", "members": [kept]})["chat_id"]
    lost = [d for d in deliveries(corp) if d["state"] == "dropped"]
    assert [d["change_type"] for d in lost] == [
        "add_external_contact",
        "del_follow_user",
        "edit_external_contact",
        "create",
    ]
    assert relation(corp, GUIDE1, added["external_userid"]) is None
    wrong = relation(corp, GUIDE2, deleted)
    assert wrong is not None
    assert wrong.status == RelationStatus.ACTIVE
    assert corp.active() != corp.wecom_pairs()

    report = reconcile.reconcile_account(actor, corp.account_id)

    assert corp.active() == corp.wecom_pairs()
    assert report.counts["relations_started"] == 1
    assert report.counts["relations_ended"] == 1
    assert report.counts["relations_updated"] == 1
    assert report.counts["groups_created"] == 1
    assert {(r["kind"], r.get("external_userid") or r.get("chat_id")) for r in report.repairs} >= {
        ("relation_started", added["external_userid"]),
        ("relation_ended", deleted),
        ("relation_updated", edited),
        ("group_created", chat),
    }
    repaired = relation(corp, GUIDE1, added["external_userid"])
    assert repaired is not None
    assert repaired.channel_code_id == code.id
    assert repaired.staff_id == corp.world.staff["guide1"]
    ended = relation(corp, GUIDE2, deleted)
    assert ended is not None
    assert ended.status == RelationStatus.GONE
    fixed = relation(corp, GUIDE2, edited)
    assert fixed is not None
    assert fixed.remark == "VIP"
    with unit_of_work(corp.admin) as db:
        group = db.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == chat))
        assert group is not None
        assert group.status == GroupStatus.ACTIVE
        account = channels.get_account(db, corp.admin, corp.account_id)
        state = account.sync_state["reconcile"]
        assert state["status"] == RunStatus.DONE
        assert len(state["repairs"]) == len(report.repairs)
        assert account.last_reconciled_at is not None
    assert [e.data["external_userid"] for e in events(corp, "wecom.contact_gone")] == [deleted]
    assert [e.data["external_userid"] for e in events(corp, "wecom.contact_edited")][-1] == edited
    (summary,) = events(corp, "wecom.reconciled")
    assert summary.data["counts"]["relations_ended"] == 1

    # nothing left to repair
    again = reconcile.reconcile_account(actor, corp.account_id)
    assert again.repaired == 0
    assert again.repairs == []
    assert len(events(corp, "wecom.reconciled")) == 1


def test_a_dropped_group_dismissal_and_member_leave_are_repaired(live_corp: Corp) -> None:
    corp = live_corp
    actor = actor_of(corp)
    a, b = corp.seed(GUIDE1, 2)
    chat = corp.do("groups", {"owner": GUIDE1, "name": "A", "members": [a, b]})["chat_id"]
    other = corp.do("groups", {"owner": GUIDE1, "name": "B", "members": [a]})["chat_id"]
    sync.run_full_sync(actor, corp.account_id)

    corp.do("callbacks/drop", {"count": 2})
    corp.do(f"groups/{chat}/leave", {"userids": [b]})
    corp.do(f"groups/{other}/dismiss")

    report = reconcile.reconcile_account(actor, corp.account_id)
    assert report.counts["groups_updated"] == 1
    assert report.counts["groups_dismissed"] == 1
    with unit_of_work(corp.admin) as db:
        groups = {g.chat_id: g for g in db.scalars(select(CustomerGroup))}
        assert groups[chat].member_count == 2
        assert groups[other].status == GroupStatus.DISMISSED
    left = events(corp, "wecom.group_left")
    assert {e.data["chat_id"] for e in left} == {chat, other}
