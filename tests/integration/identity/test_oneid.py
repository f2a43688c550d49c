"""OneID: union-find over strong keys, junk keys, exact unmerge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from siyu.core.db import Database, unit_of_work
from siyu.customers import service as customers
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerCreate
from siyu.events.models import Event
from siyu.identity import service as identity
from siyu.identity.keys import IdentityKey, KeyKind, make_key
from siyu.identity.models import Identity, MergeMethod
from siyu.orders import service as orders
from siyu.orders.models import Order, OrderSource
from siyu.orders.schemas import OrderCreate
from tests.factories import bare_tenant

PHONES = ["13911110001", "13911110002", "13911110003", "13911110004", "13911110005"]
UNIONIDS = ["oU-a", "oU-b", "oU-c", "oU-d"]
BUYERS = ["tb_amy", "tb_bob", "tb_cat", "tb_dan"]

key_strategy = st.one_of(
    st.sampled_from(PHONES).map(lambda v: make_key(KeyKind.PHONE, v)),
    st.sampled_from(UNIONIDS).map(lambda v: make_key(KeyKind.UNIONID, v)),
    st.sampled_from(BUYERS).map(lambda v: make_key(KeyKind.BUYER, v, "tmall")),
)
records_strategy = st.lists(st.lists(key_strategy, min_size=1, max_size=3), min_size=1, max_size=8)


def components(records: list[list[IdentityKey]]) -> list[int]:
    """Reference answer: connected components of records linked by shared keys."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[IdentityKey, int] = {}
    for i, keys in enumerate(records):
        for key in keys:
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    return [find(i) for i in range(len(records))]


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=records_strategy)
def test_resolution_equals_connected_components(database: Database, records) -> None:
    actor = bare_tenant()
    resolved = []
    with unit_of_work(actor) as db:
        for keys in records:
            r = identity.resolve(db, actor, keys=keys, source="test", fanout_limit=None)
            resolved.append(r.customer_id)
        # follow merges: a record's customer may have been merged into another since
        final: dict[uuid.UUID, uuid.UUID | None] = {}
        for c in db.scalars(select(Customer)):
            final[c.id] = c.merged_into_id

    def live(cid: uuid.UUID) -> uuid.UUID:
        while (parent := final[cid]) is not None:
            cid = parent
        return cid

    expected = components(records)
    got = [live(c) for c in resolved]
    for i in range(len(records)):
        for j in range(len(records)):
            assert (expected[i] == expected[j]) == (got[i] == got[j]), (records, i, j)
    assert len({c for c, m in final.items() if m is None}) == len(set(expected))


def state(db) -> dict[str, list[tuple[object, ...]]]:
    """Everything a merge may touch, as comparable rows (PII compared as plaintext)."""
    out: dict[str, list[tuple[object, ...]]] = {}
    out["customer"] = sorted(
        (str(c.id), c.name, c.phone, c.email, c.city, c.member_no, str(c.merged_into_id))
        for c in db.scalars(select(Customer))
    )
    for model in (Identity, Order):
        out[model.__tablename__] = sorted(
            (str(i), str(c)) for i, c in db.execute(select(model.id, model.customer_id))
        )
    out["event"] = sorted(
        (str(i), str(c))
        for i, c in db.execute(
            select(Event.id, Event.customer_id).where(Event.type.not_like("customer.%merged"))
        )
    )
    return out


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    profiles=st.lists(
        st.tuples(
            st.sampled_from([None, "王芳", "李雷"]),
            st.sampled_from([None, "上海", "杭州"]),
            st.sampled_from([None, *PHONES]),
        ),
        min_size=2,
        max_size=4,
    ),
    pick=st.tuples(st.integers(0, 3), st.integers(0, 3)),
)
def test_merge_then_unmerge_restores_identical_state(database: Database, profiles, pick) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        ids = []
        for n, (name, city, phone) in enumerate(profiles):
            c = customers.create_customer(
                db, actor, data=CustomerCreate(name=name, city=city, phone=phone, member_no=None)
            )
            ids.append(c.id)
            identity.resolve(
                db,
                actor,
                keys=[make_key(KeyKind.MEMBER_NO, f"M{n}-{c.id.hex[:6]}")],
                source="test",
                fanout_limit=None,
            )
            orders.create_order(
                db,
                actor,
                data=OrderCreate(
                    customer_id=c.id,
                    source=OrderSource.POS,
                    external_id=f"P{n}",
                    paid_fen=1000 * (n + 1),
                    paid_at=datetime(2026, 1, 1 + n, tzinfo=UTC),
                ),
            )
    a, b = ids[pick[0] % len(ids)], ids[pick[1] % len(ids)]
    if a == b:
        return
    with unit_of_work(actor) as db:
        before = state(db)
    with unit_of_work(actor) as db:
        record = identity.merge(
            db,
            actor,
            survivor_id=a,
            merged_id=b,
            method=MergeMethod.MANUAL,
            evidence={"rule": "test"},
        )
        merged_id = record.id
    with unit_of_work(actor) as db:
        during = state(db)
        assert during != before
        assert customers.get_customer(db, actor, a).id == a
    with unit_of_work(actor) as db:
        identity.unmerge(db, actor, merged_id)
    with unit_of_work(actor) as db:
        assert state(db) == before


