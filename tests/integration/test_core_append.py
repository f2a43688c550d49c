"""core.append: the same rows whichever way the values travel to the database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

import polars as pl
import psycopg
import pytest
from sqlalchemy import Table, bindparam, event, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core import pgcopy
from siyu.core.actor import Actor
from siyu.core.append import append_frame, frame_ids, one_of
from siyu.core.db import CrossTenantWrite, Database, unit_of_work
from siyu.customers import service as customers
from siyu.customers.models import Customer, Gender
from siyu.customers.schemas import CustomerCreate
from siyu.events.models import Event
from siyu.identity.models import Evidence
from tests.factories import bare_tenant

NAMES = ["周,一", "吴\x1f二", "郑\t三", "王|四", "plain", "a,b\x1f\tc|d"]


@pytest.mark.parametrize(
    "wanted",
    [
        ["plain"],
        ["plain", "周,一"],  # a comma inside a value: another separator
        ["a,b\x1f\tc|d", "plain"],  # every separator inside one value: the array parameter
        ["", "plain"],  # empty text would vanish in a split
        NAMES,
        [],
    ],
)
def test_one_of_text_values_match_exactly(database: Database, wanted: list[str]) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        for name in NAMES:
            customers.create_customer(db, actor, data=CustomerCreate(name=name))
        found = db.scalars(select(Customer.name).where(one_of(db, Customer.name, wanted))).all()
        assert sorted(n for n in found if n is not None) == sorted(set(wanted) & set(NAMES))


def test_one_of_uuid_and_enum_values(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        made = [
            customers.create_customer(db, actor, data=CustomerCreate(name=f"c{i}")).id
            for i in range(3)
        ]
        wanted = [made[0], made[2], uuid.uuid4()]
        found = db.scalars(select(Customer.id).where(one_of(db, Customer.id, wanted))).all()
        assert sorted(found) == sorted(made[::2])
        genders = db.scalars(
            select(Customer.id).where(one_of(db, Customer.gender, [Gender.UNKNOWN]))
        ).all()
        assert sorted(genders) == sorted(made)


def test_one_of_sends_one_text_parameter_on_postgresql(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes a parameter per value")
    actor = bare_tenant()
    sent: list[object] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(parameters)

    with unit_of_work(actor) as db:
        event.listen(database.engine, "before_cursor_execute", record)
        try:
            ids = [uuid.uuid4() for _ in range(1_000)]
            assert db.scalars(select(Customer.id).where(one_of(db, Customer.id, ids))).all() == []
        finally:
            event.remove(database.engine, "before_cursor_execute", record)
    values = [v for p in sent if isinstance(p, dict) for v in p.values()]
    assert ",".join(str(i) for i in ids) in values
    assert not any(isinstance(v, list) for v in values)


@pytest.mark.parametrize("count", [3, 200])  # the small path (parameters) and COPY/executemany
def test_append_frame_constants_are_stored_like_columns(database: Database, count: int) -> None:
    """Constants given to ``append_frame`` land in every row exactly as frame columns would:
    ids, aware times, plain text, nulls and encrypted PII (read back decrypted)."""
    actor = bare_tenant()
    now = datetime(2026, 11, 23, 12, 30, 15, 123456, tzinfo=UTC)
    ids = frame_ids(count)
    frame = pl.DataFrame(
        {"id": ids, "name": [f"客户{i}" for i in range(count)]},
        schema={"id": pl.Utf8, "name": pl.Utf8},
    )
    with unit_of_work(actor) as db:
        appended = append_frame(
            db,
            Customer,
            frame,
            {
                "tenant_id": actor.tenant_id,
                "gender": Gender.FEMALE.value,
                "city": "杭州",
                "email": "same@example.com",
                "birthday_on": None,
                "org_unit_id": None,
                "created_at": now,
                "updated_at": now,
            },
        )
        assert appended == count
        rows = db.execute(
            select(Customer.id, Customer.name, Customer.gender, Customer.city, Customer.email,
                   Customer.created_at, Customer.birthday_on)
            .where(one_of(db, Customer.id, [uuid.UUID(i) for i in ids.to_list()]))
            .order_by(Customer.name)
        ).all()  # fmt: skip
    assert len(rows) == count
    assert {r.gender for r in rows} == {Gender.FEMALE}
    assert {r.city for r in rows} == {"杭州"}
    assert {r.email for r in rows} == {"same@example.com"}
    assert {r.created_at for r in rows} == {now}
    assert {r.birthday_on for r in rows} == {None}
    assert sorted(r.name for r in rows) == sorted(f"客户{i}" for i in range(count))


def test_append_frame_refuses_another_tenants_constant(database: Database) -> None:
    actor, other = bare_tenant(), bare_tenant()
    frame = pl.DataFrame({"id": frame_ids(1), "name": ["x"]})
    with unit_of_work(actor) as db, pytest.raises(CrossTenantWrite):
        append_frame(db, Customer, frame, {"tenant_id": other.tenant_id})


def test_append_frame_analyzes_a_table_only_while_its_statistics_lag(database: Database) -> None:
    """Appends within a transaction refresh the table's statistics once they outnumber the rows
    the statistics know, so look-ups in the same import are planned on real counts; appends
    small next to the table do not pay for an ANALYZE."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's statistics are refreshed by the server's job")
    actor = bare_tenant()
    now = datetime(2026, 11, 23, tzinfo=UTC)

    def append(db, count: int) -> None:
        frame = pl.DataFrame(
            {"id": frame_ids(count), "customer_id": [str(uuid.uuid4())] * count},
            schema={"id": pl.Utf8, "customer_id": pl.Utf8},
        )
        constants = {"tenant_id": actor.tenant_id, "type": "test.appended", "data": "{}"}
        append_frame(db, Event, frame, {**constants, "occurred_at": now, "recorded_at": now})

    def known(db) -> float:  # what the statistics count (ANALYZE in a transaction sees its rows)
        statistics = text("SELECT reltuples FROM pg_class WHERE oid = 'event'::regclass")
        return float(db.execute(statistics).scalar_one())

    with unit_of_work(actor) as db:
        first = max(12_000, int(known(db)) + 1)
        append(db, first)
        assert known(db) >= first  # analyzed
    with unit_of_work(actor) as db:
        base = known(db)
        append(db, 10_000)  # fewer than the statistics know: no ANALYZE
        assert known(db) == base
        append(db, int(base) - 10_000 + 1)  # together more than they know
        assert known(db) >= base + 10_000


