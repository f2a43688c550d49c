"""The merge-proposal review queue as the console reads it: both customers, scoped and masked."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from siyu.core.actor import Actor, Role
from siyu.core.db import Database, system_unit_of_work, unit_of_work
from siyu.core.errors import Conflict, Forbidden, InvalidInput
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from siyu.identity import proposals
from siyu.identity import service as identity
from siyu.identity.models import Evidence, MergeMethod, MergeProposal, ProposalStatus
from siyu.security import service as security
from tests.factories import PASSWORD, World, make_world

MASKED = re.compile(r"1\d{2}\*{4}\d{4}")
EVIDENCE = {
    "fields": {
        "name": "exact",
        "phone_masked": "exact",
        "city": "exact",
        "address": "jaro_winkler>=0.95",
        "postcode": "null",
        "birth_date": "null",
        "email_local": "null",
    },
    "match_weight": 17.25,
}


def login(username: str) -> Actor:
    with system_unit_of_work(reason="test login") as db:
        return security.login(db, username=username, password=PASSWORD).actor


def propose(
    actor: Actor, left: uuid.UUID, right: uuid.UUID, probability_bp: int, **evidence: Any
) -> uuid.UUID:
    with unit_of_work(actor) as db:
        proposal = MergeProposal(
            id=new_id(),
            left_customer_id=left,
            right_customer_id=right,
            probability_bp=probability_bp,
            evidence=evidence or EVIDENCE,
        )
        db.add(proposal)
        return proposal.id


def seeded_proposal(w: World) -> uuid.UUID:
    """The id of make_world's proposal (c2 of store 1 with c3 of store 2, 93%)."""
    assert w.proposal_id is not None
    return w.proposal_id


def queue(actor: Actor, **filters: Any) -> proposals.ReviewQueue:
    with unit_of_work(actor) as db:
        return proposals.review_queue(db, actor, **filters)


@pytest.fixture
def world(database: Database) -> World:
    """make_world's tenant (its proposal pairs c2 of store 1 with c3 of store 2, at 93%) plus
    a 99.5% proposal between c1 and c2, both of store 1."""
    w = make_world("review")
    propose(w.admin, w.customers["c1"], w.customers["c2"], 9950)
    return w


def test_admin_sees_both_customers_with_orders_and_evidence(world: World) -> None:
    found = queue(world.admin)
    assert found.total == 2
    first, second = found.items
    assert (first.probability_bp, second.probability_bp) == (9950, 9300)  # most probable first
    assert first.id != world.proposal_id
    assert second.id == world.proposal_id
    assert {first.left.customer.id, first.right.customer.id} == {
        world.customers["c1"],
        world.customers["c2"],
    }
    c1 = first.left if first.left.customer.id == world.customers["c1"] else first.right
    assert c1.customer.phone == world.phones["c1"]  # admins read PII
    assert c1.customer.org_unit_name == "Store 1"
    assert (c1.order_count, c1.net_fen) == (1, 10_000)  # 129.00 paid, 29.00 refunded
    c2 = first.right if c1 is first.left else first.left
    assert (c2.order_count, c2.net_fen) == (0, 0)
    assert first.evidence == {
        "name": "exact",
        "phone_masked": "exact",
        "city": "exact",
        "address": "jaro_winkler>=0.95",
    }  # fields neither side had are left out
    assert first.match_weight == pytest.approx(17.25)
    assert first.is_decidable
    assert second.evidence == {"name": "exact"}
    assert second.match_weight is None


def test_scope_and_masking_follow_the_role(world: World) -> None:
    region = login(world.users["region_manager"])
    seen = queue(region)
    assert seen.total == 2
    phones = [p.customer.phone for item in seen.items for p in (item.left, item.right)]
    assert len(phones) == 4
    assert all(p is not None and MASKED.fullmatch(p) for p in phones), phones
    emails = [p.customer.email for item in seen.items for p in (item.left, item.right)]
    assert all(e is not None and "*" in e for e in emails), emails

    store1 = queue(login(world.users["manager1"]))  # c3 lives in store 2
    assert [i.probability_bp for i in store1.items] == [9950]
    assert store1.total == 1
    assert queue(login(world.users["guide1"])).total == 0  # c2 is guide2's customer
    assert queue(login(world.users["guide3"])).items == []


