"""Event batches that meet concurrent transactions, on a database where commits are real.

The usual fixtures run every test inside one rolled-back transaction, which cannot show two
transactions colliding; this module builds a database of its own per backend instead.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from siyu.config import Settings
from siyu.core import bulk
from siyu.core import db as core_db
from siyu.core.actor import Actor, Role
from siyu.core.db import Database, make_engine, set_database, system_unit_of_work, unit_of_work
from siyu.core.registry import load_models
from siyu.events import ingest
from siyu.events.models import Event
from siyu.identity import service as identity
from siyu.identity.keys import KeyKind, make_key
from siyu.identity.models import Identity
from siyu.security import service as security
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import Tenant
from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    _pg_engine_for_schema,
    require_postgres,
    worker_id,
)
from tests.factories import PASSWORD


@pytest.fixture(
    scope="module", params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS]
)
def own_database(
    request: pytest.FixtureRequest,
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Database]:
    """A fresh database (SQLite file or PostgreSQL schema) for this module alone."""
    backend = request.param
    schema = f"siyu_test_{worker_id()}_concurrency"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_db, "_database", core_db._database)  # restored afterwards
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("concurrency") / "events.db"
            engine = make_engine(f"sqlite:///{path}")
        else:
            require_postgres()
            engine = _pg_engine_for_schema(schema)
        load_models().create_all(engine)
        database = Database(engine)
        set_database(database)
        yield database
        engine.dispose()
    if backend == "postgresql":
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Brand:
    database: Database
    actor: Actor
    token: str

    @property
    def backend(self) -> str:
        return self.database.engine.dialect.name

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def brand(own_database: Database) -> Brand:
    """A tenant with an admin and an API token, committed."""
    set_database(own_database)
    slug = f"c{uuid.uuid4().hex[:10]}"
    with system_unit_of_work(reason="test brand") as db:
        tenant = tenancy.create_tenant(db, name=slug, slug=slug)
        user = security.create_user(db, username=f"{slug}-admin", password=PASSWORD)
        tenancy.add_staff_at_hq(
            db, tenant_id=tenant.id, user_id=user.id, name="Admin", role=Role.ADMIN
        )
        actor = security.build_actor(db, user, tenant.id)
    with unit_of_work(actor) as db:
        token = security.create_api_token(db, actor, name="concurrency").secret
    return Brand(own_database, actor, token)


def _event(key: str, unionid: str) -> dict[str, object]:
    return {
        "type": "page.viewed",
        "idempotency_key": key,
        "occurred_at": "2026-11-01T10:00:00+08:00",
        "keys": [{"kind": "unionid", "value": unionid}],
    }


def _sqlite_path(database: Database) -> str:
    path = make_url(str(database.engine.url)).database
    assert path
    return path


def test_a_batch_colliding_with_a_concurrent_new_person_is_run_again(
    brand: Brand, api_app: FastAPI
) -> None:
    """Another transaction creates the same new person first: the batch waits, retries, joins."""
    if brand.backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: batches cannot collide")
    unionid = f"oRace-{uuid.uuid4().hex[:8]}"
    key = make_key(KeyKind.UNIONID, unionid)
    holder = unit_of_work(brand.actor)
    db = holder.__enter__()
    first = identity.resolve(db, brand.actor, keys=[key], source="crm").customer_id
    responses = []

    def post() -> None:
        with TestClient(api_app) as client:
            body = {"events": [_event("race-1", unionid), _event("race-2", unionid)]}
            responses.append(client.post("/api/v1/events", headers=brand.headers, json=body))

    poster = threading.Thread(target=post)
    poster.start()
    try:
        _wait_for_lock_wait(brand.database, "identity")
    finally:
        holder.__exit__(None, None, None)  # commit: the waiting batch now collides
    poster.join(timeout=60)
    assert len(responses) == 1
    assert responses[0].status_code == 200, responses[0].text
    assert responses[0].json()["accepted"] == 2
    with unit_of_work(brand.actor) as db:
        owners = db.scalars(select(Identity.customer_id).where(Identity.kind == "unionid"))
        assert list(owners) == [first]
        stored = db.scalars(select(Event.customer_id).where(Event.idempotency_key.like("race-%")))
        assert list(stored) == [first, first]


def _wait_for_lock_wait(database: Database, table: str) -> None:
    """Return once another backend waits on a lock while writing ``table``."""
    deadline = time.monotonic() + 30
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND pid <> pg_backend_pid() AND query ILIKE :pattern"
    )
    while time.monotonic() < deadline:
        with database.engine.connect() as conn:
            if conn.execute(query, {"pattern": f"%{table}%"}).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError(f"no transaction started waiting to write {table}")


def test_sqlite_transactions_take_the_write_lock_before_reading(brand: Brand) -> None:
    """A unit of work holds SQLite's write lock from its first statement, reads included.

    So a unit of work that reads and then writes never fails on the lock upgrade when another
    connection committed in between; others wait for it instead (``BEGIN IMMEDIATE``).
    """
    if brand.backend != "sqlite":
        pytest.skip("PostgreSQL locks rows; SQLite only")
    other = sqlite3.connect(_sqlite_path(brand.database), timeout=0.05, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")  # free while no unit of work is open
        with unit_of_work(brand.actor) as db:
            db.scalar(select(func.count()).select_from(Event))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        with unit_of_work(brand.actor) as db:
            bulk.lock_for_writing(db, Event)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


def test_sqlite_writers_of_one_process_queue_until_the_transaction_ends(brand: Brand) -> None:
    """A second writer waits on the process's own lock (no busy polling), and gets in after."""
    if brand.backend != "sqlite":
        pytest.skip("SQLite only")
    order: list[str] = []
    second_in = threading.Event()

    def second() -> None:
        with unit_of_work(brand.actor) as db:
            bulk.lock_for_writing(db, Event)
            order.append("second")
            second_in.set()

    with unit_of_work(brand.actor) as db:
        bulk.lock_for_writing(db, Event)
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not second_in.wait(0.3)  # still queued behind this transaction
        order.append("first")
    assert second_in.wait(10)  # let in once the first transaction ended
    waiter.join()
    assert order == ["first", "second"]

    def abandon() -> None:
        with unit_of_work(brand.actor) as db:
            bulk.lock_for_writing(db, Event)
            raise RuntimeError("abandon the transaction")

    with pytest.raises(RuntimeError, match="abandon"):
        abandon()
    second_in.clear()
    waiter = threading.Thread(target=second)
    waiter.start()
    assert second_in.wait(10)  # the lock was released on rollback too
    waiter.join()


