"""Engine, declarative base, tenant scoping and the unit of work.

Tenant scoping cannot be forgotten:

1. Structure: tenant-owned models inherit ``TenantScoped``; ``tenant_id`` leads the primary key
   and composite foreign keys keep every reference inside one tenant.
2. Runtime: every ORM select/update/delete in a tenant session gets
   ``with_loader_criteria(TenantScoped, tenant_id == :tenant)``; a session with neither a tenant
   nor an explicit system reason refuses to query; ``before_flush`` rejects rows of another tenant.
3. Crossing tenants takes ``system_unit_of_work(reason=...)``, which is logged.
"""

from __future__ import annotations

import select
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

import orjson
import structlog
from sqlalchemy import (
    Connection,
    Engine,
    ForeignKey,
    MetaData,
    Table,
    Uuid,
    create_engine,
    event,
)
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.pool import ConnectionPoolEntry

from siyu.config import Settings
from siyu.core import pgcopy
from siyu.core.actor import Actor
from siyu.core.clock import utcnow
from siyu.core.errors import AppError, TenantContextMissing
from siyu.core.ids import new_id
from siyu.core.types import UTCDateTime

log = structlog.get_logger(__name__)

# PostgreSQL connections older than this are replaced at checkout: servers, proxies and firewalls
# that cut connections after a while never get to cut ours.
POOL_RECYCLE_SECONDS = 1800
SQLITE_CACHE_KIB = 65_536
"""SQLite's page cache per connection (its default is 2 MiB): an import's write transaction spills
dirty pages to the WAL and reads index pages back once the cache is full (1M order rows: 161 s
with the default, 146 s with this). Memory is taken only as pages are used."""
# Rows SQLite's ANALYZE samples per index: enough for the planner, quick on any table size
# (SQLite's advice is 100 to 1,000).
SQLITE_ANALYSIS_LIMIT = 1000

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, uuid.UUID: Uuid}


class TenantScoped:
    """Mixin for tenant-owned tables: ``tenant_id`` first in the primary key, ``id`` second."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(
            ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True, sort_order=-10
        )

    @declared_attr
    def id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(primary_key=True, default=new_id, sort_order=-9)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, sort_order=900)


class CrossTenantWrite(AppError):
    status, code, title = 500, "cross_tenant_write", "Cross-tenant write"


def check_rows_tenant(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """The ORM's tenant guard for Core bulk statements: every row names the session's tenant."""
    if "tenant_id" not in table.c:
        return
    tenant_id = session_tenant(session)
    if any(row["tenant_id"] != tenant_id for row in rows):
        raise CrossTenantWrite(
            f"bulk rows for {table.name} name another tenant than {tenant_id}",
            hint="this is a bug: rows must stay within the acting tenant",
        )


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout, a larger page cache and
    real savepoints."""
    url = _normalise_url(url)
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin (savepoints work).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # IMMEDIATE: take the write lock when the transaction begins, waiting busy_timeout
            # for it. A deferred transaction that reads and then writes must upgrade its lock,
            # and in WAL mode the upgrade fails at once ("database is locked") if another
            # connection committed since the read began — any console action could fail while
            # jobs write. One writer at a time is SQLite's model anyway; PostgreSQL has none of
            # this.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if not url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
    engine = create_engine(url, **kwargs)
    driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        _drop_if_closed_by_server(dbapi_conn, driver_error)

    return engine


