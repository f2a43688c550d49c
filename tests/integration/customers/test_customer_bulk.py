"""customers.bulk.apply_many: the profiles ``apply_profile`` gives, one customer at a time."""

from __future__ import annotations

from sqlalchemy import select

from siyu.core.db import Database, unit_of_work
from siyu.customers import bulk
from siyu.customers import service as customers
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerCreate
from tests.factories import bare_tenant

STORED = (
    *("name", "phone", "phone_bidx", "email", "email_bidx"),
    *("province", "city", "member_no", "field_sources"),
)

START = [
    CustomerCreate(name="王芳"),
    CustomerCreate(phone="13911112222", city="杭州市"),
    CustomerCreate(email="Amy@Example.com", member_no="M1"),
    CustomerCreate(name="李雷", phone="13911113333", email="li@example.com", province="浙江省",
                   city="杭州市", member_no="M2"),
    CustomerCreate(),
]  # fmt: skip
OFFERED: list[dict[str, str | None]] = [
    {"name": "别名", "phone": "+86 139-1111-4444", "email": " Wang@Example.COM", "city": "上海市"},
    {"phone": "13911115555", "email": "new@example.com", "province": "浙江省", "city": "宁波市"},
    {"name": "Amy", "email": "other@example.com", "member_no": "M9"},
    {"name": "韩梅梅", "phone": "13911116666", "member_no": "M3"},  # nothing lacking
    {"name": "", "city": None},  # nothing offered
]


def _stored(customer: Customer) -> tuple[object, ...]:
    return tuple(getattr(customer, field) for field in STORED)


def test_apply_many_fills_the_gaps_apply_profile_fills(database: Database) -> None:
    actor = bare_tenant()
    with unit_of_work(actor) as db:
        batch = [customers.create_customer(db, actor, data=data) for data in START]
        alone = [customers.create_customer(db, actor, data=data) for data in START]
        changed = bulk.apply_many(
            db,
            actor,
            {c.id: offered for c, offered in zip(batch, OFFERED, strict=True)},
            source="tmall",
        )
        for customer, offered in zip(alone, OFFERED, strict=True):
            given = {k: v for k, v in offered.items() if v}
            customers.apply_profile(
                db, actor, customer.id, data=CustomerCreate(**given), source="tmall"
            )
        assert changed == 3
        # the session's own objects see the new values (no stale copy survives the update)
        assert batch[0].phone == "13911114444"
        assert batch[1].field_sources == {"email": "tmall", "province": "tmall"}
        assert [_stored(c) for c in batch] == [_stored(c) for c in alone]
        db.expire_all()
        by_id = {c.id: c for c in db.scalars(select(Customer))}
        assert [_stored(by_id[c.id]) for c in batch] == [_stored(by_id[c.id]) for c in alone]
        assert by_id[batch[0].id].updated_at > by_id[batch[0].id].created_at
