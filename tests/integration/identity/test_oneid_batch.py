"""Batch OneID: the same customers as resolving record by record, in a few queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from siyu.core.actor import Actor
from siyu.core.clock import SYSTEM_CLOCK, FixedClock
from siyu.core.db import Database, unit_of_work
from siyu.customers.models import Customer
from siyu.identity import bulk
from siyu.identity import service as identity
from siyu.identity.keys import IdentityKey, KeyKind, junk_reason, make_key
from siyu.identity.models import Identity, JunkKey, JunkStatus, MergeRecord
from tests.factories import bare_tenant
from tests.integration.identity.test_oneid import components

FIXTURE = HealthCheck.function_scoped_fixture
PHONES = ["13911110001", "13911110002", "13800138000"]  # the last one is a blocklisted number
keys_strategy = st.lists(
    st.one_of(
        st.sampled_from(PHONES).map(lambda v: make_key(KeyKind.PHONE, v)),
        st.sampled_from(["oU-a", "oU-b", "oU-c"]).map(lambda v: make_key(KeyKind.UNIONID, v)),
        st.sampled_from(["amy", "bob", "cat", "dan", "eve"]).map(
            lambda v: make_key(KeyKind.BUYER, v, "tmall")
        ),
    ),
    min_size=0,
    max_size=3,
)


def live_customers(db, resolved: list[uuid.UUID]) -> list[uuid.UUID]:
    """Each record's customer after following merges."""
    into = dict(db.execute(select(Customer.id, Customer.merged_into_id)).all())

    def live(cid: uuid.UUID) -> uuid.UUID:
        while into[cid] is not None:
            cid = into[cid]
        return cid

    return [live(c) for c in resolved]


def same_partition(a: Sequence[object], b: Sequence[object]) -> bool:
    return all((a[i] == a[j]) == (b[i] == b[j]) for i in range(len(a)) for j in range(len(a)))


def sequential(db, actor: Actor, records: list[list[IdentityKey]]) -> list[uuid.UUID]:
    return [identity.resolve(db, actor, keys=k, source="test").customer_id for k in records]


@settings(max_examples=20, deadline=None, suppress_health_check=[FIXTURE])
@given(
    before=st.lists(keys_strategy, max_size=5),
    batch=st.lists(keys_strategy, min_size=1, max_size=10),
)
def test_batch_gives_the_customers_of_resolving_in_turn(
    database: Database, before: list[list[IdentityKey]], batch: list[list[IdentityKey]]
) -> None:
    # a key crowded within the batch is caught before it links anyone (tested below); record by
    # record, it would have merged the first few people first
    assume(
        not bulk._crowded_keys([[k for k in keys if junk_reason(k) is None] for keys in batch], 3)
    )
    one, other = bare_tenant(), bare_tenant()
    with unit_of_work(one) as db:
        expected = live_customers(db, sequential(db, one, before + batch))
        junk_expected = db.scalar(select(func.count()).select_from(JunkKey))
    with unit_of_work(other) as db:
        earlier = sequential(db, other, before)
        result = bulk.resolve_batch(db, other, [bulk.Record(keys=k) for k in batch], source="test")
        got = live_customers(db, earlier + result.customer_ids)
        junk_got = db.scalar(select(func.count()).select_from(JunkKey))
        # every key the batch brought is owned by the customer its record resolved to
        owners = dict(db.execute(select(Identity.key_hash, Identity.customer_id)).all())
        junk = set(db.scalars(select(JunkKey.key_hash)))
        for keys, cid in zip(batch, got[len(before) :], strict=True):
            for key in keys:
                key_hash = key.hash(other.tenant_id)
                if key_hash not in junk:
                    assert live_customers(db, [owners[key_hash]]) == [cid]
    assert same_partition(expected, got), (before, batch)
    assert junk_got == junk_expected


