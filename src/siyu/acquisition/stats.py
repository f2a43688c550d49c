"""What channel codes brought in: adds, re-adds, deletions, first orders and net GMV.

Everything is one SQL aggregation over ``contact_relation`` (owned by ``siyu.contacts``) and
``order`` (owned by ``siyu.orders``), both read-only here. A relation belongs to the period in
which it was added (``added_at`` in ``[start, end)``); its deletion counts when the relation
ended by a deletion, whenever that was, and "within the window" when it ended less than
``deletion_window_days`` after the add. Orders count when paid at or after the add (any time
up to ``end``), once per customer and code even when the customer was added twice:
``first_orders`` are customers whose first order ever came after their add,
``net_gmv_fen`` is ``paid_fen - refunded_fen`` of their orders since the add.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, and_, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from siyu.acquisition.models import ChannelCode
from siyu.contacts.models import ContactRelation, RelationStatus
from siyu.orders.models import Order, OrderStatus

DELETED = (RelationStatus.DELETED_BY_CUSTOMER.value, RelationStatus.DELETED_BY_STAFF.value)


class ended_within(FunctionElement[bool]):  # noqa: N801 - a SQL function construct
    """``ended - started < days`` (days a bound integer), rendered per dialect."""

    type = Boolean()
    inherit_cache = True
    name = "ended_within"


def _args(element: ended_within, compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(ended_within)
def _ended_within_postgresql(element: ended_within, compiler: SQLCompiler, **kw: Any) -> str:
    started, ended, days = _args(element, compiler, **kw)
    return f"({ended} < {started} + CAST({days} AS INTEGER) * INTERVAL '1 day')"


@compiles(ended_within, "sqlite")
def _ended_within_sqlite(element: ended_within, compiler: SQLCompiler, **kw: Any) -> str:
    started, ended, days = _args(element, compiler, **kw)
    return f"(julianday({ended}) - julianday({started}) < {days})"


def adds_by_staff(
    db: Session, tenant_id: uuid.UUID, code_id: uuid.UUID, *, start: datetime, end: datetime
) -> dict[str, int]:
    """Return how many contacts each member of a code got in ``[start, end)`` (rotation caps)."""
    rows = db.execute(
        select(ContactRelation.wecom_userid, func.count())
        .where(
            ContactRelation.tenant_id == tenant_id,
            ContactRelation.channel_code_id == code_id,
            ContactRelation.added_at >= start,
            ContactRelation.added_at < end,
        )
        .group_by(ContactRelation.wecom_userid)
    ).all()
    return {userid: int(count) for userid, count in rows}


def codes_with_capped_staff(
    db: Session, tenant_id: uuid.UUID, *, start: datetime, end: datetime
) -> list[uuid.UUID]:
    """Return the active capped codes where a member reached the daily cap in ``[start, end)``."""
    per_staff = (
        select(ContactRelation.channel_code_id.label("code_id"))
        .join(
            ChannelCode,
            and_(
                ChannelCode.tenant_id == ContactRelation.tenant_id,
                ChannelCode.id == ContactRelation.channel_code_id,
            ),
        )
        .where(
            ContactRelation.tenant_id == tenant_id,
            ContactRelation.added_at >= start,
            ContactRelation.added_at < end,
            ChannelCode.is_active.is_(True),
            ChannelCode.is_rotating.is_(True),
            ChannelCode.daily_cap_per_staff.is_not(None),
        )
        .group_by(
            ContactRelation.channel_code_id,
            ContactRelation.wecom_userid,
            ChannelCode.daily_cap_per_staff,
        )
        .having(func.count() >= ChannelCode.daily_cap_per_staff)
        .subquery()
    )
    return list(db.scalars(select(per_staff.c.code_id).distinct()))


@dataclass(frozen=True)
class CodeRow:
    """The counts of one code; money in fen."""

    code_id: uuid.UUID
    adds: int
    new_customers: int
    re_adds: int
    deletions: int
    deletions_within_window: int
    new_lost_within_window: int
    first_orders: int
    net_gmv_fen: int

    @property
    def net_adds(self) -> int:
        """New customers kept: new customers minus those of them deleted within the window."""
        return self.new_customers - self.new_lost_within_window


def count_codes(
    db: Session,
    tenant_id: uuid.UUID,
    code_ids: Sequence[uuid.UUID] | None,
    *,
    start: datetime,
    end: datetime,
    deletion_window_days: int,
) -> dict[uuid.UUID, CodeRow]:
    """Return the counts of each code (``None``: every code) for relations added in the range."""
    relation = ContactRelation
    deleted = relation.status.in_(DELETED)
    within = and_(
        deleted,
        relation.ended_at.is_not(None),
        ended_within(relation.added_at, relation.ended_at, literal(deletion_window_days, Integer)),
    )
    base = [
        relation.tenant_id == tenant_id,
        relation.channel_code_id.is_not(None),
        relation.added_at >= start,
        relation.added_at < end,
    ]
    if code_ids is not None:
        base.append(relation.channel_code_id.in_(list(code_ids)))

    relations = (
        select(
            relation.channel_code_id.label("code_id"),
            func.count().label("adds"),
            func.sum(case((relation.is_new_customer.is_(True), 1), else_=0)).label("new"),
            func.sum(case((deleted, 1), else_=0)).label("deleted"),
            func.sum(case((within, 1), else_=0)).label("within"),
            func.sum(case((and_(within, relation.is_new_customer.is_(True)), 1), else_=0)).label(
                "lost_new"
            ),
        )
        .where(*base)
        .group_by(relation.channel_code_id)
        .subquery()
    )

    # One row per (code, customer): their earliest add in the range.
    acquired = (
        select(
            relation.channel_code_id.label("code_id"),
            relation.customer_id.label("customer_id"),
            func.min(relation.added_at).label("added_at"),
        )
        .where(*base)
        .group_by(relation.channel_code_id, relation.customer_id)
        .subquery()
    )
    counted = Order.status != OrderStatus.CANCELLED.value
    first_paid = (
        select(Order.customer_id.label("customer_id"), func.min(Order.paid_at).label("first_at"))
        .where(Order.tenant_id == tenant_id, Order.customer_id.is_not(None), counted)
        .group_by(Order.customer_id)
        .subquery()
    )
    gmv = (
        select(
            acquired.c.code_id,
            func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0).label("gmv"),
        )
        .select_from(acquired)
        .join(
            Order,
            and_(
                Order.tenant_id == tenant_id,
                Order.customer_id == acquired.c.customer_id,
                Order.paid_at >= acquired.c.added_at,
                Order.paid_at < end,
                counted,
            ),
        )
        .group_by(acquired.c.code_id)
        .subquery()
    )
    firsts = (
        select(acquired.c.code_id, func.count().label("firsts"))
        .select_from(acquired)
        .join(first_paid, first_paid.c.customer_id == acquired.c.customer_id)
        .where(first_paid.c.first_at >= acquired.c.added_at, first_paid.c.first_at < end)
        .group_by(acquired.c.code_id)
        .subquery()
    )
    rows = db.execute(
        select(
            relations.c.code_id,
            relations.c.adds,
            relations.c.new,
            relations.c.deleted,
            relations.c.within,
            relations.c.lost_new,
            func.coalesce(firsts.c.firsts, 0),
            func.coalesce(gmv.c.gmv, 0).cast(Integer),
        )
        .select_from(relations)
        .outerjoin(firsts, firsts.c.code_id == relations.c.code_id)
        .outerjoin(gmv, gmv.c.code_id == relations.c.code_id)
    ).all()
    result: dict[uuid.UUID, CodeRow] = {}
    for code_id, adds, new, deleted_count, within_count, lost_new, first_count, gmv_fen in rows:
        result[code_id] = CodeRow(
            code_id=code_id,
            adds=int(adds),
            new_customers=int(new or 0),
            re_adds=int(adds) - int(new or 0),
            deletions=int(deleted_count or 0),
            deletions_within_window=int(within_count or 0),
            new_lost_within_window=int(lost_new or 0),
            first_orders=int(first_count or 0),
            net_gmv_fen=int(gmv_fen or 0),
        )
    return result
