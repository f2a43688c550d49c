"""partial customer indexes: the look-ups by phone, email, owner, org unit and merge target
index only the customers that have one

Each of these indexes answers "which customers have this value" (a blind index, the staff of
record, the home unit, the customer merged into). Most customers have none of them: an imported
buyer has no owner, no unit, no email, often only a masked phone, and is not merged. Indexed in
full, every new customer and every profile fill wrote an entry for its null into each of them;
indexed only where the value is set, an import's customer inserts and gap fills write two or
three index entries instead of seven. An equality look-up (``column = value``, ``IN``) implies
the value is set, so every query that used these indexes still does.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, column)
_INDEXES = [
    ("ix_customer_tenant_phone_bidx", "phone_bidx"),
    ("ix_customer_tenant_email_bidx", "email_bidx"),
    ("ix_customer_tenant_owner", "owner_staff_id"),
    ("ix_customer_tenant_org_unit", "org_unit_id"),
    ("ix_customer_tenant_merged_into", "merged_into_id"),
]


def upgrade() -> None:
    for name, column in _INDEXES:
        op.drop_index(name, table_name="customer")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, "customer", ["tenant_id", column], postgresql_where=where, sqlite_where=where
        )


def downgrade() -> None:
    for name, column in _INDEXES:
        op.drop_index(name, table_name="customer")
        op.create_index(name, "customer", ["tenant_id", column])