def json_text(value: Any) -> str:
    """JSON for PostgreSQL's JSON parameters and columns, written by orjson.

    Several times faster than the standard library on event payloads, and it writes UUIDs and
    aware datetimes itself (ISO 8601 with offset), so bulk rows need no conversion in Python.
    Dict keys that are not strings become strings, as with ``json.dumps``.
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _drop_if_closed_by_server(dbapi_conn: Any, driver_error: type[Exception]) -> None:
    """Check a pooled PostgreSQL connection at checkout without a round trip.

    An idle connection has nothing to read. When the server ends it (a restart, a failover,
    ``pg_terminate_backend``, an idle timeout) it sends an error and closes the socket, which
    then polls readable: only then is the connection pinged, and if the ping fails the pool
    replaces it and every connection made before it (SQLAlchemy's ``InvalidatePoolError``; the
    checkout then continues on a fresh connection). ``pool_pre_ping`` instead costs a round
    trip on every checkout, two per API request. A connection that dies silently (a network
    cut) fails its first statement; SQLAlchemy then invalidates the pool in the same way, so
    only that unit of work fails.
    """
    try:
        if not _has_input(dbapi_conn.fileno()):
            return
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except driver_error as exc:
        log.info("db_connection_closed_by_server", error=str(exc))
        raise InvalidatePoolError(f"connection closed by the server: {exc}") from exc


def _has_input(fd: int) -> bool:
    """Return whether ``fd`` has something to read (or was closed by the other side)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def refresh_statistics(engine: Engine) -> None:
    """Give SQLite's query planner table statistics: a sampled ``ANALYZE``.

    SQLite has no autovacuum: without ``ANALYZE`` its planner guesses, and on a tenant's
    customers it guesses a scan where an index would do. Run at start-up (``siyu serve``/``demo``,
    after migrating and seeding) and after bulk loads. Each index is sampled
    (``PRAGMA analysis_limit``), so this takes milliseconds whatever the size. PostgreSQL keeps
    its own statistics (autovacuum); nothing to do there.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    log.info("sqlite_statistics_refreshed")


class Database:
    """The engine and the session factory; tests rebind the factory to one connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session_factory: sessionmaker[Session] = sessionmaker(
            bind=engine, expire_on_commit=False
        )

    def bind_to(self, connection: Connection) -> None:
        """Make sessions join ``connection``'s transaction through savepoints (tests)."""
        self.session_factory = sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )

    def ping(self) -> None:
        """Run ``SELECT 1`` outside any transaction (on SQLite a transaction waits for the
        write lock, so a probe would wait behind a long import)."""
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            cursor.close()
            if self.engine.dialect.name != "sqlite":
                raw.rollback()  # end the implicit read transaction of the DB-API connection
        finally:
            raw.close()


_database: Database | None = None


def init_database(settings: Settings) -> Database:
    """Create the process-wide database for ``settings`` (and the PII keyring it needs)."""
    global _database
    from siyu.security import pii

    pii.configure(settings.pii)
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    _database = Database(make_engine(settings.effective_database_url))
    return _database


def set_database(database: Database) -> None:
    global _database
    _database = database


def get_database() -> Database:
    if _database is None:
        raise RuntimeError("database not initialised: call init_database(settings) at start-up")
    return _database


@contextmanager
def _transaction(session: Session) -> Iterator[Session]:
    with session:
        try:
            yield session
            pgcopy.settle_session(session)  # a COPY still running: its error fails the work here
            session.commit()
        except BaseException:
            session.rollback()
            raise
    for callback in session.info.pop("after_commit", []):
        callback()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the unit of work has committed and closed (never on rollback).

    For work that must see the committed rows and must not run inside the transaction:
    handing jobs to the queue, say. A callback that raises propagates to the caller.
    """
    session.info.setdefault("after_commit", []).append(callback)


def unit_of_work(actor: Actor, *, database: Database | None = None) -> ContextManager[Session]:
    """Open a session bound to ``actor``'s tenant; commit once on success, roll back on error."""
    session = (database or get_database()).session_factory()
    session.info["tenant_id"] = actor.tenant_id
    session.info["actor"] = actor
    return _transaction(session)


def system_unit_of_work(
    *, reason: str, database: Database | None = None
) -> ContextManager[Session]:
    """Open a session that may cross tenants. Use sparingly; every use is logged with its reason."""
    log.debug("system_unit_of_work", reason=reason)
    session = (database or get_database()).session_factory()
    session.info["system_reason"] = reason
    return _transaction(session)


def session_tenant(session: Session) -> uuid.UUID:
    """Return the tenant a session is bound to; raise if it has none."""
    tenant_id = session.info.get("tenant_id")
    if not isinstance(tenant_id, uuid.UUID):
        raise TenantContextMissing("this session has no tenant", hint="use unit_of_work(actor)")
    return tenant_id


@event.listens_for(Session, "do_orm_execute")
def _scope_to_tenant(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return
    info = state.session.info
    tenant_id = info.get("tenant_id")
    if tenant_id is None:
        if "system_reason" in info:
            return
        raise TenantContextMissing(
            "ORM query in a session with neither a tenant nor a system reason",
            hint="open the session with unit_of_work(actor) or system_unit_of_work(reason=...)",
        )
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


@event.listens_for(Session, "before_flush")
def _reject_foreign_rows(session: Session, flush_context: Any, instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            obj.tenant_id = tenant_id
        elif obj.tenant_id != tenant_id:
            raise CrossTenantWrite(
                f"{type(obj).__name__} of tenant {obj.tenant_id} written in a session of "
                f"tenant {tenant_id}",
                hint="this is a bug: objects must stay within the acting tenant",
            )
