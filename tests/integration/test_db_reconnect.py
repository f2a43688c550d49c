"""Pooled PostgreSQL connections the server ended: the next request still succeeds.

The engine does not ping every connection it hands out (``pool_pre_ping`` costs a round trip per
checkout); it checks whether the server closed the socket, which costs none. These tests end
pooled connections the way a restart or an administrator would (``pg_terminate_backend``), on a
database of their own whose commits are real.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from siyu.core import db as core_db
from siyu.core.actor import Role
from siyu.core.db import Database, make_engine, set_database, system_unit_of_work, unit_of_work
from siyu.core.registry import load_models
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from tests.conftest import POSTGRES_URL, require_postgres, worker_id
from tests.factories import PASSWORD

pytestmark = pytest.mark.postgresql


def _schema() -> str:
    return f"siyu_test_{worker_id()}_reconnect"


@pytest.fixture(scope="module")
def own_database() -> Iterator[Database]:
    """A PostgreSQL schema for this module; its connections carry a name we can find them by."""
    require_postgres()
    schema = _schema()
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(
        POSTGRES_URL,
        connect_args={"options": f"-csearch_path={schema}", "application_name": schema},
    )
    load_models().create_all(engine)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_db, "_database", core_db._database)  # restored afterwards
        database = Database(engine)
        set_database(database)
        yield database
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _terminate_pool(engine: Engine) -> int:
    """End every server connection of ``engine`` and wait until they are gone."""
    application = _schema()  # the application_name its connections carry
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            pids = list(
                conn.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": application},
                ).scalars()
            )
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                left = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                    {"pids": pids},
                ).scalar_one()
                if not left:
                    break
                time.sleep(0.05)
            conn.rollback()
    finally:
        admin.dispose()
    return len(pids)


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_the_server_ended_is_replaced_at_checkout(own_database: Database) -> None:
    engine = own_database.engine
    first = _backend_pid(engine)  # now idle in the pool
    assert _terminate_pool(engine) >= 1
    second = _backend_pid(engine)  # the same checkout, on a fresh connection
    assert second != first
    assert _backend_pid(engine) == second  # and that one is kept


def test_a_connection_that_dies_in_use_fails_one_unit_of_work_only(
    own_database: Database,
) -> None:
    """No checkout check can see a connection die mid-use: that use fails, the next one works."""
    engine = own_database.engine
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        _terminate_pool(engine)
        with pytest.raises(DBAPIError) as failed:
            conn.execute(text("SELECT 1"))
        assert failed.value.connection_invalidated
    assert _backend_pid(engine) > 0


def test_api_requests_succeed_after_the_server_ended_their_connections(
    own_database: Database, api_app: FastAPI
) -> None:
    slug = f"r{uuid.uuid4().hex[:10]}"
    with system_unit_of_work(reason="test brand") as db:
        tenant = tenancy.create_tenant(db, name=slug, slug=slug)
        user = security.create_user(db, username=f"{slug}-admin", password=PASSWORD)
        tenancy.add_staff_at_hq(
            db, tenant_id=tenant.id, user_id=user.id, name="Admin", role=Role.ADMIN
        )
        actor = security.build_actor(db, user, tenant.id)
    with unit_of_work(actor) as db:
        token = security.create_api_token(db, actor, name="reconnect").secret
    headers = {"Authorization": f"Bearer {token}"}
    event = {
        "type": "page.viewed",
        "occurred_at": "2026-11-01T10:00:00+08:00",
        "keys": [{"kind": "unionid", "value": f"oRe-{slug}"}],
    }
    with TestClient(api_app) as client:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        for round_ in range(3):
            assert _terminate_pool(own_database.engine) >= 1
            assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}
            _terminate_pool(own_database.engine)
            me = client.get("/api/v1/me", headers=headers)
            assert me.status_code == 200, me.text
            _terminate_pool(own_database.engine)
            batch = {"events": [{**event, "idempotency_key": f"k{round_}"}]}
            stored = client.post("/api/v1/events", headers=headers, json=batch)
            assert stored.status_code == 200, stored.text
            assert stored.json()["accepted"] == 1
