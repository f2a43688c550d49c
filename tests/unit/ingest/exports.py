"""The sample export files under tests/fixtures/orders and whole-file parsing for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from siyu.core.errors import FieldError
from siyu.ingest import LINE_COLUMNS, ORDER_COLUMNS, read_orders

FIXTURES = Path(__file__).parents[2] / "fixtures" / "orders"


def parse_all(path: Path, **options: Any) -> tuple[pl.DataFrame, pl.DataFrame, list[FieldError]]:
    """Return every order, line and error of ``path`` (all batches joined)."""
    batches = list(read_orders(path, **options))
    orders = (
        pl.concat([b.orders for b in batches]) if batches else pl.DataFrame(schema=ORDER_COLUMNS)
    )
    lines = pl.concat([b.lines for b in batches]) if batches else pl.DataFrame(schema=LINE_COLUMNS)
    errors = [e for b in batches for e in b.errors]
    return orders, lines, errors


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` (lines of CSV) to ``path`` and return it."""
    path.write_text(text, encoding=encoding, newline="")
    return path
