"""Fast appends of rows known to be new: PostgreSQL ``COPY``, batched ``INSERT`` elsewhere.

Importers decide first which rows are new (looked up in the same transaction), then append them
here. On PostgreSQL the rows stream through ``COPY … FROM STDIN`` on the session's own connection,
so they commit or roll back with everything else; column types that transform values in Python
(encrypted strings, JSON) are applied exactly as SQLAlchemy would. A row that collides with a
unique key written meanwhile by someone else fails the whole unit of work (nothing half-written).
Every row must carry the session's tenant: the same guard as ORM flushes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, Column, Table, any_, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from siyu.core.db import check_rows_tenant

_INSERT_CHUNK = 5_000

Processor = Callable[[Any], Any]


def _processor(column: Column[Any], dialect: Dialect) -> Processor | None:
    kind = column.type
    if isinstance(kind, TypeDecorator):
        decorator = kind

        def bind(value: Any) -> Any:
            return decorator.process_bind_param(value, dialect)

        return bind
    if isinstance(kind, JSON):
        return lambda value: None if value is None else json.dumps(value, ensure_ascii=False)
    return None


def _defaults(table: Table, named: set[str]) -> dict[str, Any]:
    """Values for unnamed columns with a Python-side default (one value for the whole call)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.key in named or default is None:
            continue
        arg = getattr(default, "arg", None)
        if getattr(default, "is_callable", False) and callable(arg):
            values[column.key] = arg(None)
        elif getattr(default, "is_scalar", False):
            values[column.key] = arg
    return values


def append_rows(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts of column values, all with the same keys); return how many."""
    if not rows:
        return 0
    table: Table = model.__table__
    check_rows_tenant(session, table, rows)
    session.flush()
    named = list(rows[0])
    extra = _defaults(table, set(named))
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        full = [{**extra, **row} for row in rows] if extra else list(rows)
        for start in range(0, len(full), _INSERT_CHUNK):
            session.execute(insert(model), full[start : start + _INSERT_CHUNK])
        return len(rows)
    names = [*named, *extra]
    processors = [_processor(table.c[name], connection.dialect) for name in names]
    constant = tuple(
        value if process is None else process(value)
        for value, process in zip(extra.values(), processors[len(named) :], strict=True)
    )
    quoted = ", ".join(f'"{name}"' for name in names)
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("the session's connection has no driver connection")
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        if any(processors):
            for row in rows:
                values = [row[name] for name in named]
                for i, process in enumerate(processors[: len(named)]):
                    if process is not None:
                        values[i] = process(values[i])
                copy.write_row((*values, *constant))
        else:
            for row in rows:
                copy.write_row((*[row[name] for name in named], *constant))
    _refresh_statistics(session, table, len(rows))
    return len(rows)


_STATS_MIN_ROWS = 10_000


def _refresh_statistics(session: Session, table: Table, appended: int) -> None:
    """``ANALYZE`` a table each time this transaction has (at least) doubled what it appended.

    Autovacuum cannot see rows of an open transaction, so a long import would otherwise plan its
    own look-ups (is this order new? who owns this key?) with the empty table's statistics, and
    PostgreSQL then filters millions of rows instead of probing the unique index. ANALYZE inside
    the transaction counts the transaction's own rows; doubling keeps it to a few runs per import.
    """
    pending, analyzed = session.info.setdefault("append_stats", {}).get(table.name, (0, 0))
    pending += appended
    if pending >= max(_STATS_MIN_ROWS, analyzed):
        session.execute(text(f'ANALYZE "{table.name}"'))
        pending, analyzed = 0, analyzed + pending
    session.info["append_stats"][table.name] = (pending, analyzed)


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column`` is one of ``values``: ``= ANY(array)`` on PostgreSQL, ``IN (…)`` elsewhere.

    One array parameter instead of a parameter per value: thousands of keys per look-up cost
    the driver and the planner next to nothing, and the statement text never changes.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
