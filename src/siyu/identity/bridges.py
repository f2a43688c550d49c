"""Bridging merges of a batch, set-based: each component's customers fold into its oldest.

A component of a batch that touches several existing customers bridges them: record by record,
``service.resolve`` would merge them into the oldest, one pair at a time. Here every bridging
component of the batch merges at once — references moved with one statement per referencing
table, merge records (evidence and undo snapshot each) and ``customer.merged`` events appended
in bulk — with the same survivor, the same customers merged and a snapshot per merge that undoes
it exactly. A component whose customers are not all active and in the actor's scope, or that
holds a pair an operator split by undoing a merge, takes the careful path instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.append import append_rows, one_of
from siyu.core.clock import Clock
from siyu.core.ids import new_id
from siyu.customers import merge as customer_merge
from siyu.customers import service as customers
from siyu.customers.models import Customer
from siyu.events.models import Event, EventType
from siyu.identity.models import MergeMethod, MergeRecord

_CHUNK = 5_000


@dataclass(frozen=True)
class Bridge:
    """One component's merge: the others fold into the survivor; ``keys`` is the evidence."""

    survivor: Customer
    others: Sequence[Customer]
    keys: Mapping[uuid.UUID, Sequence[str]]
    """Labels of the component's keys each other customer owned (what links it)."""


def mergeable(
    db: Session, actor: Actor, touched: Mapping[Hashable, set[uuid.UUID]]
) -> dict[Hashable, list[Customer]]:
    """Return, for each component that can merge set-based, its customers oldest first."""
    wanted = sorted({cid for found in touched.values() for cid in found})
    loaded: dict[uuid.UUID, Customer] = {}
    for start in range(0, len(wanted), _CHUNK):
        for customer in customers.get_many(db, actor, wanted[start : start + _CHUNK]):
            loaded[customer.id] = customer
    split = _split_pairs(db, wanted)
    out: dict[Hashable, list[Customer]] = {}
    for root, found in touched.items():
        if not found <= loaded.keys():
            continue  # merged meanwhile, or outside the actor's scope: resolve decides
        if any(frozenset((a, b)) in split for a in found for b in found if a != b):
            continue
        out[root] = sorted((loaded[cid] for cid in found), key=lambda c: (c.created_at, c.id))
    return out


def _split_pairs(db: Session, ids: Sequence[uuid.UUID]) -> set[frozenset[uuid.UUID]]:
    """Pairs among ``ids`` an operator separated by undoing a merge (never merged again)."""
    among = set(ids)
    pairs: set[frozenset[uuid.UUID]] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = db.execute(
            select(MergeRecord.survivor_id, MergeRecord.merged_id).where(
                one_of(db, MergeRecord.survivor_id, ids[start : start + _CHUNK]),
                MergeRecord.undone_at.is_not(None),
            )
        )
        pairs.update(frozenset(r) for r in rows if r.merged_id in among)
    return pairs


def merge_bridges(
    db: Session, actor: Actor, bridges: Sequence[Bridge], *, source: str, clock: Clock
) -> list[uuid.UUID]:
    """Merge every bridge's others into its survivor, logged and undoable; return merged ids."""
    if not bridges:
        return []
    snapshots = customer_merge.merge_many(db, actor, [(b.survivor, b.others) for b in bridges])
    now = clock.now()
    method = MergeMethod.DETERMINISTIC.value
    records: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    for bridge in bridges:
        for other in bridge.others:
            merge_id = new_id()
            records.append(
                {
                    "tenant_id": actor.tenant_id,
                    "id": merge_id,
                    "survivor_id": bridge.survivor.id,
                    "merged_id": other.id,
                    "method": method,
                    "evidence": {
                        "rule": "shared strong key",
                        "keys": sorted(set(bridge.keys.get(other.id, ()))),
                        "source": source,
                    },
                    "snapshot": snapshots[other.id],
                    "actor_label": actor.label,
                    "merged_at": now,
                    "undone_at": None,
                }
            )
            events.append(
                {
                    "tenant_id": actor.tenant_id,
                    "id": new_id(),
                    "type": EventType.CUSTOMER_MERGED.value,
                    "occurred_at": now,
                    "recorded_at": now,
                    "customer_id": bridge.survivor.id,
                    "source": "siyu",
                    "idempotency_key": None,
                    "data": {
                        "merged_id": str(other.id),
                        "merge_id": str(merge_id),
                        "method": method,
                    },
                }
            )
    append_rows(db, MergeRecord, records)
    append_rows(db, Event, events)
    return [other.id for bridge in bridges for other in bridge.others]
