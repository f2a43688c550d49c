"""Dialect-aware bulk statements: insert-or-ignore and upsert on a unique key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

CHUNK = 5_000


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
