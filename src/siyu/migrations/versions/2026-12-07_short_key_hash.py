"""short key hashes: identities and junk keys are unique by (tenant, 128-bit key hash)

A key's hash is the HMAC of its kind, namespace and value under the tenant's blind-index key, so
the hash alone tells keys apart: the unique indexes no longer repeat kind and namespace, and the
hash keeps its first 128 bits (32 hex digits; a collision among a tenant's keys is as likely as
guessing an AES key). Each index entry shrinks from about 100 to 64 bytes, so the index of a
million identities stays in PostgreSQL's buffers and an import's look-ups and inserts read less.
Existing hashes are cut to their first 32 digits, which is what the code now computes.

The downgrade cannot lengthen hashes again (that needs every value decrypted and hashed anew): it
refuses while identities or junk keys exist.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("identity", "junk_key")


def _key_type(length: int) -> sa.String:
    collation = "C" if op.get_bind().dialect.name == "postgresql" else None
    return sa.String(length, collation=collation)


_LONG = ("tenant_id", "kind", "namespace", "key_hash")
_SHORT = ("tenant_id", "key_hash")


def _rekey(table: str, old: tuple[str, ...], new: tuple[str, ...], length: int, was: int) -> None:
    """Swap ``table``'s unique constraint on ``old`` for one on ``new``; ``key_hash`` becomes
    ``length`` characters long (from ``was``)."""
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(f"uq_{table}_{'_'.join(old)}", type_="unique")
        batch.alter_column(
            "key_hash",
            type_=_key_type(length),
            existing_type=_key_type(was),
            existing_nullable=False,
        )
        batch.create_unique_constraint(f"uq_{table}_{'_'.join(new)}", list(new))


def upgrade() -> None:
    for table in _TABLES:
        op.execute(sa.text(f"UPDATE {table} SET key_hash = substr(key_hash, 1, 32)"))  # noqa: S608
        _rekey(table, _LONG, _SHORT, 32, 64)


def downgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        if bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:  # noqa: S608
            raise RuntimeError(
                f"cannot downgrade below 0009 while {table} holds rows: their key hashes were "
                "shortened to 128 bits; restore the database from a backup taken before 0009"
            )
    for table in _TABLES:
        _rekey(table, _SHORT, _LONG, 64, 32)
