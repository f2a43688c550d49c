"""Order upserts from the REST API and inbound webhooks: check each order, then write the valid
ones through the import write path (``siyu.ingest.orders.write_orders``).

Every order is checked on its own: a bad order is listed in ``rejected`` with its index and
fields, the rest are written. Writing is idempotent by (tenant, source, external id), exactly as
file imports are: re-sending changes nothing, a changed status or refund updates the order and
records an event. Lines are stored with the order's first delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.batches import InvalidItem, app_error_field, item_errors, reason_of
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import AppError, FieldError
from siyu.customers import service as customers
from siyu.identity.keys import IdentityKey, KeyKind, make_key
from siyu.identity.models import Identity
from siyu.ingest.orders import write_orders
from siyu.ingest.parse import LINE_COLUMNS, ORDER_COLUMNS, ParsedBatch
from siyu.orders.models import OrderSource, OrderStatus
from siyu.orders.schemas import OrderBatchResult, OrderUpsert, RejectedOrder
from siyu.orders.service import status_for
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy

PLATFORMS = frozenset({OrderSource.TMALL, OrderSource.JD, OrderSource.PDD, OrderSource.DOUYIN})

# The order row's column for each kind of buyer key the write path matches on.
KEY_COLUMNS = {
    KeyKind.PHONE: "phone",
    KeyKind.EMAIL: "email",
    KeyKind.MEMBER_NO: "member_no",
    KeyKind.UNIONID: "unionid",
    KeyKind.BUYER: "buyer_id",
}
# Which identity of a customer named by id carries its orders, most stable first.
_PREFERRED = (KeyKind.MEMBER_NO, KeyKind.UNIONID, KeyKind.BUYER, KeyKind.PHONE, KeyKind.EMAIL)
_MEMBER_NO_MAX = 64  # a member number becomes the customer's ``member_no`` (String(64))
_KEY_HINT = (
    "name the buyer by phone, email, member_no, unionid or the platform's buyer id "
    "(kind buyer), or by customer_id"
)


@dataclass
class _Refs:
    """The tenant's store codes and staff codes (WeCom userids), by code and by id."""

    store_codes: set[str]
    store_code_by_id: dict[uuid.UUID, str | None]
    staff_codes: set[str]
    staff_code_by_id: dict[uuid.UUID, str | None]

    @classmethod
    def load(cls, db: Session, actor: Actor) -> _Refs:
        units = tenancy.list_org_units(db, actor)
        staff = tenancy.list_staff(db, actor, include_inactive=True)
        return cls(
            store_codes={u.code for u in units if u.code},
            store_code_by_id={u.id: u.code for u in units},
            staff_codes={s.wecom_userid for s in staff if s.wecom_userid},
            staff_code_by_id={s.id: s.wecom_userid for s in staff},
        )


@dataclass
class _Checked:
    """An order that passed every check: its row (``ORDER_COLUMNS``) and lines."""

    index: int
    source: OrderSource
    row: dict[str, Any]
    lines: list[dict[str, Any]]
    customer_id: uuid.UUID | None = None
    problems: list[FieldError] = field(default_factory=list)


