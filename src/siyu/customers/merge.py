"""Moving everything that points at one customer onto another, and back.

Every table with a foreign key to ``customer`` is found from the metadata, so a domain added later
(tags, contact relations, tasks…) is carried along by merges and unmerges without changes here.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Table, UniqueConstraint, exists, update
from sqlalchemy.orm import Session

from siyu.core.db import Base
from siyu.customers.models import Customer
from siyu.customers.survivorship import SURVIVING_FIELDS, Survivorship, takes
from siyu.security.pii import keyring


def customer_references() -> list[tuple[Table, str]]:
    """Return ``(table, column)`` for every column that refers to a customer."""
    refs = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name != "customer":
                continue
            for column in fk.columns:
                if column.name != "tenant_id":
                    refs.append((table, column.name))
    return refs


def move_references(
    db: Session, tenant_id: uuid.UUID, *, source_id: uuid.UUID, target_id: uuid.UUID
) -> dict[str, list[str]]:
    """Point every row referring to ``source_id`` at ``target_id``; return the moved row ids.

    A row that would duplicate one ``target_id`` already has under a unique constraint (the
    same evidence seen on both customers, say) stays where it is: the target has that fact.
    """
    moved: dict[str, list[str]] = {}
    for table, column in customer_references():
        result = db.execute(
            update(table)
            .where(
                table.c.tenant_id == tenant_id,
                table.c[column] == source_id,
                *_no_duplicate_on(table, column, target_id),
            )
            .values({column: target_id})
            .returning(table.c.id)
        )
        ids = [str(row_id) for row_id in result.scalars()]
        if ids:
            moved[f"{table.name}.{column}"] = ids
    return moved


def _no_duplicate_on(table: Table, column: str, target_id: uuid.UUID) -> list[Any]:
    """Conditions keeping a moved row from colliding with the target's rows on a unique key."""
    conditions = []
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint) or column not in constraint.columns:
            continue
        twin = table.alias()
        same = [
            twin.c[c.name] == (target_id if c.name == column else table.c[c.name])
            for c in constraint.columns
        ]
        conditions.append(~exists().where(*same))
    return conditions


def restore_references(
    db: Session, tenant_id: uuid.UUID, moved: dict[str, list[str]], *, back_to: uuid.UUID
) -> None:
    """Point the rows listed in ``moved`` back at ``back_to``."""
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    for key, ids in moved.items():
        table_name, column = key.split(".", 1)
        table = tables[table_name]
        for start in range(0, len(ids), 1000):
            part = [uuid.UUID(i) for i in ids[start : start + 1000]]
            db.execute(
                update(table)
                .where(table.c.tenant_id == tenant_id, table.c.id.in_(part))
                .values({column: back_to})
            )


def snapshot_profile(customer: Customer) -> dict[str, Any]:
    """Return the profile fields as JSON, PII encrypted (snapshots never hold plaintext PII)."""
    out: dict[str, Any] = {}
    for field in Customer.PROFILE_FIELDS:
        value = getattr(customer, field)
        if value is not None and field in Customer.PII_FIELDS:
            value = keyring().encrypt(value)
        elif isinstance(value, uuid.UUID | date):
            value = value.isoformat() if isinstance(value, date) else str(value)
        out[field] = value
    return out


def restore_profile(customer: Customer, snapshot: dict[str, Any]) -> None:
    """Set the profile fields back to a ``snapshot_profile`` result."""
    for field, value in snapshot.items():
        if value is not None:
            if field in Customer.PII_FIELDS:
                value = keyring().decrypt(value)
            elif field in ("org_unit_id", "owner_staff_id"):
                value = uuid.UUID(value)
            elif field == "birthday_on":
                value = date.fromisoformat(value)
        setattr(customer, field, value)


def fill_gaps(survivor: Customer, other: Customer, rules: Survivorship) -> list[str]:
    """Golden record of a merge: each field follows the tenant's survivorship rule.

    By default the survivor keeps its values and takes the other's where it has none; under
    ``latest`` the customer updated more recently gives the value, under ``source_priority`` the
    more trusted source does. Returns the fields taken from ``other``.
    """
    taken = []
    mine_from, theirs_from = survivor.field_sources or {}, other.field_sources or {}
    newer = other.updated_at is not None and (
        survivor.updated_at is None or other.updated_at > survivor.updated_at
    )
    for field in SURVIVING_FIELDS:
        if not takes(
            rules.rule_for(field),
            current=getattr(survivor, field),
            current_source=mine_from.get(field),
            incoming=getattr(other, field),
            incoming_source=theirs_from.get(field),
            incoming_is_newer=newer,
        ):
            continue
        setattr(survivor, field, getattr(other, field))
        if field in Customer.PII_FIELDS:
            setattr(survivor, f"{field}_bidx", getattr(other, f"{field}_bidx"))
        if field in theirs_from:
            survivor.field_sources = {**(survivor.field_sources or {}), field: theirs_from[field]}
        taken.append(field)
    return taken
