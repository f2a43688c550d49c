"""Migrations: empty → head, models agree with migrations, down to empty, up again."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, insert, inspect, text

from siyu.config import Settings
from siyu.core import migrate
from siyu.core.db import make_engine
from siyu.identity.keys import KeyKind, make_key
from siyu.identity.models import Identity
from siyu.security.pii import blind_index
from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    _pg_engine_for_schema,
    require_postgres,
    worker_id,
)


@pytest.fixture(params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Engine, str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrate.db'}"
        return make_engine(url), url
    require_postgres()
    return _pg_engine_for_schema(f"siyu_mig_{worker_id()}"), POSTGRES_URL


def test_upgrade_downgrade_upgrade(empty_db: tuple[Engine, str]) -> None:
    engine, url = empty_db
    with engine.begin() as conn:
        assert migrate.current_revision(conn) is None
        migrate.upgrade(url, "head", conn)
        assert migrate.current_revision(conn) == migrate.head_revision()
        tables = set(inspect(conn).get_table_names())
        assert {"tenant", "org_unit", "staff", "customer", "customer_order", "api_token"} <= tables
        # the models and the migrations describe the same schema
        command.check(migrate.alembic_config(url, conn))
        migrate.downgrade(url, "base", conn)
        assert migrate.current_revision(conn) is None
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url, "head", conn)
        assert migrate.current_revision(conn) == migrate.head_revision()
        conn.execute(text("SELECT count(*) FROM customer")).scalar_one()
    engine.dispose()


def test_0009_shortens_stored_key_hashes_to_what_the_code_computes(
    empty_db: tuple[Engine, str], test_settings: Settings
) -> None:
    """Identities stored before 0009 carry full 64-digit hashes: after it they are found by the
    128-bit hash ``IdentityKey.hash`` gives, and the downgrade refuses to lose them."""
    engine, url = empty_db
    tenant = uuid.uuid4()
    key = make_key(KeyKind.UNIONID, "oU-migrated")
    full = blind_index(tenant, key.purpose, key.value)
    assert len(full) == 64
    with engine.begin() as conn:
        migrate.upgrade(url, "0008", conn)
        now = datetime.now(UTC)
        conn.execute(
            insert(Identity),
            {
                "tenant_id": tenant, "id": uuid.uuid4(), "customer_id": uuid.uuid4(),
                "kind": key.kind.value, "namespace": "", "key_hash": full, "value": key.value,
                "source": "test", "last_seen_at": now, "created_at": now,
            },
        )  # fmt: skip
        migrate.upgrade(url, "head", conn)
        stored = conn.execute(text("SELECT key_hash FROM identity")).scalar_one()
        assert stored == key.hash(tenant) == full[:32]
        with pytest.raises(RuntimeError, match="restore the database from a backup"):
            migrate.downgrade(url, "0008", conn)
        conn.execute(text("DELETE FROM identity"))
        migrate.downgrade(url, "base", conn)
    engine.dispose()


PARTIAL = {
    "ix_customer_tenant_phone_bidx": "phone_bidx",
    "ix_customer_tenant_email_bidx": "email_bidx",
    "ix_customer_tenant_owner": "owner_staff_id",
    "ix_customer_tenant_org_unit": "org_unit_id",
    "ix_customer_tenant_merged_into": "merged_into_id",
}


def _customer_index_sql(conn: Connection) -> dict[str, str]:
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customer'")
        )
    else:
        rows = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customer'"
            )
        )
    return {name: sql or "" for name, sql in rows}


def test_0010_indexes_only_customers_that_have_the_value(empty_db: tuple[Engine, str]) -> None:
    """After 0010 the five look-up indexes skip customers without the value; its downgrade
    indexes them all again."""
    engine, url = empty_db
    with engine.begin() as conn:
        migrate.upgrade(url, "head", conn)
        indexes = _customer_index_sql(conn)
        for name, column in PARTIAL.items():
            assert re.search(rf"WHERE \(?{column} IS NOT NULL\)?$", indexes[name]), indexes[name]
        assert "WHERE" not in indexes["ix_customer_tenant_created"]
        migrate.downgrade(url, "0009", conn)
        indexes = _customer_index_sql(conn)
        assert not [name for name in PARTIAL if "WHERE" in indexes[name]]
        migrate.downgrade(url, "base", conn)
    engine.dispose()
