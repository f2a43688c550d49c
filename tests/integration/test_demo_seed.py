"""The demo seeder on a fresh SQLite database of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from siyu.config import Settings
from siyu.core import db as core_db
from siyu.core.db import Database, make_engine, set_database, system_unit_of_work
from siyu.core.errors import Conflict
from siyu.core.registry import load_models
from siyu.demo.seed import DEMO_PASSWORD, DemoSummary, demo_exists, seed_demo
from siyu.security import pii
from siyu.security import service as security

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def _fresh_database(path: Path) -> Database:
    settings = Settings(home=path.parent, database_url=f"sqlite:///{path}")
    pii.configure(settings.pii)
    engine = make_engine(f"sqlite:///{path}")
    load_models().create_all(engine)
    return Database(engine)


@pytest.fixture(scope="module")
def seeded_database(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Database, DemoSummary]]:
    """One database seeded once for the read-only checks of this module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core_db, "_database", core_db._database)  # restored afterwards
        database = _fresh_database(tmp_path_factory.mktemp("demo") / "demo.db")
        set_database(database)
        yield database, seed_demo(database, customers=300, now=NOW)
        database.engine.dispose()


@pytest.fixture
def demo_db(seeded_database: tuple[Database, DemoSummary]) -> Database:
    set_database(seeded_database[0])
    return seeded_database[0]


@pytest.fixture
def seeded(seeded_database: tuple[Database, DemoSummary]) -> DemoSummary:
    set_database(seeded_database[0])
    return seeded_database[1]


@pytest.fixture
def empty_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setattr(core_db, "_database", core_db._database)
    database = _fresh_database(tmp_path / "empty.db")
    set_database(database)
    yield database
    database.engine.dispose()


def _scalar(database: Database, sql: str, **params: object) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_counts(demo_db: Database, seeded: DemoSummary) -> None:
    tenant = seeded.tenant_id.hex
    count = "SELECT count(*) FROM {} WHERE replace(tenant_id, '-', '') = :t"
    assert seeded.customer_count == 300
    assert _scalar(demo_db, count.format("customer"), t=tenant) == 300
    assert _scalar(demo_db, count.format("org_unit") + " AND kind = 'store'", t=tenant) == 6
    assert _scalar(demo_db, count.format("org_unit") + " AND kind = 'region'", t=tenant) == 2
    assert seeded.org_unit_count == _scalar(demo_db, count.format("org_unit"), t=tenant) == 9
    assert seeded.staff_count == _scalar(demo_db, count.format("staff"), t=tenant) == 30
    guides = _scalar(demo_db, count.format("staff") + " AND role = 'guide'", t=tenant)
    assert guides == 18
    assert seeded.order_count == _scalar(demo_db, count.format("customer_order"), t=tenant)
    assert seeded.order_count > 300
    second = seeded.second_tenant_id.hex
    assert _scalar(demo_db, count.format("customer"), t=second) == 300
    assert _scalar(demo_db, count.format("customer_order"), t=second) > 0


def test_pii_is_encrypted_at_rest(demo_db: Database, seeded: DemoSummary) -> None:
    with demo_db.engine.connect() as conn:
        phones = conn.execute(text("SELECT phone FROM customer")).scalars().all()
        emails = conn.execute(text("SELECT email FROM customer WHERE email IS NOT NULL")).all()
    assert len(phones) == 600
    assert all(phone.startswith("v1:") for phone in phones)
    assert emails
    assert all(email.startswith("v1:") for (email,) in emails)


def test_orders_are_consistent(demo_db: Database, seeded: DemoSummary) -> None:
    assert seeded.refunded_order_count > 0
    assert seeded.partially_refunded_order_count > 0
    mismatched = """
        SELECT count(*) FROM customer_order o
        WHERE o.paid_fen != (SELECT sum(l.amount_fen) FROM order_line l
                             WHERE l.tenant_id = o.tenant_id AND l.order_id = o.id)
    """
    assert _scalar(demo_db, mismatched) == 0
    bad_partial = """
        SELECT count(*) FROM customer_order WHERE status = 'partially_refunded'
        AND NOT (refunded_fen > 0 AND refunded_fen < paid_fen)
    """
    assert _scalar(demo_db, bad_partial) == 0
    out_of_order = """
        SELECT count(*) FROM customer_order o JOIN customer c
          ON c.tenant_id = o.tenant_id AND c.id = o.customer_id
        WHERE o.paid_at <= c.created_at OR o.paid_at >= :now
           OR (o.refunded_at IS NOT NULL AND (o.refunded_at <= o.paid_at OR o.refunded_at >= :now))
    """
    assert _scalar(demo_db, out_of_order, now=NOW.replace(tzinfo=None)) == 0
    pos_without_store = """
        SELECT count(*) FROM customer_order
        WHERE source = 'pos' AND (org_unit_id IS NULL OR staff_id IS NULL)
    """
    assert _scalar(demo_db, pos_without_store) == 0


def test_demo_logins_work(seeded: DemoSummary) -> None:
    with system_unit_of_work(reason="test: demo logins") as db:
        admin = security.login(db, username="admin", password=DEMO_PASSWORD)
        assert admin.actor.tenant_id == seeded.tenant_id
        assert admin.actor.role == "admin"
        guide = security.login(db, username=seeded.guide_username, password=DEMO_PASSWORD)
        assert guide.actor.role == "guide"
        manager = security.login(db, username=seeded.manager_username, password=DEMO_PASSWORD)
        assert manager.actor.role == "store_manager"
        assert manager.actor.scope_path is not None
        agency = security.find_user(db, seeded.agency_username)
        assert agency is not None
        tenants = {t.tenant_id for t in security.accessible_tenants(db, agency)}
        assert tenants == {seeded.tenant_id, seeded.second_tenant_id}


def test_seeding_twice_is_a_conflict(demo_db: Database, seeded: DemoSummary) -> None:
    assert demo_exists(demo_db)
    with pytest.raises(Conflict, match="already seeded"):
        seed_demo(demo_db, customers=10, now=NOW)


def test_taken_names_are_a_conflict_and_nothing_is_written(empty_db: Database) -> None:
    assert not demo_exists(empty_db)
    with system_unit_of_work(reason="test: take a demo username") as db:
        security.create_user(db, username="agency", password="something-else")
    with pytest.raises(Conflict, match="user 'agency'"):
        seed_demo(empty_db, customers=10, now=NOW)
    assert not demo_exists(empty_db)
    assert _scalar(empty_db, "SELECT count(*) FROM tenant") == 0


def test_a_failure_rolls_everything_back(empty_db: Database) -> None:
    def fail_on_orders(stage: str, done: int, total: int) -> None:
        if stage == "orders" and done > 0:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        seed_demo(empty_db, customers=20, now=NOW, progress=fail_on_orders)
    for table in ("tenant", "app_user", "agency", "customer", "customer_order"):
        assert _scalar(empty_db, f"SELECT count(*) FROM {table}") == 0  # noqa: S608 - fixed names


def test_output_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_db, "_database", core_db._database)
    rows = []
    for name in ("a.db", "b.db"):
        database = _fresh_database(tmp_path / name)
        set_database(database)
        seed_demo(database, customers=50, months=6, now=NOW)
        with system_unit_of_work(reason="test: read back") as db:
            customers = db.execute(
                text("SELECT id, name, member_no, created_at FROM customer ORDER BY id")
            ).all()
            orders = db.execute(
                text(
                    "SELECT id, external_id, paid_fen, refunded_fen FROM customer_order ORDER BY id"
                )
            ).all()
        rows.append((customers, orders))
        database.engine.dispose()
    assert rows[0] == rows[1]