def customer_rows(actor: Actor, count: int) -> tuple[pl.DataFrame, dict[str, object]]:
    """``count`` new customers named 某 as a frame, and the constants to append them with."""
    frame = pl.DataFrame(
        {"id": frame_ids(count), "name": ["某"] * count}, schema={"id": pl.Utf8, "name": pl.Utf8}
    )
    now = datetime(2026, 11, 23, tzinfo=UTC)
    return frame, {"tenant_id": actor.tenant_id, "created_at": now, "updated_at": now}


@pytest.mark.parametrize("count", [200, 30_000])
def test_a_copy_left_running_is_seen_by_the_next_statement(database: Database, count: int) -> None:
    """``wait=False``: the transaction's next statement waits for the ``COPY`` and sees its rows."""
    actor = bare_tenant()
    frame, constants = customer_rows(actor, count)
    with unit_of_work(actor) as db:
        assert append_frame(db, Customer, frame, constants, wait=False) == count
        assert db.scalar(select(func.count()).select_from(Customer)) == count
    with unit_of_work(actor) as db:  # and the commit waited for it too
        append_frame(db, Customer, frame.with_columns(frame_ids(count)), constants, wait=False)
    with unit_of_work(actor) as db:
        assert db.scalar(select(func.count()).select_from(Customer)) == 2 * count


def test_a_failed_copy_left_running_fails_the_unit_of_work(database: Database) -> None:
    """The ``COPY``'s error is raised at the next statement (or the commit); nothing is written,
    and the pooled connection serves the next unit of work as if nothing happened."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite appends before append_frame returns")
    actor = bare_tenant()
    count = 1_000
    frame, constants = customer_rows(actor, count)
    with unit_of_work(actor) as db:
        append_frame(db, Customer, frame, constants)

    def left_running(name: str, then: Callable[[Session], object]) -> None:
        with unit_of_work(actor) as db:
            append_frame(db, Customer, frame.with_columns(name=pl.lit(name)), constants, wait=False)
            then(db)

    for step, then in [
        ("statement", lambda db: db.scalar(select(func.count()).select_from(Customer))),
        ("commit", lambda db: None),
    ]:
        # from a statement SQLAlchemy wraps the driver's error, as for its own statements
        with pytest.raises((IntegrityError, psycopg.errors.UniqueViolation)):
            left_running(step, then)
        with unit_of_work(actor) as db:
            rows = db.execute(select(Customer.name, func.count()).group_by(Customer.name)).all()
            assert rows == [("某", count)]

    def fail(db: Session) -> None:
        raise RuntimeError("the caller fails meanwhile")

    with pytest.raises(RuntimeError):  # the rollback waits for the COPY and drops its error
        left_running("rolled back", fail)
    with unit_of_work(actor) as db:
        assert db.scalar(select(func.count()).select_from(Customer)) == count


def test_copies_left_running_queue_up_in_order(database: Database) -> None:
    """Several ``wait=False`` appends in a row run one after another: all are seen by the next
    statement; when one fails, the ones after it are skipped and its error fails the work."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite appends before append_frame returns")
    actor = bare_tenant()
    count = 1_000
    frame, constants = customer_rows(actor, count)
    fresh = [frame.with_columns(frame_ids(count)) for _ in range(3)]
    with unit_of_work(actor) as db:
        for part in fresh:
            append_frame(db, Customer, part, constants, wait=False)
        assert db.scalar(select(func.count()).select_from(Customer)) == 3 * count

    # the second repeats the first's ids; the first repeats stored ids (the second is skipped,
    # so the error is the first's, not "the transaction is aborted")
    def append_all(parts: list[pl.DataFrame]) -> None:
        with unit_of_work(actor) as db:
            for part in parts:
                append_frame(db, Customer, part, constants, wait=False)

    for parts in ([frame, frame], [fresh[0], frame.with_columns(frame_ids(count))]):
        with pytest.raises((IntegrityError, psycopg.errors.UniqueViolation)):
            append_all(parts)
        with unit_of_work(actor) as db:
            assert db.scalar(select(func.count()).select_from(Customer)) == 3 * count