def test_filters_by_minimum_probability_and_status(world: World) -> None:
    assert [i.probability_bp for i in queue(world.admin, min_probability_bp=9500).items] == [9950]
    assert queue(world.admin, min_probability_bp=10_000).total == 0
    limited = queue(world.admin, limit=1)
    assert len(limited.items) == 1
    assert limited.total == 2

    with unit_of_work(world.admin) as db:
        proposals.reject(db, world.admin, seeded_proposal(world))
    assert [i.probability_bp for i in queue(world.admin).items] == [9950]
    rejected = queue(world.admin, status=ProposalStatus.REJECTED).items
    assert [i.id for i in rejected] == [world.proposal_id]
    assert rejected[0].decided_at is not None
    assert rejected[0].decided_by
    assert not rejected[0].is_decidable
    assert queue(world.admin, status=None).total == 2

    for bad in ({"min_probability_bp": -1}, {"min_probability_bp": 10_001}, {"limit": 0}):
        with pytest.raises(InvalidInput):
            queue(world.admin, **bad)


def test_accepted_pairs_show_the_merged_customer_and_can_be_undone(world: World) -> None:
    pending = queue(world.admin).items[0]
    with unit_of_work(world.admin) as db:
        record = proposals.accept(db, world.admin, pending.id)
    assert record.method == MergeMethod.PROPOSAL
    assert pending.id not in [i.id for i in queue(world.admin).items]

    accepted = queue(world.admin, status=ProposalStatus.ACCEPTED).items
    assert [i.id for i in accepted] == [pending.id]
    merged = accepted[0].left if not accepted[0].left.is_active else accepted[0].right
    survivor = accepted[0].right if merged is accepted[0].left else accepted[0].left
    assert merged.customer.id == record.merged_id
    assert merged.merged_into_id == record.survivor_id == survivor.customer.id
    assert (merged.order_count, merged.net_fen) == (None, None)  # its orders moved over
    assert survivor.order_count == 1

    with unit_of_work(world.admin) as db:
        identity.unmerge(db, world.admin, record.id)
    again = queue(world.admin, status=ProposalStatus.ACCEPTED).items[0]
    assert again.left.is_active
    assert again.right.is_active


def test_a_pair_merged_elsewhere_is_listed_but_not_decidable(world: World) -> None:
    with unit_of_work(world.admin) as db:
        other = customers.create_customer(db, world.admin, data=CustomerCreate(name="第三人"))
        identity.merge(
            db,
            world.admin,
            survivor_id=other.id,
            merged_id=world.customers["c3"],
            method=MergeMethod.MANUAL,
            evidence={"rule": "test"},
        )
    stale = next(i for i in queue(world.admin).items if i.id == world.proposal_id)
    assert stale.status == ProposalStatus.PENDING
    assert not stale.is_decidable
    with unit_of_work(world.admin) as db, pytest.raises(Conflict):
        proposals.accept(db, world.admin, seeded_proposal(world))
    with unit_of_work(world.admin) as db:
        proposals.reject(db, world.admin, seeded_proposal(world))  # the way to clear it


def test_read_only_roles_may_list_but_not_decide(world: World) -> None:
    reader = Actor(tenant_id=world.tenant_id, user_id=None, role=Role.READ_ONLY, label="ro")
    assert queue(reader).total == 2
    with unit_of_work(reader) as db, pytest.raises(Forbidden):
        proposals.accept(db, reader, seeded_proposal(world))
    with unit_of_work(reader) as db, pytest.raises(Forbidden):
        proposals.generate_proposals(db, reader)


@contextmanager
def count_queries(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_the_page_costs_the_same_few_queries_for_two_or_twenty_proposals(
    world: World, database: Database
) -> None:
    with count_queries(database) as few:
        assert len(queue(world.admin).items) == 2
    with unit_of_work(world.admin) as db:
        extra = [
            customers.create_customer(db, world.admin, data=CustomerCreate(name=f"客户{n}")).id
            for n in range(18)
        ]
    for left, right in zip(extra[::2], extra[1::2], strict=True):
        propose(world.admin, left, right, 9100)
    with count_queries(database) as many:
        assert len(queue(world.admin).items) == 11
    assert len(many) == len(few) <= 8, many


def test_a_pair_with_identical_evidence_can_be_accepted_and_undone(world: World) -> None:
    block = {"name": "陈静", "phone": "13912345678", "city": "杭州市", "address": "文三路100号"}
    with unit_of_work(world.admin) as db:
        rows = [
            proposals.evidence_row(world.tenant_id, world.customers[c], "tmall", block)
            for c in ("c1", "c2")
        ]
        assert proposals.record_evidence(db, [r for r in rows if r is not None]) == 2
    pending = queue(world.admin).items[0]
    with unit_of_work(world.admin) as db:
        record = proposals.accept(db, world.admin, pending.id)
    assert queue(world.admin, status=ProposalStatus.ACCEPTED).total == 1
    with unit_of_work(world.admin) as db:  # the left-behind duplicate survives the round trip
        identity.unmerge(db, world.admin, record.id)
        owners = db.scalars(select(Evidence.customer_id)).all()
    assert sorted(owners) == sorted(world.customers[c] for c in ("c1", "c2"))
