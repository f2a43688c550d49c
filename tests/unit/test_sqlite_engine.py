"""The settings every SQLite connection of siyu starts with."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from siyu.core.db import SQLITE_CACHE_KIB, make_engine


def test_sqlite_connections_get_wal_foreign_keys_and_a_larger_page_cache(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/siyu.db")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "cache_size")
            }
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 10_000,
        "cache_size": -SQLITE_CACHE_KIB,
    }
