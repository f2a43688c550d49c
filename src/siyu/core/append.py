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
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import uuid_utils
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    cast,
    func,
    insert,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from siyu.core import pgcopy
from siyu.core.db import TenantScoped, check_rows_tenant

CUSTOMER_REF = {"refers_to": "customer"}
"""``info`` of a customer column kept without a foreign key: merges and unmerges move it."""


class AppendScoped(TenantScoped):
    """Tenant-owned rows appended in bulk, with no foreign keys (not even to ``tenant``).

    A foreign key runs a per-row look-up trigger on every insert, which costs more than the row
    itself when an import appends millions. These tables are written by one path that takes the
    tenant from the session and every id from rows it has just read or created; columns naming
    a customer carry ``info=CUSTOMER_REF`` so merges still find them.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(primary_key=True, sort_order=-10)


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
    pgcopy.settle(connection)
    raw = pgcopy.driver(connection)
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
    _refresh_statistics(session, table, len(rows))(raw)
    return len(rows)


_STATS_MIN_ROWS = 10_000


def _refresh_statistics(session: Session, table: Table, appended: int) -> pgcopy.After:
    """What to run on the driver connection once ``appended`` rows are in ``table``: an
    ``ANALYZE`` when this transaction's appends outgrow what the table's statistics know.

    Autovacuum cannot see rows of an open transaction, so a long import would otherwise plan its
    own look-ups (is this order new? who owns this key?) with the empty table's statistics, and
    PostgreSQL then filters millions of rows instead of probing the unique index. The planner
    scales the row count of the statistics by the table's current size on disk, so statistics
    taken once the table held rows stay good while it grows; so the table is analyzed when the
    rows appended since the transaction last analyzed it are at least ``_STATS_MIN_ROWS`` and
    at least as many as the statistics count (``pg_class.reltuples``, −1 before the first
    ANALYZE; ANALYZE inside the transaction counts its own rows): a few runs for the first
    imports, none once the table is large next to an import. Driver calls, not the session's:
    the step may run on ``pgcopy``'s helper thread.
    """
    counts = session.info.setdefault("append_stats", {})

    def step(raw: Any) -> None:
        pending = counts.get(table.name, 0) + appended
        if pending >= _STATS_MIN_ROWS:
            row = raw.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (f'"{table.name}"',)
            ).fetchone()
            if row is None or pending >= row[0]:
                raw.execute(f'ANALYZE "{table.name}"')
                pending = 0
        counts[table.name] = pending

    return step


def one_of(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column`` is one of ``values``: ``= ANY(array)`` on PostgreSQL, ``IN (…)`` elsewhere.

    One parameter instead of a parameter per value: thousands of keys per look-up cost the
    driver and the planner next to nothing, and the statement text never changes. On
    PostgreSQL, text and UUID values travel as one joined text split by ``string_to_array``
    (the driver dumps an array parameter element by element in Python, which costs more than
    the look-up); values a separator cannot join go as an array parameter.
    """
    wanted = list(values)
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(wanted)
    packed = _joined(wanted)
    if packed is None:
        return column == any_(bindparam(None, wanted, type_=ARRAY(column.type)))
    joined, separator = packed
    split = func.string_to_array(
        bindparam(None, joined, type_=Text()), bindparam(None, separator, type_=Text())
    )
    return column == any_(cast(split, ARRAY(column.type)))


_SEPARATORS = (",", "\x1f", "\t", "|")


def _joined(values: Sequence[Any]) -> tuple[str, str] | None:
    """``values`` as one text and the separator no value contains, or ``None`` when they are
    not all non-empty text or UUIDs, or every separator occurs in some value."""
    if not values:
        return None
    texts = []
    for value in values:
        if isinstance(value, uuid.UUID):
            texts.append(str(value))
        elif type(value) is str and value:  # StrEnum and other subclasses render differently
            texts.append(value)
        else:  # empty text would vanish in the split; None, numbers: the array parameter
            return None
    for separator in _SEPARATORS:
        joined = separator.join(texts)
        if joined.count(separator) == len(texts) - 1:  # no value holds the separator
            return joined, separator
    return None


def frame_ids(count: int) -> pl.Series:
    """Return ``count`` new UUIDv7 ids as canonical text (time-ordered, as ``new_id`` makes)."""
    make = uuid_utils.uuid7
    return pl.Series("id", [str(make()) for _ in range(count)], dtype=pl.Utf8)


