"""PostgreSQL ``COPY`` on a session's connection, optionally while the caller goes on.

An import alternates Python work (parsing, OneID, building the next frame) with ``COPY`` of the
frame it just built; done one after the other, one core idles while the other works. With
``wait=False`` the ``COPY`` runs on a helper thread, on the session's own connection and inside
its transaction, while the caller prepares what comes next; the driver releases the GIL while it
waits for the server. Further ``COPY``s asked for meanwhile queue up behind it on that thread, in
order. Anything else that would use the connection first waits for the queue and raises the first
error, if any: every statement (``before_cursor_execute``), the commit, a ``COPY`` that waits; a
unit of work settles it before it commits. A rollback waits for it and drops its
outcome; so does handing the connection back to the pool. So the transaction sees the rows as if
the ``COPY`` had finished when it was asked for, and a failed ``COPY`` fails the unit of work at
its next step at the latest.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import psycopg
import structlog
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

log = structlog.get_logger()

_PENDING = "siyu_pending_copy"

After = Callable[[psycopg.Connection[Any]], None]


class _Pending:
    """``COPY``s running one after another on a helper thread, in the order they were asked
    for; ``result()`` waits for all of them and re-raises the first error (the ones after a
    failed ``COPY`` are skipped: its transaction is lost anyway)."""

    def __init__(self) -> None:
        self._error: BaseException | None = None
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="siyu-copy", daemon=True)
        self._thread.start()

    def add(self, work: Callable[[], None]) -> None:
        self._queue.put(work)

    def _run(self) -> None:
        while (work := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits
                self._error = exc

    def result(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def copy(
    connection: Connection,
    statement: str,
    payload: bytes,
    *,
    after: After | None,
    wait: bool,
    before: After | None = None,
) -> None:
    """Run ``before``, ``COPY … FROM STDIN`` with ``payload`` on ``connection``, then ``after``
    (the steps are given the driver connection); with ``wait=False`` on a helper thread,
    returning at once: successive ``COPY``s of one connection queue up there, so the caller can
    build several frames on."""

    def work(raw: psycopg.Connection[Any]) -> None:
        if before is not None:
            before(raw)
        with raw.cursor() as cursor, cursor.copy(statement) as stream:
            stream.write(payload)
        if after is not None:
            after(raw)

    if wait:
        settle(connection)
        work(driver(connection))
        return
    later(connection, work)


def later(connection: Connection, work: After) -> None:
    """Queue ``work`` (given the driver connection) behind the connection's ``COPY``s left
    running, on the same helper thread: for other bulk statements whose outcome the caller does
    not read (an ``executemany`` of updates), with the same guarantees as a ``COPY``."""
    raw = driver(connection)
    pending = connection.info.get(_PENDING)
    if pending is None:
        pending = connection.info[_PENDING] = _Pending()
    pending.add(lambda: work(raw))


def executemany_later(
    connection: Connection, statement: ClauseElement, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``connection.execute(statement, rows)`` queued behind the ``COPY``s left running
    (``later``): the statement is compiled and its parameters converted by their types here,
    as SQLAlchemy would, and the driver's ``executemany`` runs on the helper thread. Python-side
    column defaults are not run here: the statement must set such columns itself."""
    dialect = connection.dialect
    compiled = cast("SQLCompiler", statement.compile(dialect=dialect))
    defaulted = [c.name for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
    if defaulted:
        raise ValueError(f"set {', '.join(defaulted)} in the statement: defaults are not run")
    fixed = compiled.construct_params(_check=False)  # the statement's own values
    required = {name for name in fixed if compiled.binds[name].required}
    convert = {
        name: process
        for name in fixed
        if (process := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
    }
    params = []
    for row in rows:
        if missing := required - row.keys():
            raise ValueError(f"no value for {', '.join(sorted(missing))} in {dict(row)!r}")
        values = {**fixed, **row}
        for name, process in convert.items():
            if values[name] is not None:
                values[name] = process(values[name])
        params.append(values)
    sql = str(compiled)

    def work(raw: psycopg.Connection[Any]) -> None:
        with raw.cursor() as cursor:
            cursor.executemany(sql, params)

    later(connection, work)


def driver(connection: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``connection`` (PostgreSQL only)."""
    raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise RuntimeError("COPY needs the session's psycopg connection")
    return raw


def settle(connection: Connection) -> None:
    """Wait for the connection's ``COPY``s in progress, if any; raise the first error."""
    pending = connection.info.pop(_PENDING, None)
    if pending is not None:
        pending.result()


def settle_session(session: Session) -> None:
    """``settle`` the connection of the session's transaction, if it has one."""
    if session.in_transaction():
        settle(session.connection())


def _drop(info: dict[Any, Any]) -> None:
    """Wait for a ``COPY`` whose transaction is being rolled back; its error no longer matters."""
    pending = info.pop(_PENDING, None)
    if pending is not None:
        try:
            pending.result()
        except Exception as exc:  # noqa: BLE001 - the transaction is rolled back anyway
            log.info("background_copy_dropped", error=type(exc).__name__)


@event.listens_for(Engine, "before_cursor_execute")
def _before_statement(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    settle(conn)


@event.listens_for(Engine, "commit")
def _before_commit(conn: Connection) -> None:
    settle(conn)


@event.listens_for(Engine, "rollback")
def _before_rollback(conn: Connection) -> None:
    if not conn.invalidated:  # an invalidated connection's info is out of reach (and its COPY
        _drop(conn.info)  # ended with it); the pool drops the entry when it takes it back


@event.listens_for(Engine, "rollback_savepoint")
def _before_rollback_to_savepoint(conn: Connection, name: str, context: Any) -> None:
    if not conn.invalidated:
        _drop(conn.info)


@event.listens_for(Pool, "checkin")
def _on_checkin(dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        _drop(record.info)
