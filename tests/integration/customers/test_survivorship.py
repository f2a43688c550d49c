"""Golden-record survivorship: keep first, latest, most trusted source — per field, per tenant."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.actor import Role
from siyu.core.db import Database, unit_of_work
from siyu.core.errors import Forbidden
from siyu.customers import survivorship
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerCreate
from siyu.customers.survivorship import FieldRule, Rule, Survivorship, takes
from siyu.identity import bulk
from siyu.identity import service as identity
from siyu.identity.keys import KeyKind, make_key
from siyu.identity.models import MergeMethod
from siyu.security.models import AuditEntry
from tests.factories import auth, bare_tenant, make_world

PHONE = make_key(KeyKind.PHONE, "13911113333")


def test_rules_decide_when_an_incoming_value_replaces_a_stored_one() -> None:
    first, latest = FieldRule(), FieldRule(rule=Rule.LATEST)
    ranked = FieldRule(rule=Rule.SOURCE_PRIORITY, sources=["pos", "tmall"])

    def wins(rule: FieldRule, current: object, cur_src: str | None, new: object, src: str) -> bool:
        return takes(
            rule, current=current, current_source=cur_src, incoming=new, incoming_source=src
        )

    assert wins(first, None, None, "王芳", "tmall")  # a gap is always filled
    assert not wins(first, "王芳", "tmall", "王小芳", "pos")
    assert wins(latest, "杭州市", "tmall", "宁波市", "jd")
    assert not wins(latest, "杭州市", "tmall", "", "jd")  # empty never replaces
    assert wins(ranked, "王芳", "tmall", "王小芳", "pos")
    assert not wins(ranked, "王芳", "pos", "王小芳", "tmall")
    assert wins(ranked, "王芳", "wecom", "王小芳", "tmall")  # unknown sources rank last
    assert not wins(ranked, "王芳", "wecom", "王小芳", "douyin")  # two unknowns: keep
    with pytest.raises(ValueError, match="source_priority needs the ranked sources"):
        FieldRule(rule=Rule.SOURCE_PRIORITY)
    with pytest.raises(ValueError, match="no survivorship for nickname"):
        Survivorship(fields={"nickname": FieldRule()})


def _customer(db, actor, customer_id) -> Customer:
    db.expire_all()
    found: Customer = db.scalars(select(Customer).where(Customer.id == customer_id)).one()
    return found


def test_resolve_and_batch_follow_the_tenants_rules(database: Database) -> None:
    actor = bare_tenant()
    rules = Survivorship(
        fields={
            "city": FieldRule(rule=Rule.LATEST),
            "name": FieldRule(rule=Rule.SOURCE_PRIORITY, sources=["pos", "tmall"]),
        }
    )
    with unit_of_work(actor) as db:
        survivorship.set_rules(db, actor, rules)
        cid = identity.resolve(
            db,
            actor,
            keys=[PHONE],
            source="tmall",
            profile=CustomerCreate(name="王芳", city="杭州市", province="浙江省"),
        ).customer_id
        identity.resolve(
            db,
            actor,
            keys=[PHONE],
            source="jd",
            profile=CustomerCreate(name="王小芳", city="宁波市", province="江苏省"),
        )
        c = _customer(db, actor, cid)
        # name: jd is unranked, tmall ranked → kept; city: latest; province: keep first
        assert (c.name, c.city, c.province) == ("王芳", "宁波市", "浙江省")
        assert c.field_sources == {"name": "tmall", "city": "jd", "province": "tmall"}
        result = bulk.resolve_batch(
            db,
            actor,
            [bulk.Record(keys=[PHONE], profile={"name": "王芳芳", "city": "上海市"})],
            source="pos",
        )
        assert result.customer_ids == [cid]
        c = _customer(db, actor, cid)
        assert (c.name, c.city) == ("王芳芳", "上海市")
        assert (c.field_sources or {})["name"] == "pos"


def test_merge_takes_the_more_trusted_value_and_undo_restores_it(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        survivorship.set_rules(
            db,
            actor,
            Survivorship(
                fields={"name": FieldRule(rule=Rule.SOURCE_PRIORITY, sources=["pos", "tmall"])}
            ),
        )
        older = identity.resolve(
            db, actor, keys=[PHONE], source="tmall", profile=CustomerCreate(name="tb王芳")
        ).customer_id
        newer = identity.resolve(
            db,
            actor,
            keys=[make_key(KeyKind.MEMBER_NO, "M-9")],
            source="pos",
            profile=CustomerCreate(name="王芳"),
        ).customer_id
        record = identity.merge(
            db,
            actor,
            survivor_id=older,
            merged_id=newer,
            method=MergeMethod.MANUAL,
            evidence={"rule": "test"},
        )
        assert _customer(db, actor, older).name == "王芳"
        assert record.snapshot["taken"] == ["name"]
        identity.unmerge(db, actor, record.id)
        restored = _customer(db, actor, older)
        assert restored.name == "tb王芳"
        assert (restored.field_sources or {})["name"] == "tmall"


def test_api_reads_validates_and_audits_rules(client: TestClient) -> None:
    w = make_world("svr")
    admin = auth(w.users["admin"])
    assert client.get("/api/v1/survivorship", headers=admin).json() == {"fields": {}}
    bad = client.put(
        "/api/v1/survivorship",
        headers=admin,
        json={"fields": {"name": {"rule": "source_priority"}}},
    )
    assert bad.status_code == 422
    assert "source_priority needs the ranked sources" in bad.text
    body = {"fields": {"city": {"rule": "latest", "sources": []}}}
    ok = client.put("/api/v1/survivorship", headers=admin, json=body)
    assert ok.status_code == 200, ok.text
    assert client.get("/api/v1/survivorship", headers=admin).json() == body
    guide = client.put("/api/v1/survivorship", headers=auth(w.users["guide1"]), json=body)
    assert guide.status_code == 403
    with unit_of_work(w.admin) as db:
        actions = db.scalars(select(AuditEntry.action)).all()
        assert "customers.survivorship.update" in actions
        with pytest.raises(Forbidden):
            survivorship.set_rules(db, replace(w.admin, role=Role.OPERATOR), Survivorship())