def append_frame(
    session: Session,
    model: type[Any],
    frame: pl.DataFrame,
    constants: Mapping[str, Any] | None = None,
    *,
    wait: bool = True,
    skip_conflicts: Sequence[str] = (),
) -> int:
    """Insert the rows of a Polars frame whose columns are ``model``'s; return how many.

    ``skip_conflicts`` names the columns of a unique key: rows whose key is stored already
    are left out instead of failing the unit of work (the count returned is of rows offered).
    For appends that may repeat what earlier work stored (linkage evidence): nothing is read
    back; on PostgreSQL the rows are copied into a temporary table and inserted from there.

    ``wait=False``: on PostgreSQL, a large frame's ``COPY`` goes on while the caller does
    its next Python work (``core.pgcopy``); the session's next statement, ``COPY`` or commit
    waits for it and raises its error. For bulk work whose unit of work fails whole anyway.

    ``constants`` are columns with one value for every row (the tenant, a timestamp, a source),
    in frame form: ids as ``UUID`` or text, aware datetimes, JSON as text. They are added here,
    as literal columns for a large frame and straight into the parameters of a small one.

    ``append_rows`` without a Python dict per row: ids (``Uuid`` columns) are canonical text, as
    ``frame_ids`` makes them; times are ``Datetime(UTC)``; JSON columns hold JSON text. Only
    columns whose type transforms values in Python (encrypted strings) are converted value by
    value. PostgreSQL takes the frame as ``COPY … (FORMAT csv)`` written by Polars; SQLite as one
    ``executemany`` of tuples in the storage form SQLAlchemy would give them. Unnamed columns
    with a Python-side default get it, once for the whole call.
    """
    if frame.is_empty():
        return 0
    table: Table = model.__table__
    constants = dict(constants or {})
    if "tenant_id" in constants:
        tenants = [str(constants["tenant_id"])]
    else:
        tenants = frame.get_column("tenant_id").unique().to_list()
    check_rows_tenant(session, table, [{"tenant_id": uuid.UUID(t)} for t in tenants])
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    extra = _defaults(table, set(frame.columns) | set(constants))
    conflict = ", ".join(f'"{name}"' for name in skip_conflicts)
    skip = f" ON CONFLICT ({conflict}) DO NOTHING" if skip_conflicts else ""
    if dialect.name == "postgresql" and frame.height <= _SMALL_FRAME:
        fixed = {name: _frame_value(value) for name, value in constants.items()}
        appended = _insert_small(session, table, frame, fixed, extra, skip)
        _refresh_statistics(session, table, appended)(pgcopy.driver(connection))
        return appended
    if constants:
        frame = frame.with_columns(_literal(value).alias(name) for name, value in constants.items())
    columns: list[pl.Expr | pl.Series] = []
    for name in frame.columns:
        columns.append(_storage(table.c[name], frame.get_column(name), dialect))
    for name, value in extra.items():
        process = _processor(table.c[name], dialect)
        if isinstance(value, datetime):
            stored = pl.lit(value.astimezone(UTC), dtype=pl.Datetime("us", "UTC"))
        elif isinstance(value, uuid.UUID):
            stored = pl.lit(str(value) if dialect.name == "postgresql" else value.hex)
        else:
            stored = pl.lit(value if process is None else process(value))
        columns.append(stored.alias(name))
    stored_frame = frame.select(columns)
    stored_frame = stored_frame.with_columns(
        _time_text(pl.col(c), dialect)
        for c, dtype in stored_frame.schema.items()
        if isinstance(dtype, pl.Datetime)
    )
    names = ", ".join(f'"{name}"' for name in stored_frame.columns)
    if dialect.name == "postgresql":
        payload = stored_frame.write_csv(include_header=False, null_value="").encode()
        refresh = _refresh_statistics(session, table, stored_frame.height)
        if not skip_conflicts:
            pgcopy.copy(
                connection,
                f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT csv)',
                payload,
                after=refresh,
                wait=wait,
            )
            return stored_frame.height
        stage = f"siyu_stage_{table.name}"

        def create_stage(raw: Any) -> None:
            raw.execute(
                f'CREATE TEMPORARY TABLE "{stage}" ON COMMIT DROP AS '  # noqa: S608 - model names
                f'SELECT {names} FROM "{table.name}" WITH NO DATA'
            )

        def insert_staged(raw: Any) -> None:
            raw.execute(
                f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{stage}"{skip}'  # noqa: S608
            )
            raw.execute(f'DROP TABLE "{stage}"')
            refresh(raw)

        pgcopy.copy(
            connection,
            f'COPY "{stage}" ({names}) FROM STDIN (FORMAT csv)',
            payload,
            before=create_stage,
            after=insert_staged,
            wait=wait,
        )
        return stored_frame.height
    marks = ", ".join("?" for _ in stored_frame.columns)
    statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks}){skip}'  # noqa: S608 - model names
    for start in range(0, stored_frame.height, _FRAME_CHUNK):
        part = stored_frame.slice(start, _FRAME_CHUNK)
        connection.exec_driver_sql(statement, part.rows())
    return stored_frame.height


