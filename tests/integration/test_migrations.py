"""Migrations: empty → head, models agree with migrations, down to empty, up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from siyu.core import migrate
from siyu.core.db import make_engine
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