@settings(max_examples=15, deadline=None, suppress_health_check=[FIXTURE])
@given(
    records=st.lists(
        st.lists(
            st.sampled_from(["13911110001", "13911110002", "13911110003"]).map(
                lambda v: make_key(KeyKind.PHONE, v)
            ),
            min_size=1,
            max_size=2,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_batch_without_fanout_limit_equals_connected_components(
    database: Database, records: list[list[IdentityKey]]
) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        result = bulk.resolve_batch(
            db, actor, [bulk.Record(keys=k) for k in records], source="test", fanout_limit=None
        )
        expected = components(records)
        assert same_partition(expected, result.customer_ids)
        assert len(result.created) == len(set(expected))
        assert db.scalar(select(func.count()).select_from(MergeRecord)) == 0


def test_batch_fills_profile_gaps_and_creates_with_first_values(database: Database) -> None:
    actor = bare_tenant()
    phone = make_key(KeyKind.PHONE, "13911112222")
    buyer = make_key(KeyKind.BUYER, "amy", "tmall")
    with unit_of_work(actor) as db:
        first = bulk.resolve_batch(
            db,
            actor,
            [
                bulk.Record(keys=[buyer], profile={"name": None, "city": "杭州市"}),
                bulk.Record(keys=[buyer, phone], profile={"name": "王芳", "city": "上海市"}),
            ],
            source="tmall",
        )
        (cid,) = set(first.customer_ids)
        assert first.created == {cid}
        customer = db.get(Customer, (actor.tenant_id, cid))
        assert customer is not None
        assert (customer.name, customer.city) == ("王芳", "杭州市")
        second = bulk.resolve_batch(
            db,
            actor,
            [bulk.Record(keys=[phone], profile={"province": "浙江省", "city": "宁波市"})],
            source="pos",
        )
        assert second.customer_ids == [cid]
        assert not second.created
        db.expire_all()
        customer = db.get(Customer, (actor.tenant_id, cid))
        assert customer is not None
        # the gap is filled, the known city is not overwritten
        assert (customer.province, customer.city) == ("浙江省", "杭州市")


profile_strategy = st.fixed_dictionaries(
    {
        "name": st.sampled_from([None, "王芳", "李雷"]),
        "phone": st.sampled_from([None, "13911110001", "13911119999"]),
        "city": st.sampled_from([None, "杭州市", "上海市"]),
        "province": st.sampled_from([None, "浙江省"]),
    }
)
records_strategy = st.lists(
    st.tuples(keys_strategy, profile_strategy).map(lambda r: bulk.Record(keys=r[0], profile=r[1])),
    min_size=1,
    max_size=6,
)


def profiles_of(db, customer_ids: list[uuid.UUID]) -> list[tuple[object, ...]]:
    """What each record's live customer holds, field by field (with the fields' sources)."""
    by_id = {c.id: c for c in db.scalars(select(Customer))}
    return [
        (c.name, c.phone, c.phone_bidx is not None, c.city, c.province, c.field_sources)
        for c in (by_id[cid] for cid in live_customers(db, customer_ids))
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[FIXTURE])
@given(batches=st.lists(records_strategy, min_size=2, max_size=4))
def test_batches_sharing_what_they_filled_store_the_same_profiles(
    database: Database, batches: list[list[bulk.Record]]
) -> None:
    """An import's batches keep the fields of the customers they created (``filled``) and the
    owners of the keys they stored (``owners``), and fill later gaps and find those owners
    without reading them back: the same customers and profiles as reading them."""
    read, kept = bare_tenant(), bare_tenant()
    filled: dict[uuid.UUID, frozenset[str]] = {}
    owners = bulk.Owners()
    results: dict[uuid.UUID, list[uuid.UUID]] = {read.tenant_id: [], kept.tenant_id: []}
    for actor, memo, known in ((read, None, None), (kept, filled, owners)):
        with unit_of_work(actor) as db:
            for i, batch in enumerate(batches):
                result = bulk.resolve_batch(
                    db, actor, batch, source=f"s{i}", filled=memo, owners=known
                )
                results[actor.tenant_id].extend(result.customer_ids)
            holders = dict(db.execute(select(Identity.key_hash, Identity.customer_id)).all())
            if known is not None:  # what is kept is what is stored
                assert {h: holders[h] for h in known.by_hash} == known.by_hash
    with unit_of_work(read) as db:
        expected = profiles_of(db, results[read.tenant_id])
        expected_ids = live_customers(db, results[read.tenant_id])
    with unit_of_work(kept) as db:
        got = profiles_of(db, results[kept.tenant_id])
        got_ids = live_customers(db, results[kept.tenant_id])
        live = set(got_ids)
        stored = {c.id: c for c in db.scalars(select(Customer)) if c.id in filled}
    assert same_partition(expected_ids, got_ids)
    assert got == expected
    for cid, fields in filled.items():  # what is kept is what is stored
        if cid in live:
            customer = stored[cid]
            assert fields == {
                k for k in ("name", "phone", "city", "province") if getattr(customer, k)
            }


def test_a_store_phone_on_many_walk_ins_is_caught_before_it_links_anyone(
    database: Database,
) -> None:
    actor = bare_tenant()
    store = make_key(KeyKind.PHONE, "13955550123")
    walk_ins = [[make_key(KeyKind.BUYER, f"walkin{i}", "tmall"), store] for i in range(5)]
    own = [make_key(KeyKind.BUYER, "walkin0", "tmall"), make_key(KeyKind.PHONE, "13911110000")]
    with unit_of_work(actor) as db:
        result = bulk.resolve_batch(
            db, actor, [bulk.Record(keys=k) for k in [*walk_ins, own]], source="pos"
        )
        assert len(set(result.customer_ids)) == 5  # five people; the buyer's own phone joins
        assert result.customer_ids[5] == result.customer_ids[0]
        assert "phone" in result.junk_keys
        assert db.scalar(select(func.count()).select_from(MergeRecord)) == 0
        (flag,) = db.scalars(select(JunkKey)).all()
        assert (flag.reason, flag.hit_count) == ("links more than 3 distinct people", 5)


@pytest.mark.parametrize("chunk", [1, 4, 100])
def test_keys_flagged_earlier_link_nobody_however_they_are_read(
    database: Database, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Chunks of 1: more flagged keys than a chunk, the batch's keys are looked up; of 4: the
    tenant's flagged keys (two, the cleared one not among them) are read whole; of 100: a small
    batch (six keys) looks its keys up."""
    monkeypatch.setattr(bulk, "_CHUNK", chunk)
    actor = bare_tenant()
    store, cleared, elsewhere = (
        make_key(KeyKind.PHONE, f"1395555012{i}") for i in range(3)
    )  # elsewhere: flagged, not in the batch
    with unit_of_work(actor) as db:
        for key in (store, cleared, elsewhere):
            identity.flag_junk(db, actor, key, "typed by a store", clock=SYSTEM_CLOCK)
        (junk,) = db.scalars(
            select(JunkKey).where(JunkKey.key_hash == cleared.hash(actor.tenant_id))
        ).all()
        identity.set_junk_status(db, actor, junk.id, status=JunkStatus.CLEARED)
        buyers = [make_key(KeyKind.BUYER, name, "tmall") for name in ("amy", "bob", "cat", "dan")]
        records = [
            [buyers[0], store],
            [buyers[1], store],
            [buyers[2], cleared],
            [buyers[3], cleared],
        ]
        result = bulk.resolve_batch(
            db, actor, [bulk.Record(keys=k) for k in records], source="test"
        )
        owned = set(db.scalars(select(Identity.key_hash)))
    one, two, three, four = result.customer_ids
    assert one != two  # the flagged store phone links nobody
    assert three == four  # an operator cleared this one: it links again
    assert result.junk_keys == {"phone"}
    assert store.hash(actor.tenant_id) not in owned
    assert cleared.hash(actor.tenant_id) in owned


def test_known_keys_are_marked_seen_again_once_a_day(database: Database) -> None:
    actor = bare_tenant()
    clock = FixedClock(datetime(2026, 3, 1, 8, tzinfo=UTC))
    phone = make_key(KeyKind.PHONE, "13911113333")
    buyer = make_key(KeyKind.BUYER, "amy", "tmall")

    def seen() -> dict[str, datetime]:
        with unit_of_work(actor) as db:
            rows = db.execute(select(Identity.kind, Identity.last_seen_at)).all()
            return {kind: at if at.tzinfo else at.replace(tzinfo=UTC) for kind, at in rows}

    def resolve(keys: list[IdentityKey]) -> None:
        with unit_of_work(actor) as db:
            bulk.resolve_batch(db, actor, [bulk.Record(keys=keys)], source="pos", clock=clock)

    resolve([phone, buyer])
    first = clock.now()
    clock.advance(timedelta(hours=20))
    resolve([phone])  # within the day: not rewritten
    assert seen() == {"phone": first, "buyer": first}
    clock.advance(timedelta(hours=5))
    resolve([phone, buyer])
    assert seen() == {"phone": clock.now(), "buyer": clock.now()}
    later = clock.now()
    clock.advance(timedelta(days=3))
    resolve([buyer])  # only the key seen again moves
    assert seen() == {"phone": later, "buyer": clock.now()}


def test_a_batch_prepared_ahead_resolves_as_the_records_would(database: Database) -> None:
    """``prepare`` (no database) then ``resolve_batch``: the customers of resolving the records;
    a batch prepared for one tenant is refused for another (its key hashes are that tenant's)."""
    one, other = bare_tenant(), bare_tenant()
    tmall = [make_key(KeyKind.BUYER, b, "tmall") for b in ("amy", "bob")]
    phone = make_key(KeyKind.PHONE, "13911110001")
    records = [
        bulk.Record(keys=[tmall[0], phone]),
        bulk.Record(keys=[tmall[1]]),
        bulk.Record(keys=[phone, make_key(KeyKind.PHONE, "13800138000")]),  # with a junk key
    ]
    prepared = bulk.prepare(one.tenant_id, records)
    assert len(prepared.keys) == 4
    assert prepared.uses == [1, 2, 1, 1]  # the phone is on two records
    assert list(prepared.static.values()) == ["known placeholder or test number"]
    with unit_of_work(one) as db:
        result = bulk.resolve_batch(db, one, prepared, source="test")
        assert result.customer_ids[0] == result.customer_ids[2] != result.customer_ids[1]
        assert len(result.created) == 2
        assert result.junk_keys == {"phone"}
        owners = identity.customers_with_keys(db, one, [*tmall, phone])
        expected = [result.customer_ids[i] for i in (0, 1, 0)]
        assert owners == dict(zip([*tmall, phone], expected, strict=True))
    with pytest.raises(ValueError, match="another tenant"), unit_of_work(other) as db:
        bulk.resolve_batch(db, other, prepared, source="test")