def test_a_busy_sqlite_database_is_a_concurrent_conflict(brand: Brand) -> None:
    if brand.backend != "sqlite":
        pytest.skip("SQLite only")
    path = _sqlite_path(brand.database)
    holder = sqlite3.connect(path, isolation_level=None)
    impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(DBAPIError) as busy, impatient.begin() as conn:
            conn.execute(update(Tenant).where(Tenant.id == brand.actor.tenant_id).values(name="x"))
        assert ingest.is_concurrent_conflict(busy.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        impatient.dispose()


def test_a_unique_violation_is_a_conflict_other_errors_are_not(brand: Brand) -> None:
    key = make_key(KeyKind.UNIONID, f"oDup-{uuid.uuid4().hex[:8]}")
    with unit_of_work(brand.actor) as db:
        identity.resolve(db, brand.actor, keys=[key], source="crm")
    with pytest.raises(DBAPIError) as duplicate, unit_of_work(brand.actor) as db:
        db.execute(
            insert(Identity),
            {
                "tenant_id": brand.actor.tenant_id,
                "id": uuid.uuid4(),
                "customer_id": identity.customers_with_keys(db, brand.actor, [key])[key],
                "kind": key.kind.value,
                "namespace": "",
                "key_hash": key.hash(brand.actor.tenant_id),
                "value": key.value,
                "source": "crm",
                "last_seen_at": datetime.now(UTC),
                "created_at": datetime.now(UTC),
            },
        )
    with pytest.raises(DBAPIError) as missing, unit_of_work(brand.actor) as db:
        db.execute(text("INSERT INTO tenant (id) VALUES (:id)"), {"id": uuid.uuid4().hex})
    if brand.backend == "postgresql":
        assert ingest.is_concurrent_conflict(duplicate.value)  # someone else created it first
    else:
        assert not ingest.is_concurrent_conflict(duplicate.value)  # one writer: a real bug
    assert not ingest.is_concurrent_conflict(missing.value)  # NOT NULL: a bug, not a race
