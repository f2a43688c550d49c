"""The runtime tenant guard: no tenant-less ORM queries, no cross-tenant reads or writes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from siyu.core.db import CrossTenantWrite, Database, system_unit_of_work, unit_of_work
from siyu.core.errors import TenantContextMissing
from siyu.customers.models import Customer
from tests.factories import make_world


def test_query_without_tenant_is_refused(database: Database) -> None:
    session = database.session_factory()
    with session, pytest.raises(TenantContextMissing):
        session.scalars(select(Customer)).all()


def test_tenant_session_sees_only_its_rows(database: Database) -> None:
    a = make_world("guard-a", phone_seed=3)
    b = make_world("guard-b", phone_seed=4)
    with unit_of_work(a.admin) as db:
        ids = set(db.scalars(select(Customer.id).where(Customer.merged_into_id.is_(None))))
        assert ids == set(a.customers.values())
        assert db.get(Customer, (b.tenant_id, b.customers["c1"])) is None
    with system_unit_of_work(reason="test: count all tenants") as db:
        assert len(db.scalars(select(Customer.id)).all()) == 8  # 3 + a merged duplicate each


def test_cross_tenant_write_is_refused(database: Database) -> None:
    a = make_world("guard-c", phone_seed=5)
    b = make_world("guard-d", phone_seed=6)
    with pytest.raises(CrossTenantWrite), unit_of_work(a.admin) as db:
        db.add(Customer(tenant_id=b.tenant_id, name="intruder"))
    with system_unit_of_work(reason="test: verify nothing written") as db:
        names = db.scalars(select(Customer.name).where(Customer.name == "intruder")).all()
        assert names == []
