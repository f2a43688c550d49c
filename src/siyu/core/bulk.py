"""Dialect-aware bulk statements: insert-or-ignore and upsert on a unique key."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Integer,
    String,
    Table,
    Uuid,
    bindparam,
    column,
    event,
    false,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.types import TypeDecorator, TypeEngine

from siyu.core.db import check_rows_tenant

CHUNK = 5_000

Converter = Callable[[Any], Any]


def _insert_for(session: Session, model: type[Any]) -> Any:
    """Return the dialect's INSERT for a mapped class (it has ON CONFLICT on both)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"bulk insert on {dialect} is not supported")


def chunks(rows: Sequence[dict[str, Any]], size: int = CHUNK) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_ignore(
    session: Session, model: type[Any], rows: Sequence[dict[str, Any]], *, conflict: Sequence[str]
) -> int:
    """Insert rows, skipping those that collide on ``conflict``; return how many were inserted."""
    inserted = 0
    for part in chunks(rows):
        stmt = _insert_for(session, model).on_conflict_do_nothing(index_elements=list(conflict))
        result = session.execute(stmt.returning(model.id), list(part))
        inserted += len(result.all())
    return inserted


def upsert(
    session: Session,
    model: type[Any],
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows; on a ``conflict`` collision overwrite the ``update`` columns."""
    for part in chunks(rows):
        stmt = _insert_for(session, model)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict), set_={c: stmt.excluded[c] for c in update}
        )
        session.execute(stmt, list(part))


def insert_ignore_columns(
    session: Session, model: type[Any], rows: Sequence[dict[str, Any]], *, conflict: Sequence[str]
) -> int:
    """``insert_ignore``, faster on PostgreSQL when every row names the same columns.

    On PostgreSQL the rows travel as one JSON array that the server unpacks with
    ``json_to_recordset`` into typed columns: one short statement whose text never changes (the
    driver converts it once, the server prepares it), one parameter, serialised in C, instead of
    a ``VALUES`` list with a parameter per value. Values go through their column type's bind
    processing first (encrypted strings encrypt, aware datetimes become UTC), exactly as in
    ``insert_ignore``. Rows that differ in their columns, leave out a column with a Python-side
    default, or have a column of a type JSON cannot carry take ``insert_ignore``. Every row must
    name the session's tenant (Core statements skip the ORM's tenant guard).
    """
    if not rows:
        return 0
    table: Table = model.__table__
    check_rows_tenant(session, table, rows)
    keys = rows[0].keys()
    plan = _recordset_plan(table, tuple(keys), tuple(conflict), session.get_bind().dialect)
    if plan is None or any(row.keys() != keys for row in rows):
        return insert_ignore(session, model, rows, conflict=conflict)
    stmt, pairs = plan
    inserted = 0
    converted = [(name, convert) for name, convert in pairs if convert is not None]
    for part in chunks(rows):
        payload = part if not converted else [_converted(row, converted) for row in part]
        result = cast("CursorResult[Any]", session.execute(stmt, {"rows": payload}))
        inserted += result.rowcount
    return inserted


def _converted(row: dict[str, Any], converters: Sequence[tuple[str, Converter]]) -> dict[str, Any]:
    out = dict(row)
    for name, convert in converters:
        value = out[name]
        if value is not None:
            out[name] = convert(value)
    return out


@functools.lru_cache(maxsize=128)
def _recordset_plan(
    table: Table, names: tuple[str, ...], conflict: tuple[str, ...], dialect: Dialect
) -> tuple[Any, tuple[tuple[str, Converter | None], ...]] | None:
    """Return the ``json_to_recordset`` insert for these columns and each one's converter.

    ``None`` when it does not apply: not PostgreSQL, a column with a Python-side default left
    out (the ORM path fills it), or a column type JSON cannot carry.
    """
    if dialect.name != "postgresql":
        return None
    if any(c.default is not None and c.key not in names for c in table.columns):
        return None
    converters = [_json_converter(table.c[name].type, dialect) for name in names]
    if any(convert is _UNSUPPORTED for convert in converters):
        return None
    source = (
        func.json_to_recordset(bindparam("rows", type_=postgresql.JSON))
        .table_valued(*(column(name, table.c[name].type) for name in names))
        .render_derived(with_types=True)
    )
    stmt = (
        postgresql.insert(table)
        .from_select(list(names), select(*(source.c[name] for name in names)))
        .on_conflict_do_nothing(index_elements=list(conflict))
        .execution_options(preserve_rowcount=True)
    )
    return stmt, tuple(zip(names, converters, strict=True))


_UNSUPPORTED: Converter = lambda value: value  # noqa: E731 - a sentinel, compared by identity


def _json_converter(kind: TypeEngine[Any], dialect: Dialect) -> Converter | None:
    """Return how a value of ``kind`` becomes JSON (``None``: as it is), or ``_UNSUPPORTED``.

    The engine writes JSON with orjson (``core.db.json_text``), which takes UUIDs, dates and aware
    datetimes as they are; only type decorators (encryption, the UTC check) convert in Python.
    """
    if isinstance(kind, TypeDecorator):
        decorator = kind
        if not isinstance(decorator.impl_instance, _JSON_READY):
            return _UNSUPPORTED

        def bind(value: Any) -> Any:
            return decorator.process_bind_param(value, dialect)

        return bind
    return None if isinstance(kind, _JSON_READY) else _UNSUPPORTED


_JSON_READY = (Uuid, DateTime, Date, JSON, String, Integer, Boolean)


def lock_for_writing(session: Session, model: type[Any]) -> None:
    """On SQLite, take the database's write lock now, before the transaction reads anything.

    SQLite has one writer at a time. A transaction that reads first and writes later must
    upgrade its lock when it first writes; if another connection committed in between, SQLite
    refuses at once ("database is locked") instead of waiting ``busy_timeout``. A write that
    matches no row, as the first statement, takes the lock up front and waits its turn, so the
    reads that follow see current data and the writes cannot fail on the upgrade.

    Writers of one process also queue on a lock of their own, held until the session's
    transaction ends: SQLite's busy handler polls with growing sleeps (up to 100 ms) and is not
    fair, so without it a writer can wait seconds while others keep taking the lock.

    PostgreSQL locks rows, not the database: nothing to do there.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    if _WRITER_KEY not in session.info:
        writer = _writer_lock(str(session.get_bind().engine.url))
        writer.acquire()
        session.info[_WRITER_KEY] = writer
    table: Table = model.__table__
    first = next(iter(table.primary_key.columns))
    session.execute(update(table).where(false()).values({first.name: first}))


_WRITER_KEY = "bulk_sqlite_writer"
_writers: dict[str, threading.RLock] = {}
_writers_guard = threading.Lock()


def _writer_lock(url: str) -> threading.RLock:
    with _writers_guard:
        return _writers.setdefault(url, threading.RLock())


@event.listens_for(Session, "after_transaction_end")
def _release_writer(session: Session, transaction: SessionTransaction) -> None:
    """Let the next writer of this process in once the session's outermost transaction ends."""
    if transaction.parent is None and _WRITER_KEY in session.info:
        session.info.pop(_WRITER_KEY).release()
