"""Batch OneID: resolve many records at once with the same outcome as resolving them in turn.

A batch (an import's 50,000 rows, an API call's 1,000 events) is resolved in a few queries:
the keys' owners are looked up in bulk, records and existing customers are joined by union-find
over shared keys, and each connected component becomes one customer — a new one, or the one
existing customer it touches. Components that bridge several existing customers merge them into
the oldest, all at once (``bridges``: one statement per referencing table for the whole batch,
each merge logged with its evidence and undoable). Components that need the careful path — they
would give one customer more than the fan-out limit of distinct exclusive ids (a shared phone,
flagged as junk), or they bridge customers an operator split or the actor cannot see — go
through ``service.resolve`` record by record, exactly as they would have alone.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from siyu.core import heap
from siyu.core.actor import Actor
from siyu.core.append import append_frame, frame_ids, one_of
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.db import session_tenant
from siyu.customers import bulk as customer_bulk
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerCreate
from siyu.events.models import Event, EventType
from siyu.identity import bridges, service
from siyu.identity.keys import EXCLUSIVE, IdentityKey, junk_reason, key_hash_list
from siyu.identity.models import Identity, JunkKey, JunkStatus
from siyu.security.rbac import Perm, require

_CHUNK = 20_000
_FILLED_LIMIT = 1_000_000
"""At most this many customers in a ``filled`` (some 100 bytes each); the others are read."""
_OWNERS_LIMIT = 1_000_000
"""At most this many keys in an ``Owners`` (some 150 bytes each); the others are looked up."""
_IDENTITY: Table = Identity.__table__  # type: ignore[assignment]  # a mapped class's Table
_JUNK: Table = JunkKey.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Record:
    """One record to resolve: its strong keys and what it says about the person."""

    keys: Sequence[IdentityKey]
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class BatchResolution:
    """The customer of each record (same order as the input) and which of them are new."""

    customer_ids: list[uuid.UUID]
    created: set[uuid.UUID] = field(default_factory=set)
    merged_ids: list[uuid.UUID] = field(default_factory=list)
    junk_keys: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Prepared:
    """A batch of records with what resolving them takes from Python alone (``prepare``).

    Keys are numbered: ``keys[n]`` is key number ``n``, ``hash_of[n]`` its blind index, ``uses[n]``
    how many records carry it; ``coded[i]`` are record ``i``'s distinct key numbers. ``static``
    holds the numbers of keys junk by their value alone (with why); ``hashed`` the others'
    numbers by hash.
    """

    tenant_id: uuid.UUID
    records: Sequence[Record]
    keys: list[IdentityKey]
    coded: list[list[int]]
    uses: list[int]
    hash_of: list[str]
    static: dict[int, str]
    hashed: dict[str, int]
    exclusive: list[bool]


@dataclass
class Owners:
    """The owners of the keys a unit of work stored itself, batch after batch (an import):
    later batches take them from here instead of looking them up. No other transaction can see
    those identities; a merge moves a merged customer's identities to its survivor, so the keys
    of merged customers leave (``drop``) and are looked up again.
    """

    by_hash: dict[str, uuid.UUID] = field(default_factory=dict)
    since: datetime | None = None  # when the oldest of them was stored ("seen" then)

    def forget(self) -> None:
        self.by_hash.clear()
        self.since = None

    def drop(self, customers: set[uuid.UUID]) -> None:
        """Forget the keys owned by these customers."""
        for key_hash in [h for h, owner in self.by_hash.items() if owner in customers]:
            del self.by_hash[key_hash]


def prepare(tenant_id: uuid.UUID, records: Sequence[Record]) -> Prepared:
    """Number, hash and screen a batch's keys for ``tenant_id``, without the database.

    ``resolve_batch`` does this itself when given the records; a job that resolves batch after
    batch prepares the next batch while the database still writes the last one (its ``COPY``s
    run on ``core.pgcopy``'s helper thread until the unit of work commits).
    """
    with heap.bulk():
        number: dict[IdentityKey, int] = {}  # each distinct key is numbered once
        coded = [
            list(dict.fromkeys([number.setdefault(k, len(number)) for k in r.keys]))
            for r in records
        ]
        keys = list(number)
        uses = [0] * len(keys)
        for codes in coded:
            for n in codes:
                uses[n] += 1
        hash_of = key_hash_list(tenant_id, keys)
        static = {n: reason for n, k in enumerate(keys) if (reason := junk_reason(k)) is not None}
        hashed = {hash_of[n]: n for n in range(len(keys)) if n not in static}
        exclusive = [k.kind in EXCLUSIVE for k in keys]
    return Prepared(tenant_id, records, keys, coded, uses, hash_of, static, hashed, exclusive)


def _owned(
    db: Session, hashed: Mapping[str, int], stale_before: datetime | None = None
) -> tuple[dict[int, uuid.UUID], list[str]]:
    """Return the customer owning each key (``hashed``: number by hash) and the hashes of owned
    keys last seen before ``stale_before`` — chunked queries that use the unique index.

    Core statements (rows as plain tuples, no ORM loading), so each names the session's tenant.
    """
    tenant_id = session_tenant(db)
    owners: dict[int, uuid.UUID] = {}
    stale: list[str] = []
    identity = _IDENTITY.c
    wanted = list(hashed)
    for start in range(0, len(wanted), _CHUNK):
        rows = db.execute(
            select(identity.key_hash, identity.customer_id, identity.last_seen_at).where(
                identity.tenant_id == tenant_id,
                one_of(db, identity.key_hash, wanted[start : start + _CHUNK]),
            )
        )
        for key_hash, owner, seen in rows:
            owners[hashed[key_hash]] = owner
            if stale_before is not None and seen < stale_before:
                stale.append(key_hash)
    return owners, stale


def owners_of(
    db: Session, keys: Sequence[IdentityKey], hashes: Mapping[IdentityKey, str]
) -> dict[IdentityKey, uuid.UUID]:
    """Return the customer owning each key (those nobody owns are left out)."""
    owned, _ = _owned(db, {hashes[k]: n for n, k in enumerate(keys)})
    return {keys[n]: owner for n, owner in owned.items()}


def _flagged(db: Session, hashed: Mapping[str, int]) -> set[int]:
    """Return the numbers of keys flagged as junk earlier (``hashed``: number by hash).

    A tenant has few flagged keys (store phones, placeholders): for a batch of at least
    ``_CHUNK`` keys, all of them are read at once when there are at most ``_CHUNK``, which costs
    the server far less than probing the index for every key of the batch; else (and for small
    batches) the batch's keys are looked up, chunk by chunk.
    """
    tenant_id = session_tenant(db)  # Core statements: they name the tenant themselves
    flagged = (_JUNK.c.tenant_id == tenant_id, _JUNK.c.status == JunkStatus.FLAGGED)
    wanted = list(hashed)
    if len(wanted) >= _CHUNK:
        listed = db.scalars(select(_JUNK.c.key_hash).where(*flagged).limit(_CHUNK + 1)).all()
        if len(listed) <= _CHUNK:
            return {hashed[h] for h in listed if h in hashed}
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        rows = db.execute(
            select(_JUNK.c.key_hash).where(
                *flagged, one_of(db, _JUNK.c.key_hash, wanted[start : start + _CHUNK])
            )
        )
        found.update(hashed[h] for (h,) in rows)
    return found


def _exclusive_counts(
    db: Session, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Counter[tuple[str, str]]]:
    counts: dict[uuid.UUID, Counter[tuple[str, str]]] = defaultdict(Counter)
    exclusive = [k.value for k in EXCLUSIVE]
    tenant_id = session_tenant(db)
    identity = _IDENTITY.c
    for start in range(0, len(customer_ids), _CHUNK):
        rows = db.execute(
            select(identity.customer_id, identity.kind, identity.namespace, func.count())
            .where(
                identity.tenant_id == tenant_id,
                one_of(db, identity.customer_id, customer_ids[start : start + _CHUNK]),
                identity.kind.in_(exclusive),
            )
            .group_by(identity.customer_id, identity.kind, identity.namespace)
        )
        for customer_id, kind, namespace, count in rows:
            counts[customer_id][(kind, namespace)] = count
    return counts


def resolve_batch(
    db: Session,
    actor: Actor,
    records: Sequence[Record] | Prepared,
    *,
    source: str,
    fanout_limit: int | None = service.DEFAULT_FANOUT_LIMIT,
    clock: Clock = SYSTEM_CLOCK,
    filled: customer_bulk.Filled | None = None,
    owners: Owners | None = None,
) -> BatchResolution:
    """Resolve every record to a customer, creating, joining or bridging customers.

    ``records`` may come prepared (``prepare``) for the actor's tenant. ``filled``, kept by a
    caller resolving several batches in one unit of work (an import), learns the profile
    fields of the customers each batch creates, so that a later batch fills their gaps without
    reading them (``customers.bulk.Filled``); customers merged or resolved one by one leave it.
    ``owners`` (``Owners``), kept the same way, spares later batches the look-up of the keys
    earlier ones stored.
    """
    require(actor, Perm.CUSTOMERS_WRITE)
    if isinstance(records, Prepared) and records.tenant_id != actor.tenant_id:
        raise ValueError("the batch was prepared for another tenant")  # blind indexes differ
    with heap.bulk():  # large batches make millions of short-lived objects
        if not isinstance(records, Prepared):
            records = prepare(actor.tenant_id, records)
        return _resolve_batch(
            db,
            actor,
            records,
            source,
            fanout_limit,
            clock,
            {} if filled is None else filled,
            Owners() if owners is None else owners,
        )


def _resolve_batch(
    db: Session,
    actor: Actor,
    batch: Prepared,
    source: str,
    fanout_limit: int | None,
    clock: Clock,
    filled: customer_bulk.Filled,
    stored: Owners,
) -> BatchResolution:
    tenant_id = actor.tenant_id
    now = clock.now()
    # keys come numbered (``prepare``): the graph work below hashes small ints, not keys
    records, keys, coded, hash_of = batch.records, batch.keys, batch.coded, batch.hash_of
    exclusive = batch.exclusive
    junk = {**batch.static, **dict.fromkeys(_flagged(db, batch.hashed), "flagged earlier")}
    if fanout_limit is not None:
        crowded = _crowded_numbers(
            [[n for n in codes if n not in junk] for codes in coded],
            exclusive,
            [k.space for k in keys],
            fanout_limit,
        )
        junk.update(dict.fromkeys(crowded, f"links more than {fanout_limit} distinct people"))
    for n, reason in junk.items():
        service.flag_junk(db, actor, keys[n], reason, clock=clock, hits=batch.uses[n])
    is_junk = [False] * len(keys)
    for n in junk:
        is_junk[n] = True
    ucoded = [[n for n in codes if not is_junk[n]] for codes in coded]
    live = {h: n for h, n in batch.hashed.items() if not is_junk[n]}
    seen_recently = now - timedelta(days=1)
    if stored.since is not None and stored.since < seen_recently:
        stored.forget()  # their last_seen_at needs moving: look them up
    known = stored.by_hash
    kept = {n: known[h] for h, n in live.items() if h in known}
    owned, stale = _owned(
        db, {h: n for h, n in live.items() if h not in known} if kept else live, seen_recently
    )
    owned.update(kept)
    owner_of: list[uuid.UUID | None] = [None] * len(keys)
    for n, owner in owned.items():
        owner_of[n] = owner

    # union-find over key numbers, each existing customer a node after the keys
    node_of: dict[uuid.UUID, int] = {}
    for owner in owned.values():
        node_of.setdefault(owner, len(keys) + len(node_of))
    parent = list(range(len(keys) + len(node_of)))

    def find(node: int) -> int:
        root = node
        while parent[root] != root:
            root = parent[root]
        while node != root:  # path compression, iteratively: chains can be long
            parent[node], node = root, parent[node]
        return root

    for n, owned_by in enumerate(owner_of):
        if owned_by is not None:
            parent[find(n)] = find(node_of[owned_by])
    for codes in ucoded:
        if len(codes) > 1:
            first = find(codes[0])
            for n in codes[1:]:
                other = find(n)
                if other != first:
                    parent[other] = first
    members: dict[int, list[int]] = defaultdict(list)
    lonely: list[int] = []
    for index, codes in enumerate(ucoded):
        if codes:
            members[find(codes[0])].append(index)
        else:
            lonely.append(index)

    # each component's distinct keys (a lone record's are its own, already distinct)
    component_keys: dict[int, Sequence[int]] = {
        root: ucoded[indexes[0]]
        if len(indexes) == 1
        else list({n for i in indexes for n in ucoded[i]})
        for root, indexes in members.items()
    }
    touched: dict[int, set[uuid.UUID]] = {}
    exclusive_new: set[int] = set()  # components bringing an exclusive key nobody owns yet
    for root, component in component_keys.items():
        found: set[uuid.UUID] = set()
        for n in component:
            holder = owner_of[n]
            if holder is not None:
                found.add(holder)
            elif exclusive[n]:
                exclusive_new.add(root)
        touched[root] = found
    bridging = bridges.mergeable(
        db, actor, {root: found for root, found in touched.items() if len(found) > 1}
    )
    # only a bridge or a new exclusive key can take a customer past the fan-out limit
    counted = sorted(
        {cid for root, found in touched.items() if len(found) > 1 or root in exclusive_new
         for cid in found}
    )  # fmt: skip
    existing_counts = _exclusive_counts(db, counted) if fanout_limit is not None else {}

    result = BatchResolution(customer_ids=[uuid.UUID(int=0)] * len(records))
    careful: list[int] = []
    new_groups: list[list[int]] = []
    joins: dict[uuid.UUID, list[int]] = defaultdict(list)
    merges: list[bridges.Bridge] = []
    for root, indexes in members.items():
        found = touched[root]
        if len(found) > 1 and root not in bridging:
            careful.extend(indexes)
            continue
        if fanout_limit is not None and (len(found) > 1 or root in exclusive_new):
            # merged together, the customers would hold all their exclusive ids at once
            counts: Counter[tuple[str, str]] = Counter()
            for owner in found:
                if owner in existing_counts:
                    counts.update(existing_counts[owner])
            for n in component_keys[root]:
                if exclusive[n] and owner_of[n] is None:
                    counts[keys[n].space] += 1
            if any(count > fanout_limit for count in counts.values()):
                careful.extend(indexes)
                continue
        if len(found) > 1:
            survivor, *others = bridging[root]
            evidence: dict[uuid.UUID, list[str]] = defaultdict(list)
            for n in component_keys[root]:
                holder = owner_of[n]
                if holder is not None:
                    evidence[holder].append(keys[n].label)
            merges.append(bridges.Bridge(survivor=survivor, others=others, keys=evidence))
            joins[survivor.id].extend(indexes)
        elif found:
            joins[next(iter(found))].extend(indexes)
        else:
            new_groups.append(indexes)
    new_groups.extend([i] for i in lonely)
    result.merged_ids.extend(bridges.merge_bridges(db, actor, merges, source=source, clock=clock))
    for merge in merges:  # a survivor takes on the others' fields
        for customer in (merge.survivor, *merge.others):
            filled.pop(customer.id, None)

    customer_bulk.apply_many(
        db,
        actor,
        {cid: _latest_values(records, indexes) for cid, indexes in joins.items()},
        source=source,
        filled=filled,
    )
    # from here the appends' COPYs run while the next frame is built (``core.pgcopy``)
    profiles = [_first_values(records, indexes) for indexes in new_groups]
    created = customer_bulk.create_many(db, actor, profiles, source=source, now=now, wait=False)
    result.created.update(created)
    for customer_id, profile in zip(created, profiles, strict=True):
        if len(filled) >= _FILLED_LIMIT:
            break
        filled[customer_id] = customer_bulk.filled_fields(profile)
    for customer_id, indexes in zip(created, new_groups, strict=True):
        for i in indexes:
            result.customer_ids[i] = customer_id
    for customer_id, indexes in joins.items():
        for i in indexes:
            result.customer_ids[i] = customer_id

    fresh: dict[int, uuid.UUID] = {}  # keys nobody owned: the customer of their first record
    for indexes in [*new_groups, *joins.values()]:
        for i in indexes:
            customer_id = result.customer_ids[i]
            for n in ucoded[i]:
                if owner_of[n] is None and n not in fresh:
                    fresh[n] = customer_id
    _append_identities(db, tenant_id, fresh, keys, hash_of, source=source, now=now)
    if len(known) + len(fresh) <= _OWNERS_LIMIT:
        known.update((hash_of[n], customer_id) for n, customer_id in fresh.items())
        stored.since = now if stored.since is None else min(stored.since, now)
    _touch(db, stale, now)
    label_of: dict[int, str] = {}
    _append_created_events(
        db,
        tenant_id,
        [
            (cid, _labels([n for i in indexes for n in ucoded[i]], keys, label_of))
            for cid, indexes in zip(created, new_groups, strict=True)
        ],
        source=source,
        now=now,
    )

    merged_carefully: list[uuid.UUID] = []
    for i in careful:  # in input order, as if each record came alone
        resolution = service.resolve(
            db,
            actor,
            keys=[keys[n] for n in ucoded[i]],
            source=source,
            profile=CustomerCreate(**_first_values(records, [i])),
            fanout_limit=fanout_limit,
            clock=clock,
        )
        result.customer_ids[i] = resolution.customer_id
        for customer_id in (resolution.customer_id, *resolution.merged_ids):
            filled.pop(customer_id, None)
        if resolution.created:
            result.created.add(resolution.customer_id)
        merged_carefully.extend(resolution.merged_ids)
        result.junk_keys.update(resolution.junk_keys)
    if merged_carefully:  # a later careful record may have merged an earlier one's customer
        result.merged_ids.extend(merged_carefully)
        _follow_merges(db, result, merged_carefully)
    result.junk_keys.update(keys[n].label for n in junk)
    if result.merged_ids:  # merged customers' identities moved to their survivors
        stored.drop(set(result.merged_ids))
    return result


def _latest_values(records: Sequence[Record], indexes: Sequence[int]) -> dict[str, Any]:
    """What a batch says last about a known customer: each field's last non-empty value.

    Under ``keep_first`` only gaps are filled, so which batch value fills them matters little;
    under ``latest`` the batch's last word is the latest.
    """
    return _first_values(records, list(reversed(indexes)))


def _crowded_keys(records: Sequence[Sequence[IdentityKey]], limit: int) -> set[IdentityKey]:
    """Shared keys seen in one batch with more than ``limit`` distinct people's exclusive ids.

    A phone on records of five different Tmall buyers is a store's own phone typed for walk-in
    customers, not a person: it is flagged before it links anyone (record by record, the first
    ``limit`` buyers would have been merged before the key was caught).
    """
    number: dict[IdentityKey, int] = {}
    coded = [[number.setdefault(k, len(number)) for k in keys] for keys in records]
    keys = list(number)
    crowded = _crowded_numbers(
        coded,
        [k.kind in EXCLUSIVE for k in keys],
        [k.space for k in keys],
        limit,
    )
    return {keys[n] for n in crowded}


def _crowded_numbers(
    records: Sequence[Sequence[int]],
    exclusive: Sequence[bool],
    space: Sequence[tuple[str, str]],
    limit: int,
) -> set[int]:
    """``_crowded_keys`` over numbered keys: ``exclusive`` and ``space`` (kind, namespace) of
    each key number; within a space, distinct numbers are distinct values."""
    seen: dict[int, dict[tuple[str, str], set[int]]] = {}
    for codes in records:
        ids = [n for n in codes if exclusive[n]]
        if not ids:
            continue
        for n in codes:
            if exclusive[n]:
                continue
            groups = seen.get(n)
            if groups is None:
                groups = seen[n] = {}
            for e in ids:
                found = groups.get(space[e])
                if found is None:
                    groups[space[e]] = {e}
                else:
                    found.add(e)
    return {n for n, groups in seen.items() if any(len(v) > limit for v in groups.values())}


def _labels(
    numbers: Sequence[int], keys: Sequence[IdentityKey], known: dict[int, str]
) -> list[str]:
    """The sorted distinct labels of numbered keys (``known`` caches each number's label)."""
    found = set()
    for n in numbers:
        label = known.get(n)
        if label is None:
            label = known[n] = keys[n].label
        found.add(label)
    return sorted(found)


def _first_values(records: Sequence[Record], indexes: Sequence[int]) -> dict[str, Any]:
    """The golden record of a new customer: each field's first non-empty value, in input order."""
    values: dict[str, Any] = {}
    for i in indexes:
        for name, value in records[i].profile.items():
            if value not in (None, "") and name not in values:
                values[name] = value
    return values


def _touch(db: Session, stale: Sequence[str], now: datetime) -> None:
    """Mark known keys as seen again, to the day: ``stale`` holds the hashes of keys last seen
    before today's window (a key seen today is not rewritten).

    A Core statement per chunk: nothing for the ORM to synchronise or return.
    """
    tenant_id = session_tenant(db)
    identity = _IDENTITY.c
    for start in range(0, len(stale), _CHUNK):
        db.execute(
            update(_IDENTITY)
            .where(
                identity.tenant_id == tenant_id,
                one_of(db, identity.key_hash, stale[start : start + _CHUNK]),
                identity.last_seen_at < now - timedelta(days=1),
            )
            .values(last_seen_at=now)
        )


def _follow_merges(db: Session, result: BatchResolution, merged_ids: Sequence[uuid.UUID]) -> None:
    """Point records at the survivor when their customer was merged later in the batch."""
    merged = set(merged_ids)
    survivors: dict[uuid.UUID, uuid.UUID] = {
        cid: into
        for cid, into in db.execute(
            select(Customer.id, Customer.merged_into_id).where(Customer.id.in_(list(merged)))
        ).all()
        if into is not None
    }
    for i, customer_id in enumerate(result.customer_ids):
        seen: set[uuid.UUID] = set()
        while customer_id in survivors and customer_id not in seen:
            seen.add(customer_id)
            customer_id = survivors[customer_id]
        result.customer_ids[i] = customer_id


def _append_identities(
    db: Session,
    tenant_id: uuid.UUID,
    owners: Mapping[int, uuid.UUID],
    keys: Sequence[IdentityKey],
    hash_of: Sequence[str],
    *,
    source: str,
    now: datetime,
) -> None:
    """Store new keys and their owners (one frame, ``append_frame``): ``owners`` maps key
    numbers (indexes of ``keys`` and of their blind indexes ``hash_of``) to customers."""
    if not owners:
        return
    numbers = list(owners)
    frame = pl.DataFrame(
        {
            "id": frame_ids(len(numbers)),
            "customer_id": [str(c) for c in owners.values()],
            "kind": [str(keys[n].kind) for n in numbers],
            "namespace": [keys[n].namespace for n in numbers],
            "key_hash": [hash_of[n] for n in numbers],
            "value": [keys[n].value for n in numbers],
        },
        schema=dict.fromkeys(
            ("id", "customer_id", "kind", "namespace", "key_hash", "value"), pl.Utf8
        ),
    )
    append_frame(
        db,
        Identity,
        frame,
        {"tenant_id": tenant_id, "source": source, "last_seen_at": now, "created_at": now},
        wait=False,
    )


def _append_created_events(
    db: Session,
    tenant_id: uuid.UUID,
    created: Sequence[tuple[uuid.UUID, Sequence[str]]],
    *,
    source: str,
    now: datetime,
) -> None:
    """Record ``customer.created`` for the customers a batch created, naming their key kinds
    (``created`` pairs each customer with the sorted distinct labels of its keys)."""
    if not created:
        return
    texts: dict[tuple[str, ...], str] = {}
    data = []
    for _, labels in created:
        found = tuple(labels)
        text = texts.get(found)
        if text is None:
            text = texts.setdefault(found, json.dumps({"keys": list(found)}, ensure_ascii=False))
        data.append(text)
    frame = pl.DataFrame(
        {
            "id": frame_ids(len(created)),
            "customer_id": [str(c) for c, _ in created],
            "data": data,
        },
        schema={"id": pl.Utf8, "customer_id": pl.Utf8, "data": pl.Utf8},
    )
    append_frame(
        db,
        Event,
        frame,
        {
            "tenant_id": tenant_id,
            "type": EventType.CUSTOMER_CREATED.value,
            "occurred_at": now,
            "recorded_at": now,
            "source": source,
            "idempotency_key": None,
        },
        wait=False,
    )
