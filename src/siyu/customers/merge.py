"""Moving everything that points at one customer onto another, and back.

Every table with a foreign key to ``customer`` is found from the metadata, so a domain added later
(tags, contact relations, tasks…) is carried along by merges and unmerges without changes here.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    UniqueConstraint,
    Uuid,
    bindparam,
    exists,
    func,
    select,
    update,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.clock import utcnow
from siyu.core.db import Base
from siyu.core.errors import Conflict
from siyu.customers import survivorship
from siyu.customers.models import Customer
from siyu.customers.survivorship import SURVIVING_FIELDS, Survivorship, takes
from siyu.security.pii import keyring
from siyu.security.rbac import Perm, require

_PAIR_CHUNK = 10_000


def customer_references() -> list[tuple[Table, str]]:
    """Return ``(table, column)`` for every column that refers to a customer.

    Found by foreign key, or declared with ``info=CUSTOMER_REF`` on tables that keep none (the
    high-volume tables imports append to, ``core.append.AppendScoped``).
    """
    refs = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_key_constraints:
            if fk.referred_table.name != "customer":
                continue
            for column in fk.columns:
                if column.name != "tenant_id":
                    refs.append((table, column.name))
        for column in table.columns:
            if column.info.get("refers_to") == "customer" and (table, column.name) not in refs:
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


def _no_duplicate_on(
    table: Table, column: str, target_id: uuid.UUID | ColumnElement[Any]
) -> list[Any]:
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


def move_references_many(
    db: Session, tenant_id: uuid.UUID, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> dict[uuid.UUID, dict[str, list[str]]]:
    """``move_references`` for many ``(source_id, target_id)`` pairs, a statement per table.

    Returns the moved row ids of each source, as ``move_references`` would have for it alone.
    Several sources folding into one target move in rounds, one source per target per round and
    in the order given, so a row that would duplicate one the target already took from an
    earlier source stays behind exactly as it does when the pairs are merged one by one. Sources
    must not be targets.
    """
    rounds: list[dict[uuid.UUID, uuid.UUID]] = []  # per round: target -> its source
    taken: dict[uuid.UUID, int] = defaultdict(int)
    for source_id, target_id in pairs:
        n = taken[target_id]
        taken[target_id] += 1
        if n == len(rounds):
            rounds.append({})
        rounds[n][target_id] = source_id
    moved: dict[uuid.UUID, dict[str, list[str]]] = defaultdict(dict)
    references = customer_references()
    joined = db.get_bind().dialect.name == "postgresql"
    for by_target in rounds:
        in_round = [(source_id, target_id) for target_id, source_id in by_target.items()]
        for start in range(0, len(in_round), _PAIR_CHUNK):
            pair = _pair_rows(db, in_round[start : start + _PAIR_CHUNK])
            for table, column_name in references:
                column = table.c[column_name]
                moving: ColumnElement[bool]
                target: ColumnElement[Any]
                if joined:  # UPDATE … FROM the pairs
                    moving, target = column == pair.c.source, pair.c.target
                else:
                    # SQLite has no statistics on the pairs and would scan the tenant's rows
                    # once per pair; as "one of the sources" it looks each source up by index
                    moving = column.in_(select(pair.c.source))
                    target = (  # correlated explicitly: the duplicate checks nest it deeper
                        select(pair.c.target)
                        .where(pair.c.source == column)
                        .correlate(table)
                        .scalar_subquery()
                    )
                rows = db.execute(
                    update(table)
                    .where(
                        table.c.tenant_id == tenant_id,
                        moving,
                        *_no_duplicate_on(table, column_name, target),
                    )
                    .values({column_name: target})
                    .returning(table.c.id, column)
                )
                key = f"{table.name}.{column_name}"
                for row_id, target_id in rows:  # the new value names the target: one per round
                    moved[by_target[target_id]].setdefault(key, []).append(str(row_id))
    return dict(moved)


def _pair_rows(db: Session, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> FromClause:
    """The pairs as a row source with columns ``source`` and ``target``, in one parameter.

    PostgreSQL unpacks a JSON array with ``json_to_recordset`` into typed columns; SQLite walks
    it with ``json_each``, the ids written as SQLite stores them (it has no uuid type).
    """
    dialect = db.get_bind().dialect
    if dialect.name == "postgresql":
        payload = [{"source": str(s), "target": str(t)} for s, t in pairs]
        return (
            func.json_to_recordset(bindparam("pairs", payload, type_=postgresql.JSON))
            .table_valued(sql_column("source", Uuid()), sql_column("target", Uuid()))
            .render_derived(name="pair", with_types=True)
        )
    if dialect.name != "sqlite":
        raise NotImplementedError(f"bulk merges on {dialect.name} are not supported")
    stored = Uuid().bind_processor(dialect)
    if stored is None:
        raise NotImplementedError("SQLite stores uuids as text; no converter was found")
    each = func.json_each(
        bindparam("pairs", json.dumps([[stored(s), stored(t)] for s, t in pairs]))
    ).table_valued("value")
    return select(
        func.json_extract(each.c.value, "$[0]").label("source"),
        func.json_extract(each.c.value, "$[1]").label("target"),
    ).subquery("pair")


def merge_many(
    db: Session, actor: Actor, groups: Sequence[tuple[Customer, Sequence[Customer]]]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Fold each group's other customers into its survivor; return each merged id's snapshot.

    The set-based ``customers.service.merge_customers``: the caller passes active customers in
    the actor's scope, each in one group at most (a survivor is nobody's other). The others of a
    group fold in the order given, each taking the survivor's profile as the previous one left
    it, so every snapshot undoes its own merge exactly as after one-by-one merges.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    rules = survivorship.rules(db, actor)
    snapshots: dict[uuid.UUID, dict[str, Any]] = {}
    pairs: list[tuple[uuid.UUID, uuid.UUID]] = []
    for survivor, others in groups:
        for other in others:
            if other.id == survivor.id:
                raise Conflict(f"customer {other.id} cannot be merged into itself")
            snapshot: dict[str, Any] = {"survivor_profile": snapshot_profile(survivor)}
            snapshot["moved"] = {}
            snapshot["taken"] = fill_gaps(survivor, other, rules)
            if snapshot["taken"]:  # as the flush after a one-by-one merge would stamp it
                survivor.updated_at = utcnow()
            other.merged_into_id = survivor.id
            snapshots[other.id] = snapshot
            pairs.append((other.id, survivor.id))
    db.flush()
    for other_id, moved in move_references_many(db, actor.tenant_id, pairs).items():
        snapshots[other_id]["moved"] = moved
    return snapshots


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
