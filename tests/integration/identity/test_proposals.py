"""Weak evidence → merge proposals → review (accept / reject / auto-accept)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from siyu.core.actor import Actor
from siyu.core.db import Database, unit_of_work
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from siyu.identity import proposals
from tests.factories import auth, bare_tenant, make_world

PEOPLE = [
    # (name, masked phone, province, city, address): two records of 陈静 from two platforms
    ("陈静", "139****5678", "浙江省", "杭州市", "西湖区文三路100号"),
    ("陈静", "139****5678", "浙江省", "杭州市", "西湖区文三路100号1单元"),
    ("王伟", "186****1122", "广东省", "深圳市", "南山区科技园南路2号"),
    ("李娜", "137****9090", "四川省", "成都市", "武侯区天府大道3号"),
    ("张敏", "135****3434", "上海市", "上海市", "浦东新区张江路1号"),
    ("刘洋", "188****7777", "江苏省", "南京市", "鼓楼区中山北路8号"),
]


def seed(actor: Actor) -> list[uuid.UUID]:
    ids = []
    with unit_of_work(actor) as db:
        rows = []
        for name, phone, province, city, address in PEOPLE:
            c = customers.create_customer(db, actor, data=CustomerCreate(name=name))
            ids.append(c.id)
            row = proposals.evidence_row(
                actor.tenant_id,
                c.id,
                "tmall",
                {
                    "name": name,
                    "phone_masked": phone,
                    "province": province,
                    "city": city,
                    "address": address,
                },
            )
            assert row is not None
            rows.append(row)
        assert proposals.record_evidence(db, rows) == len(PEOPLE)
        assert proposals.record_evidence(db, rows) == 0  # identical evidence is stored once
    return ids


def test_evidence_needs_two_facts_and_masks_full_phones(database: Database) -> None:
    tenant = uuid.uuid4()
    assert proposals.evidence_row(tenant, uuid.uuid4(), "pos", {"name": "陈静"}) is None
    row = proposals.evidence_row(
        tenant, uuid.uuid4(), "pos", {"name": "陈静", "phone": "13912345678"}
    )
    assert row is not None
    assert row["phone_masked"] == "139****5678"


def test_proposal_accept_and_reject(database: Database) -> None:
    actor = bare_tenant()
    ids = seed(actor)
    with unit_of_work(actor) as db:
        run = proposals.generate_proposals(db, actor, threshold_bp=5000)
        assert run.proposed >= 1
        queue = proposals.list_proposals(db, actor)
        pair = {queue[0].left_customer_id, queue[0].right_customer_id}
        assert pair == {ids[0], ids[1]}
        assert all({p.left_customer_id, p.right_customer_id} == {ids[0], ids[1]} for p in queue), (
            "unrelated people were proposed"
        )
        record = proposals.accept(db, actor, queue[0].id)
        assert record.method == "proposal"
        assert customers.count_customers(db, actor) == len(PEOPLE) - 1
        again = proposals.generate_proposals(db, actor, threshold_bp=5000)
        assert again.proposed == 0


def test_rejected_pairs_stay_apart_and_auto_accept(database: Database) -> None:
    actor = bare_tenant()
    seed(actor)
    with unit_of_work(actor) as db:
        proposals.generate_proposals(db, actor, threshold_bp=5000)
        first = proposals.list_proposals(db, actor)[0]
        proposals.reject(db, actor, first.id)
        assert proposals.generate_proposals(db, actor, threshold_bp=5000).proposed == 0
    other = bare_tenant()
    seed(other)
    with unit_of_work(other) as db:
        run = proposals.generate_proposals(db, other, threshold_bp=5000, auto_accept_bp=5000)
        assert run.auto_accepted == run.proposed >= 1
        assert customers.count_customers(db, other) == len(PEOPLE) - 1


def test_review_queue_over_the_api(client: TestClient) -> None:
    w = make_world("queue")
    h = auth(w.users["admin"])
    run = client.post("/api/v1/merge-proposals/run", headers=h, json={"threshold_bp": 20000})
    assert run.status_code == 422
    assert client.post("/api/v1/merge-proposals/run", headers=h, json={}).status_code == 200
    assert client.get("/api/v1/merge-proposals", headers=h).json() == [
        p
        for p in client.get("/api/v1/merge-proposals", headers=h).json()
        if p["status"] == "pending"
    ]
    pid = w.proposal_id
    rejected = client.post(f"/api/v1/merge-proposals/{pid}/reject", headers=h)
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert client.post(f"/api/v1/merge-proposals/{pid}/accept", headers=h).status_code == 409