def upsert_orders(
    db: Session,
    actor: Actor,
    items: Sequence[OrderUpsert | InvalidItem],
    *,
    source: OrderSource | None = None,
    only_source: OrderSource | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> OrderBatchResult:
    """Write the valid orders of a batch; return the counts and the rejected orders.

    ``source`` is the default for orders naming none. ``only_source`` (webhook endpoints) is
    the one source every order must have: orders naming another are rejected.
    """
    require(actor, Perm.ORDERS_WRITE)
    require(actor, Perm.CUSTOMERS_WRITE)
    rejected: list[RejectedOrder] = []
    refs = _Refs.load(db, actor)
    seen: dict[tuple[OrderSource, str], int] = {}
    checked: list[_Checked] = []
    for index, item in enumerate(items):
        if isinstance(item, InvalidItem):
            rejected.append(
                RejectedOrder(
                    index=index,
                    source=item.raw_text("source"),
                    external_id=item.raw_text("external_id"),
                    reason=reason_of(item.errors),
                    errors=item_errors(item.errors),
                )
            )
            continue
        order_source = item.source or source or only_source
        result = _check(index, item, order_source, only_source, refs)
        if order_source is not None and not result.problems:
            key = (order_source, item.external_id)
            if key in seen:
                result.problems.append(
                    FieldError(
                        reason=f"order {order_source}:{item.external_id} is also item "
                        f"{seen[key]} of this batch; send each order once",
                        field="external_id",
                        value=item.external_id,
                    )
                )
            seen.setdefault(key, index)
        if result.problems:
            rejected.append(_rejection(index, item, order_source, result.problems))
        else:
            checked.append(result)
    _route_customers(db, actor, checked)
    for item_checked in [c for c in checked if c.problems]:
        rejected.append(
            RejectedOrder(
                index=item_checked.index,
                source=item_checked.source.value,
                external_id=item_checked.row["external_id"],
                reason=reason_of(item_checked.problems),
                errors=item_errors(item_checked.problems),
            )
        )
    valid = [c for c in checked if not c.problems]
    out = OrderBatchResult(
        received=len(items),
        accepted=len(valid),
        inserted=0,
        updated=0,
        unchanged=0,
        customers_created=0,
        customers_matched=0,
        rejected=sorted(rejected, key=lambda r: r.index),
    )
    for order_source in dict.fromkeys(c.source for c in valid):
        group = [c for c in valid if c.source is order_source]
        batch = ParsedBatch(
            orders=pl.DataFrame([c.row for c in group], schema=dict(ORDER_COLUMNS)),
            lines=pl.DataFrame(
                [line for c in group for line in c.lines], schema=dict(LINE_COLUMNS)
            ),
            errors=[],
        )
        summary = write_orders(db, actor, batch, source=order_source.value, clock=clock)
        out.inserted += summary.inserted
        out.updated += summary.updated
        out.unchanged += summary.unchanged
        out.customers_created += summary.customers_created
        out.customers_matched += summary.customers_matched
    return out


def _rejection(
    index: int, item: OrderUpsert, source: OrderSource | None, problems: list[FieldError]
) -> RejectedOrder:
    return RejectedOrder(
        index=index,
        source=source.value if source else None,
        external_id=item.external_id,
        reason=reason_of(problems),
        errors=item_errors(problems),
    )


def _check(
    index: int,
    item: OrderUpsert,
    source: OrderSource | None,
    only_source: OrderSource | None,
    refs: _Refs,
) -> _Checked:
    problems: list[FieldError] = []
    if source is None:
        problems.append(
            FieldError(
                reason="no source: give the order's source, or the batch's",
                field="source",
            )
        )
    elif only_source is not None and source is not only_source:
        problems.append(
            FieldError(
                reason=f"this endpoint receives {only_source} orders, not {source}; "
                "register an endpoint per order system",
                field="source",
                value=source.value,
            )
        )
    amounts = _amounts(item, problems)
    row: dict[str, Any] = dict.fromkeys(ORDER_COLUMNS)
    row.update(
        row=index + 1,
        external_id=item.external_id,
        paid_at=item.paid_at,
        receiver_name=item.receiver_name or None,
        phone_masked=item.phone_masked,
        province=item.province or None,
        city=item.city or None,
        district=item.district or None,
        address=item.address or None,
    )
    if amounts is not None:
        row.update(amounts)
    if source is not None:
        _buyer(item, source, row, problems)
    row["store_code"] = _code(
        "store",
        item.store_code,
        item.org_unit_id,
        refs.store_codes,
        refs.store_code_by_id,
        problems,
        ("store_code", "org_unit_id"),
    )
    row["staff_code"] = _code(
        "staff",
        item.staff_code,
        item.staff_id,
        refs.staff_codes,
        refs.staff_code_by_id,
        problems,
        ("staff_code", "staff_id"),
    )
    lines = [
        {
            "external_id": item.external_id,
            "sku": line.sku,
            "title": line.title,
            "quantity": line.quantity,
            "unit_price_fen": line.unit_price_fen,
            "amount_fen": line.amount_fen
            if line.amount_fen is not None
            else line.quantity * line.unit_price_fen,
        }
        for line in item.lines
    ]
    for n, line in enumerate(item.lines):
        if not (line.sku.strip() or line.title.strip()):
            problems.append(FieldError(reason="give the line a sku or a title", field=f"lines.{n}"))
    return _Checked(
        index=index,
        source=source or OrderSource.OTHER,
        row=row,
        lines=lines,
        customer_id=item.customer_id,
        problems=problems,
    )


def _amounts(item: OrderUpsert, problems: list[FieldError]) -> dict[str, Any] | None:
    """Return status, paid, refunded and refund time, or None after adding the problems."""
    paid, refunded = item.paid_fen, item.refunded_fen
    before = len(problems)
    if item.status is OrderStatus.CANCELLED:
        if paid or refunded:
            problems.append(
                FieldError(
                    reason="a cancelled order was never paid: send paid_fen 0 and no refund; "
                    "for a paid order that was cancelled send status refunded",
                    field="status",
                    value=item.status.value,
                )
            )
    elif item.status is OrderStatus.REFUNDED and refunded == 0:
        refunded = paid  # as in exports: "refunded" without an amount refunds everything
    if refunded > paid:
        problems.append(
            FieldError(
                reason=f"refunded_fen {refunded} exceeds paid_fen {paid}; a refund cannot "
                "exceed what was paid",
                field="refunded_fen",
                value=str(refunded),
            )
        )
    status = OrderStatus.CANCELLED if item.status is OrderStatus.CANCELLED else None
    if status is None:
        status = status_for(paid, refunded)
        if item.status is not None and item.status is not status:
            problems.append(
                FieldError(
                    reason=f"status {item.status} contradicts the amounts (paid_fen {paid}, "
                    f"refunded_fen {refunded} mean {status}); omit status to derive it",
                    field="status",
                    value=item.status.value,
                )
            )
    refunded_at = item.refunded_at
    if refunded_at is not None and refunded == 0:
        problems.append(
            FieldError(
                reason="refunded_at without a refund: send refunded_fen too, or no refunded_at",
                field="refunded_at",
            )
        )
    if refunded_at is not None and refunded_at < item.paid_at:
        problems.append(FieldError(reason="refunded_at is before paid_at", field="refunded_at"))
    if len(problems) > before:
        return None
    return {
        "status": status.value,
        "paid_fen": paid,
        "refunded_fen": refunded,
        "refunded_at": refunded_at,
    }


def _buyer(
    item: OrderUpsert, source: OrderSource, row: dict[str, Any], problems: list[FieldError]
) -> None:
    """Put the buyer's keys in the row's key columns (``customer_id`` is routed later)."""
    if item.customer_id is not None and item.keys:
        problems.append(
            FieldError(
                reason="name the buyer by customer_id or by keys, not both",
                field="customer_id",
            )
        )
        return
    if item.customer_id is None and not item.keys:
        problems.append(FieldError(reason=f"no buyer: {_KEY_HINT}", field="keys"))
        return
    for n, key_in in enumerate(item.keys):
        where = f"keys.{n}"
        namespace = key_in.namespace
        if key_in.kind is KeyKind.BUYER:
            if source not in PLATFORMS:
                problems.append(
                    FieldError(
                        reason=f"buyer ids are platform ids (tmall, jd, pdd, douyin); a {source} "
                        "order names its buyer by phone, email, member_no or unionid",
                        field=where,
                    )
                )
                continue
            if namespace and namespace != source.value:
                problems.append(
                    FieldError(
                        reason=f"a {source} order's buyer id is a {source} id; "
                        f"namespace {namespace!r} does not fit",
                        field=f"{where}.namespace",
                        value=namespace,
                    )
                )
                continue
            namespace = source.value
        column = KEY_COLUMNS.get(key_in.kind)
        if column is None:
            problems.append(
                FieldError(
                    reason=f"orders cannot name their buyer by {key_in.kind}: {_KEY_HINT}",
                    field=f"{where}.kind",
                    value=key_in.kind.value,
                )
            )
            continue
        try:
            key = make_key(key_in.kind, key_in.value, namespace)
        except AppError as exc:
            problems.append(app_error_field(exc, field=where))
            continue
        if key.kind is KeyKind.MEMBER_NO and len(key.value) > _MEMBER_NO_MAX:
            problems.append(
                FieldError(
                    reason=f"a member number has at most {_MEMBER_NO_MAX} characters",
                    field=f"{where}.value",
                )
            )
            continue
        if row[column] is not None:
            problems.append(
                FieldError(reason=f"one {key.kind} key per order", field=f"{where}.kind")
            )
            continue
        row[column] = key.value


def _code(
    what: str,
    code: str | None,
    object_id: uuid.UUID | None,
    codes: set[str],
    code_by_id: dict[uuid.UUID, str | None],
    problems: list[FieldError],
    fields: tuple[str, str],
) -> str | None:
    """Return the store (or staff) code for a code or an id, adding problems for bad ones."""
    code_field, id_field = fields
    code = (code or "").strip() or None
    if code is not None and code not in codes:
        problems.append(tenancy.unknown_code(what, code, code_field))
        return None
    if object_id is None:
        return code
    if object_id not in code_by_id:
        problems.append(
            FieldError(reason=f"{what} {object_id} not found", field=id_field, value=str(object_id))
        )
        return None
    by_id = code_by_id[object_id]
    if by_id is None:
        problems.append(
            FieldError(
                reason=f"{what} {object_id} has no code, and orders are credited by code; "
                + (
                    "give the org unit a code"
                    if what == "store"
                    else "give the staff member a WeCom userid"
                ),
                field=id_field,
                value=str(object_id),
            )
        )
        return None
    if code is not None and code != by_id:
        problems.append(
            FieldError(
                reason=f"{code_field} {code!r} and {id_field} name different {what}",
                field=id_field,
                value=str(object_id),
            )
        )
        return None
    return by_id


def _route_customers(db: Session, actor: Actor, checked: list[_Checked]) -> None:
    """Give orders naming a ``customer_id`` one of that customer's keys to be matched by.

    The write path finds buyers by key; a key owned by exactly that customer brings the order
    to them and to no one else.
    """
    wanted = [c for c in checked if c.customer_id is not None]
    if not wanted:
        return
    visible = customers.visible_ids(db, actor, [c.customer_id for c in wanted if c.customer_id])
    keys: dict[uuid.UUID, list[IdentityKey]] = {}
    rows = db.execute(
        select(Identity.customer_id, Identity.kind, Identity.namespace, Identity.value).where(
            Identity.customer_id.in_(list(visible)),
            Identity.kind.in_([k.value for k in _PREFERRED]),
        )
    )
    for r in rows:
        keys.setdefault(r.customer_id, []).append(
            IdentityKey(KeyKind(r.kind), r.value, r.namespace)
        )
    for c in wanted:
        if c.customer_id not in visible:
            c.problems.append(
                FieldError(
                    reason=f"customer {c.customer_id} not found (send keys to identify new people)",
                    field="customer_id",
                    value=str(c.customer_id),
                )
            )
            continue
        key = _carrier(keys.get(c.customer_id, []), c.source)
        if key is None:
            c.problems.append(
                FieldError(
                    reason=f"customer {c.customer_id} has no phone, email, member number, "
                    f"unionid or {c.source} buyer id to carry orders; send the buyer's keys "
                    "instead, or add one to the customer",
                    field="customer_id",
                    value=str(c.customer_id),
                )
            )
            continue
        c.row[KEY_COLUMNS[key.kind]] = key.value


def _carrier(keys: list[IdentityKey], source: OrderSource) -> IdentityKey | None:
    usable = [k for k in keys if k.kind is not KeyKind.BUYER or (k.namespace == source.value)]
    if source not in PLATFORMS:
        usable = [k for k in usable if k.kind is not KeyKind.BUYER]
    return min(usable, key=lambda k: _PREFERRED.index(k.kind), default=None)