def test_junk_and_fanout_keys_never_merge(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        a = identity.resolve(
            db,
            actor,
            source="tmall",
            keys=[make_key(KeyKind.BUYER, "amy", "tmall"), make_key(KeyKind.PHONE, "13800138000")],
        )
        b = identity.resolve(
            db,
            actor,
            source="tmall",
            keys=[make_key(KeyKind.BUYER, "bob", "tmall"), make_key(KeyKind.PHONE, "13800138000")],
        )
        assert a.customer_id != b.customer_id
        assert b.junk_keys == ["phone"]
        # a store's own phone typed for every walk-in: the fourth buyer is not merged in
        store_phone = make_key(KeyKind.PHONE, "13955550123")
        ids = [
            identity.resolve(
                db,
                actor,
                source="pos",
                fanout_limit=3,
                keys=[make_key(KeyKind.MEMBER_NO, f"W{i}"), store_phone],
            ).customer_id
            for i in range(6)
        ]
        assert len(set(ids)) > 1
        flagged = {j.reason for j in identity.list_junk_keys(db, actor)}
        assert "links more than 3 distinct people" in flagged
        assert "known placeholder or test number" in flagged


def test_one_customer_across_tmall_wecom_and_miniprogram(database: Database) -> None:
    actor = bare_tenant()
    phone = "13912345608"
    with unit_of_work(actor) as db:
        tmall = identity.resolve(
            db,
            actor,
            source="tmall",
            keys=[
                make_key(KeyKind.BUYER, "warm_hill_fan", "tmall"),
                make_key(KeyKind.PHONE, phone),
            ],
            profile=CustomerCreate(name="陈静", city="上海"),
        )
        orders.create_order(
            db,
            actor,
            data=OrderCreate(
                customer_id=tmall.customer_id,
                source=OrderSource.TMALL,
                external_id="T100",
                paid_fen=25800,
                paid_at=datetime(2026, 3, 1, tzinfo=UTC),
            ),
        )
        wecom = identity.resolve(
            db,
            actor,
            source="wecom",
            keys=[
                make_key(KeyKind.UNIONID, "oUnion-chen"),
                make_key(KeyKind.EXTERNAL_USERID, "wmChen001"),
                make_key(KeyKind.PHONE, phone),
            ],
        )
        mini = identity.resolve(
            db,
            actor,
            source="miniprogram",
            keys=[
                make_key(KeyKind.UNIONID, "oUnion-chen"),
                make_key(KeyKind.OPENID, "oMini-1", "wxapp1"),
            ],
        )
        orders.create_order(
            db,
            actor,
            data=OrderCreate(
                customer_id=mini.customer_id,
                source=OrderSource.MINIPROGRAM,
                external_id="MP9",
                paid_fen=9900,
                paid_at=datetime(2026, 4, 1, tzinfo=UTC),
            ),
        )
        assert tmall.customer_id == wecom.customer_id == mini.customer_id
        kinds = {i.kind for i in identity.list_identities(db, actor, tmall.customer_id)}
        assert kinds == {"buyer", "phone", "unionid", "external_userid", "openid"}
        summary = orders.customer_summary(db, actor, tmall.customer_id)
        assert (summary.order_count, summary.paid_fen) == (2, 35700)
        assert customers.count_customers(db, actor) == 1


def test_bridging_record_merges_two_customers_with_evidence(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        first = identity.resolve(
            db, actor, source="tmall", keys=[make_key(KeyKind.PHONE, "13911112222")]
        )
        second = identity.resolve(db, actor, source="wecom", keys=[make_key(KeyKind.UNIONID, "oX")])
        assert first.customer_id != second.customer_id
        bridge = identity.resolve(
            db,
            actor,
            source="miniprogram",
            keys=[make_key(KeyKind.UNIONID, "oX"), make_key(KeyKind.PHONE, "13911112222")],
        )
        assert bridge.customer_id == first.customer_id
        assert bridge.merged_ids == [second.customer_id]
        history = identity.merge_history(db, actor, first.customer_id)
        assert history[0].evidence["keys"] == ["unionid"]
        merge_id = history[0].id
        identity.unmerge(db, actor, merge_id)
        # the operator's split sticks: the same keys do not merge the pair again
        again = identity.resolve(
            db,
            actor,
            source="miniprogram",
            keys=[make_key(KeyKind.UNIONID, "oX"), make_key(KeyKind.PHONE, "13911112222")],
        )
        assert again.merged_ids == []
        assert customers.count_customers(db, actor) == 2
