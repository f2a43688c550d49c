"""Test set-up: every DB test runs on SQLite and on PostgreSQL, inside a rolled-back transaction.

``SIYU_TEST_DATABASES`` picks the backends (default ``sqlite,postgresql``);
``SIYU_TEST_POSTGRES_URL`` points at the server (default 127.0.0.1:5432, database ``test``).
Under ``CI=true`` an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, text

from siyu.config import Environment, JobsSettings, Settings
from siyu.core import migrate
from siyu.core.db import Database, make_engine, set_database
from siyu.core.registry import load_models
from siyu.jobs import queue as jobs
from siyu.security import pii

POSTGRES_URL = os.environ.get(
    "SIYU_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = [
    b.strip() for b in os.environ.get("SIYU_TEST_DATABASES", "sqlite,postgresql").split(",") if b
]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, max_examples=50)
hypothesis_settings.register_profile("dev", deadline=None, max_examples=50)
hypothesis_settings.load_profile("ci" if IN_CI else "dev")

load_models()


@pytest.fixture(scope="session")
def test_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(
        env=Environment.TEST,
        home=tmp_path_factory.mktemp("siyu-home"),
        jobs=JobsSettings(immediate=True),
    )
    pii.configure(settings.pii)
    jobs.configure(settings)
    return settings


def worker_id() -> str:
    """This test process's name: its xdist worker and pid, so concurrent runs never share."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def postgres_available(url: str = POSTGRES_URL) -> str | None:
    """Return None when PostgreSQL answers, else the reason it does not."""
    try:
        engine = make_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    reason = postgres_available()
    if reason is None:
        return
    message = f"PostgreSQL at {POSTGRES_URL} is unreachable ({reason})"
    if IN_CI:
        pytest.fail(message + "; CI requires it", pytrace=False)
    pytest.skip(message)


def _pg_engine_for_schema(schema: str) -> Engine:
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})


@pytest.fixture(scope="session")
def engines(
    test_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Engine]]:
    """One migrated database per backend (per xdist worker), created lazily."""
    made: dict[str, Engine] = {}
    yield made
    for name, engine in made.items():
        engine.dispose()
        if name == "postgresql":
            admin = make_engine(POSTGRES_URL)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "siyu_test_{worker_id()}" CASCADE'))
            admin.dispose()


def engine_for(backend: str, engines: dict[str, Engine], base: Path) -> Engine:
    if backend not in engines:
        if backend == "sqlite":
            url = f"sqlite:///{base / f'test-{worker_id()}.db'}"
            engine = make_engine(url)
        else:
            require_postgres()
            engine = _pg_engine_for_schema(f"siyu_test_{worker_id()}")
            url = POSTGRES_URL
        with engine.begin() as conn:
            migrate.upgrade(url, "head", conn)
        engines[backend] = engine
    return engines[backend]


@pytest.fixture(
    params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS],
)
def database(
    request: pytest.FixtureRequest,
    engines: dict[str, Engine],
    test_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Database]:
    """A database whose every session joins one outer transaction, rolled back after the test."""
    backend = request.param
    if backend == "postgresql":
        require_postgres()
    engine = engine_for(backend, engines, tmp_path_factory.getbasetemp())
    connection = engine.connect()
    outer = connection.begin()
    db = Database(engine)
    db.bind_to(connection)
    set_database(db)
    try:
        yield db
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def api_app(test_settings: Settings) -> FastAPI:
    from siyu.app import create_app

    return create_app(test_settings, console=False, init_db=False)


@pytest.fixture
def client(api_app: FastAPI, database: Database) -> Iterator[TestClient]:
    with TestClient(api_app) as c:
        yield c
