"""core.bulk: insert-or-ignore of rows that all name the same columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select, text

from siyu.core import bulk
from siyu.core.db import CrossTenantWrite, Database, unit_of_work
from siyu.core.ids import new_id
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from siyu.events.models import Event
from siyu.identity.models import Identity
from tests.factories import bare_tenant

SHANGHAI = timezone(timedelta(hours=8))


def _event(tenant_id, key: str, **extra):
    return {
        "tenant_id": tenant_id,
        "id": new_id(),
        "type": "page.viewed",
        "occurred_at": datetime(2026, 11, 1, 10, 0, tzinfo=SHANGHAI),
        "recorded_at": datetime(2026, 11, 1, 2, 5, tzinfo=UTC),
        "customer_id": None,
        "source": "api",
        "idempotency_key": key,
        "data": {"page": "/商品/1", "tags": ["新客", 2], "nested": {"ok": True}},
        **extra,
    }


def test_insert_ignore_columns_stores_typed_values_and_skips_duplicates(
    database: Database,
) -> None:
    actor = bare_tenant()
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    with unit_of_work(actor) as db:
        customer = customers.create_customer(db, actor, data=CustomerCreate(name="周"))
        event.listen(database.engine, "before_cursor_execute", record)
        rows = [
            _event(actor.tenant_id, "k1", customer_id=customer.id),
            _event(actor.tenant_id, "k2"),
        ]
        assert (
            bulk.insert_ignore_columns(db, Event, rows, conflict=["tenant_id", "idempotency_key"])
            == 2
        )
        again = [_event(actor.tenant_id, "k2"), _event(actor.tenant_id, "k3")]
        assert (
            bulk.insert_ignore_columns(db, Event, again, conflict=["tenant_id", "idempotency_key"])
            == 1
        )
        event.remove(database.engine, "before_cursor_execute", record)
        stored = {e.idempotency_key: e for e in db.scalars(select(Event))}
    if database.engine.dialect.name == "postgresql":  # one short statement per call, not VALUES
        assert [s for s in statements if "INSERT" in s] == [statements[0]] * 2
        assert "json_to_recordset" in statements[0]
    assert set(stored) == {"k1", "k2", "k3"}
    k1 = stored["k1"]
    assert k1.id == rows[0]["id"]
    assert k1.customer_id == customer.id
    assert k1.occurred_at == datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    assert k1.recorded_at == datetime(2026, 11, 1, 2, 5, tzinfo=UTC)
    assert k1.data == {"page": "/商品/1", "tags": ["新客", 2], "nested": {"ok": True}}
    assert stored["k2"].customer_id is None
    assert stored["k2"].id == rows[1]["id"]  # the first one stays


def test_insert_ignore_columns_applies_column_types(database: Database) -> None:
    """Encrypted values encrypt on the way in, as through the ORM."""
    actor = bare_tenant()
    now = datetime.now(UTC)
    with unit_of_work(actor) as db:
        customer = customers.create_customer(db, actor, data=CustomerCreate(name="林"))
        row = {
            "tenant_id": actor.tenant_id,
            "id": new_id(),
            "customer_id": customer.id,
            "kind": "unionid",
            "namespace": "",
            "key_hash": "h" * 32,
            "value": "oUnion-秘密",
            "source": "test",
            "last_seen_at": now,
            "created_at": now,
        }
        conflict = ["tenant_id", "key_hash"]
        assert bulk.insert_ignore_columns(db, Identity, [row], conflict=conflict) == 1
        assert bulk.insert_ignore_columns(db, Identity, [row], conflict=conflict) == 0
        raw = db.execute(text("SELECT value FROM identity")).scalar_one()
        found = db.scalars(select(Identity)).one()
    assert found.value == "oUnion-秘密"
    assert found.last_seen_at == now
    assert "秘密" not in str(raw)  # ciphertext in the column


def test_insert_ignore_columns_falls_back_for_uneven_rows_and_guards_the_tenant(
    database: Database,
) -> None:
    actor = bare_tenant()
    other = bare_tenant()
    conflict = ["tenant_id", "idempotency_key"]
    with unit_of_work(actor) as db:
        uneven = [_event(actor.tenant_id, "u1"), _event(actor.tenant_id, "u2")]
        del uneven[1]["data"]  # the model's default fills it
        assert bulk.insert_ignore_columns(db, Event, uneven, conflict=conflict) == 2
        assert db.scalars(select(Event.data).where(Event.idempotency_key == "u2")).one() == {}
        with pytest.raises(CrossTenantWrite):
            bulk.insert_ignore_columns(db, Event, [_event(other.tenant_id, "x")], conflict=conflict)