def evidence_rows(actor: Actor, owners: list[str], prints: list[str], name: str) -> pl.DataFrame:
    count = len(prints)
    return pl.DataFrame(
        {
            "tenant_id": [str(actor.tenant_id)] * count,
            "id": frame_ids(count),
            "customer_id": owners,
            "source": ["tmall"] * count,
            "fingerprint": prints,
            "name": [name] * count,
            "address": [f"{name}路 {i} 号" for i in range(count)],
        },
        schema=dict.fromkeys(
            ("tenant_id", "id", "customer_id", "source", "fingerprint", "name", "address"), pl.Utf8
        ),
    )


@pytest.mark.parametrize("count", [10, 200])  # a few rows as parameters; more through COPY
def test_append_frame_skips_rows_whose_unique_key_is_stored(database: Database, count: int) -> None:
    """``skip_conflicts``: rows repeating a stored (or an earlier append's) key are left out and
    the stored row stays as it was; any other collision still fails the unit of work."""
    actor = bare_tenant()
    owners = [str(uuid.uuid4()) for _ in range(count)]
    prints = [f"{i:032x}" for i in range(count)]
    key = ("tenant_id", "customer_id", "fingerprint")
    with unit_of_work(actor) as db:
        first = evidence_rows(actor, owners, prints, "甲")
        append_frame(db, Evidence, first, wait=False, skip_conflicts=key)
        half = count // 2  # the second half repeats keys, the first half is new
        again = evidence_rows(
            actor, owners, [f"{i + count:032x}" for i in range(half)] + prints[half:], "乙"
        )
        append_frame(db, Evidence, again, wait=False, skip_conflicts=key)
        append_frame(db, Evidence, again, wait=False, skip_conflicts=key)  # all stored by now
        rows = db.execute(select(Evidence.name, func.count()).group_by(Evidence.name)).all()
        assert sorted(rows) == [("乙", half), ("甲", count)]
        stored = dict(db.execute(select(Evidence.fingerprint, Evidence.address)).all())
        assert stored[prints[-1]] == f"甲路 {count - 1} 号"  # decrypted as written the first time
    clash = evidence_rows(actor, owners[:1], [f"{3 * count:032x}"], "丙")
    clash = clash.with_columns(id=pl.lit(first["id"][0]))  # a new key under an id already taken
    with (
        pytest.raises((IntegrityError, psycopg.errors.UniqueViolation)),
        unit_of_work(actor) as db,
    ):
        append_frame(db, Evidence, clash, skip_conflicts=key)
    with unit_of_work(actor) as db:
        assert db.scalar(select(func.count()).select_from(Evidence)) == count + half


def test_an_executemany_left_running_is_seen_and_fails_the_work(database: Database) -> None:
    """``pgcopy.executemany_later``: updates queued behind a ``COPY`` run after it, with values
    converted by their column types; the next statement sees them; an error fails the work."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite runs every statement in turn")
    actor = bare_tenant()
    frame, constants = customer_rows(actor, 500)
    table = cast("Table", Customer.__table__)
    rename = (
        update(table)
        .where(table.c.tenant_id == actor.tenant_id, table.c.id == bindparam("k_id"))
        .values(phone=bindparam("v_phone"), field_sources={"phone": "test"})
    )
    with unit_of_work(actor) as db, pytest.raises(ValueError, match="updated_at"):
        pgcopy.executemany_later(db.connection(), rename, [])  # its onupdate would not run
    rename = rename.values(updated_at=datetime(2026, 12, 8, tzinfo=UTC))
    ids = [uuid.UUID(i) for i in frame["id"].to_list()[:3]]
    with unit_of_work(actor) as db:
        append_frame(db, Customer, frame, constants, wait=False)
        pgcopy.executemany_later(
            db.connection(), rename, [{"k_id": i, "v_phone": "13911110000"} for i in ids]
        )
        changed = db.execute(
            select(Customer.phone, Customer.field_sources).where(Customer.id.in_(ids))
        ).all()
        assert [tuple(r) for r in changed] == [("13911110000", {"phone": "test"})] * 3
        raw = db.execute(select(text("phone")).select_from(table).where(table.c.id == ids[0]))
        assert raw.scalar_one() != "13911110000"  # stored encrypted, as SQLAlchemy would
        with pytest.raises(ValueError, match="v_phone"):
            pgcopy.executemany_later(db.connection(), rename, [{"k_id": ids[0]}])
    with pytest.raises(psycopg.errors.InvalidTextRepresentation), unit_of_work(actor) as db:
        pgcopy.executemany_later(db.connection(), rename, [{"k_id": "not an id", "v_phone": None}])
    with unit_of_work(actor) as db:
        phones = select(func.count()).select_from(Customer).where(Customer.phone.is_not(None))
        assert db.scalar(phones) == 3
