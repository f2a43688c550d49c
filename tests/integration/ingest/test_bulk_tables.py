"""The import's bulk tables: no foreign keys, merges still move their rows, derived order events."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from sqlalchemy import Table, func, select

from siyu.core.db import Database, unit_of_work
from siyu.customers.merge import customer_references
from siyu.events import service as events
from siyu.events.models import Event
from siyu.identity import service as identity
from siyu.identity.models import Evidence, Identity, MergeMethod
from siyu.ingest.orders import import_orders
from siyu.orders.models import Order, OrderLine
from tests.factories import bare_tenant

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "orders"
BULK_TABLES = (Order, OrderLine, Event, Identity, Evidence)


def test_bulk_tables_keep_no_foreign_keys_and_declare_their_customer_column() -> None:
    for model in BULK_TABLES:
        table = cast("Table", model.__table__)
        referred = {fk.referred_table.name for fk in table.foreign_key_constraints}
        assert not referred & {"tenant", "customer", "customer_order"}, model.__tablename__
    # an order's store and staff stay checked: few orders name them, and a null key is not looked up
    assert {
        fk.referred_table.name for fk in cast("Table", Order.__table__).foreign_key_constraints
    } == {
        "org_unit",
        "staff",
    }
    declared = {(table.name, column) for table, column in customer_references()}
    assert {
        ("customer_order", "customer_id"),
        ("event", "customer_id"),
        ("identity", "customer_id"),
        ("identity_evidence", "customer_id"),
    } <= declared
    assert ("order_line", "order_id") not in declared


def test_import_stores_no_order_events_and_the_timeline_derives_them(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        summary = import_orders(db, actor, FIXTURES / "tmall.csv")
        stored = set(db.scalars(select(Event.type)))
        assert stored == {"customer.created"}
        refunded = db.scalars(select(Order).where(Order.status == "refunded")).first()
        assert refunded is not None
        assert refunded.customer_id is not None
        timeline = events.timeline(db, actor, refunded.customer_id)
        again = events.timeline(db, actor, refunded.customer_id)
    assert summary.inserted == 7
    mine = [e for e in timeline if e.data.get("order_id") == str(refunded.id)]
    assert [e.type for e in mine] == ["order.refunded", "order.paid"]
    assert mine[0].data["refunded_fen"] == refunded.refunded_fen
    assert mine[1].occurred_at == refunded.paid_at
    assert [e.id for e in timeline] == [e.id for e in again]  # stable ids
    assert "customer.created" in {e.type for e in timeline}
    assert [e.occurred_at for e in timeline] == sorted(
        (e.occurred_at for e in timeline), reverse=True
    )
    with unit_of_work(actor) as db:
        newest = events.timeline(db, actor, refunded.customer_id, limit=1)
        older = events.timeline(db, actor, refunded.customer_id, before=mine[1].occurred_at)
    assert [e.id for e in newest] == [timeline[0].id]
    assert all(e.occurred_at < mine[1].occurred_at for e in older)
    assert str(refunded.id) not in {e.data.get("order_id") for e in older}


def test_a_merge_moves_and_an_unmerge_restores_the_bulk_rows(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        import_orders(db, actor, FIXTURES / "tmall.csv")
        owners = list(
            db.execute(
                select(Order.customer_id, func.count())
                .group_by(Order.customer_id)
                .order_by(Order.customer_id)
            )
        )
        survivor, merged = owners[0][0], owners[1][0]
        assert survivor is not None
        assert merged is not None

        def holdings(customer_id: object) -> tuple[int, int, int]:
            return tuple(  # type: ignore[return-value]
                db.scalar(
                    select(func.count()).select_from(model).where(model.customer_id == customer_id)
                )
                or 0
                for model in (Order, Identity, Evidence)
            )

        before = holdings(survivor), holdings(merged)
        assert all(n > 0 for n in before[1])
        record = identity.merge(
            db,
            actor,
            survivor_id=survivor,
            merged_id=merged,
            method=MergeMethod.MANUAL,
            evidence={"reason": "test"},
        )
        assert holdings(merged) == (0, 0, 0)
        assert holdings(survivor) == tuple(a + b for a, b in zip(*before, strict=True))
        paid = [e for e in events.timeline(db, actor, survivor) if e.type == "order.paid"]
        assert len(paid) == before[0][0] + before[1][0]
        identity.unmerge(db, actor, record.id)
        assert (holdings(survivor), holdings(merged)) == before
