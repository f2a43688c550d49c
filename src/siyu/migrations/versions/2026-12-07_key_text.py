"""key text: hashes, blind indexes and external ids compare bytewise on PostgreSQL

The columns below are only ever matched (unique keys, look-ups of thousands of values at a time
during imports), never shown in order. Under the database's locale every comparison an index
insert or look-up makes goes through ``strcoll``; the ``"C"`` collation compares bytes, which
gives the same equalities for less. PostgreSQL rebuilds the indexes on these columns; the rows
are not rewritten. SQLite compares bytes already: nothing to do there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, length, nullable)
_COLUMNS = [
    ("identity", "key_hash", 64, False),
    ("junk_key", "key_hash", 64, False),
    ("identity_evidence", "fingerprint", 64, False),
    ("customer", "phone_bidx", 64, True),
    ("customer", "email_bidx", 64, True),
    ("customer_order", "external_id", 128, False),
    ("event", "idempotency_key", 200, True),
]


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length, nullable in _COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(length, collation=collation),
            existing_type=sa.String(length),
            existing_nullable=nullable,
        )


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