_FRAME_CHUNK = 50_000
_SMALL_FRAME = 64


def _frame_value(value: Any) -> Any:
    """A constant in the form a frame column would hold it (text ids, UTC times)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def _literal(value: Any) -> pl.Expr:
    """A constant as a Polars literal column of the frame form."""
    value = _frame_value(value)
    if isinstance(value, datetime):
        return pl.lit(value, dtype=pl.Datetime("us", "UTC"))
    if value is None:
        return pl.lit(None, dtype=pl.Utf8)
    return pl.lit(value)


def _insert_small(
    session: Session,
    table: Table,
    frame: pl.DataFrame,
    fixed: dict[str, Any],
    extra: dict[str, Any],
    skip: str,
) -> int:
    """Append a few rows with one ``executemany`` of their values, no Polars (PostgreSQL).

    An API call's handful of new customers or identities would spend more on building and
    writing a CSV frame (a millisecond or so per frame) than on the rows themselves. Values go
    as the driver adapts them: text ids and JSON text cast by the server, aware datetimes,
    encrypted strings through their column type. ``skip`` ends the statement (an ``ON
    CONFLICT`` clause, or nothing).
    """
    dialect = session.get_bind().dialect
    names = [*frame.columns, *fixed, *extra]
    convert = [_small_processor(table.c[name], dialect) for name in frame.columns]
    constants = tuple(
        value
        if value is None or (process := _small_processor(table.c[name], dialect)) is None
        else process(value)
        for name, value in fixed.items()
    ) + tuple(_small_constant(table.c[name], value, dialect) for name, value in extra.items())
    rows = [
        (*(v if f is None or v is None else f(v) for f, v in zip(convert, row, strict=True)),
         *constants)
        for row in frame.iter_rows()
    ]  # fmt: skip
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("%s" for _ in names)
    statement = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks}){skip}'  # noqa: S608 - model names
    session.connection().exec_driver_sql(statement, rows)
    return len(rows)


def _small_processor(column: Column[Any], dialect: Dialect) -> Processor | None:
    """How a frame value becomes a driver parameter: frames hold ids and JSON as text already."""
    kind = column.type
    if isinstance(kind, TypeDecorator) and not isinstance(kind.impl_instance, (DateTime, Uuid)):
        return _processor(column, dialect)
    return None


def _small_constant(column: Column[Any], value: Any, dialect: Dialect) -> Any:
    """A column default's value as a driver parameter."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    process = _processor(column, dialect)
    return value if process is None else process(value)


def _storage(column: Column[Any], values: pl.Series, dialect: Dialect) -> pl.Series:
    """A frame column in the form the database stores (text ids, encrypted strings)."""
    kind = column.type
    if isinstance(kind, Uuid) or (
        isinstance(kind, TypeDecorator) and isinstance(kind.impl_instance, Uuid)
    ):
        text_ids = values.cast(pl.Utf8)
        return (
            text_ids.str.replace_all("-", "", literal=True)
            if dialect.name != "postgresql"
            else text_ids
        )
    if isinstance(kind, TypeDecorator) and not isinstance(kind.impl_instance, DateTime):
        decorator = kind
        converted = [
            None if value is None else decorator.process_bind_param(value, dialect)
            for value in values.to_list()
        ]
        return pl.Series(values.name, converted, dtype=pl.Utf8)
    return values


def _time_text(times: pl.Expr, dialect: Dialect) -> pl.Expr:
    """UTC times as text: with an offset for PostgreSQL, naive UTC (SQLAlchemy's form) on SQLite."""
    utc = times.dt.convert_time_zone("UTC")
    if dialect.name == "postgresql":
        return utc.dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00")
    return utc.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
