"""bulk tables: no foreign keys on the high-volume tables an import appends to

Every row appended to a table with a foreign key runs a per-row trigger that looks the referred
row up (``SELECT … FOR KEY SHARE``): for an import of a million orders that is several million
look-ups, more than the rows themselves cost. The tables below are written by one bulk path that
takes ids from rows it has just looked up or created, in the acting tenant only, so the keys add
nothing but cost. Merges find their customer columns by the models' declarations instead.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → its dropped foreign keys: (name, local columns, referred table, referred columns)
_KEYS: dict[str, list[tuple[str, list[str], str, list[str]]]] = {
    "customer_order": [
        (
            "fk_customer_order_tenant_id_customer_id_customer",
            ["tenant_id", "customer_id"],
            "customer",
            ["tenant_id", "id"],
        ),
        ("fk_customer_order_tenant_id_tenant", ["tenant_id"], "tenant", ["id"]),
    ],
    "order_line": [
        (
            "fk_order_line_tenant_id_order_id_customer_order",
            ["tenant_id", "order_id"],
            "customer_order",
            ["tenant_id", "id"],
        ),
        ("fk_order_line_tenant_id_tenant", ["tenant_id"], "tenant", ["id"]),
    ],
    "event": [
        (
            "fk_event_tenant_id_customer_id_customer",
            ["tenant_id", "customer_id"],
            "customer",
            ["tenant_id", "id"],
        ),
        ("fk_event_tenant_id_tenant", ["tenant_id"], "tenant", ["id"]),
    ],
    "identity": [
        (
            "fk_identity_tenant_id_customer_id_customer",
            ["tenant_id", "customer_id"],
            "customer",
            ["tenant_id", "id"],
        ),
        ("fk_identity_tenant_id_tenant", ["tenant_id"], "tenant", ["id"]),
    ],
    "identity_evidence": [
        (
            "fk_identity_evidence_tenant_id_customer_id_customer",
            ["tenant_id", "customer_id"],
            "customer",
            ["tenant_id", "id"],
        ),
        ("fk_identity_evidence_tenant_id_tenant", ["tenant_id"], "tenant", ["id"]),
    ],
}


def upgrade() -> None:
    for table, keys in _KEYS.items():
        with op.batch_alter_table(table) as batch:
            for name, *_ in keys:
                batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, keys in reversed(_KEYS.items()):
        with op.batch_alter_table(table) as batch:
            for name, local, referred, remote in keys:
                batch.create_foreign_key(name, referred, local, remote, ondelete="CASCADE")
