"""Order import: parsed export batches → customers (through OneID) and idempotent order rows.

Idempotent by (tenant, source, external order id): importing the same file twice changes nothing;
a later export with a new status (paid → refunded, a partial refund) updates the order and records
an event. With ``on_error="abort"`` any bad row means nothing of the file is written: the whole
import runs in the caller's one transaction and ``ImportAborted`` rolls it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.append import append_rows
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import AppError, FieldError, InvalidInput
from siyu.core.ids import new_id
from siyu.events.models import Event, EventType
from siyu.identity import bulk as identity_bulk
from siyu.identity import proposals
from siyu.identity.keys import IdentityKey, KeyKind, junk_reason, make_key
from siyu.identity.models import Evidence
from siyu.ingest.formats import detect_source, unknown_format
from siyu.ingest.parse import ParsedBatch, read_orders
from siyu.ingest.reader import count_rows, open_table
from siyu.orders import service as orders
from siyu.orders.models import OrderSource
from siyu.security.rbac import Perm, require
from siyu.tenancy import service as tenancy

Progress = Callable[[int, int], None]
_LOOKUP_CHUNK = 20_000


class OnError(StrEnum):
    SKIP = "skip"  # write the valid rows, report the bad ones
    ABORT = "abort"  # any bad row: write nothing, report every bad row


@dataclass
class ImportSummary:
    """What an import did.

    ``rows`` counts data rows read (row numbers count from 1 below the header); ``inserted``,
    ``updated`` and ``unchanged`` count orders (JD and Douyin write one row per order line);
    ``skipped`` counts rows left out because of the ``errors``.
    """

    source: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    customers_created: int = 0
    customers_matched: int = 0
    errors: list[FieldError] = field(default_factory=list)
    aborted: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = [e.as_dict() for e in self.errors]
        return data


class ImportAborted(InvalidInput):
    """Raised with ``on_error=abort`` when a file has bad rows; nothing was written."""

    def __init__(self, summary: ImportSummary) -> None:
        first = summary.errors[0]
        super().__init__(
            f"{len(summary.errors)} bad value(s) in the file, first at row {first.row}, "
            f"column {first.column!r}: {first.reason}; nothing was imported",
            hint="fix the listed rows and import again, or use --on-error skip to import the rest",
            errors=summary.errors,
        )
        self.summary = summary


def detect_file_source(path: Path) -> str:
    """Return the platform whose export layout the file's header matches."""
    with open_table(path, batch_rows=1) as table:
        source = detect_source(table.headers)
        if source is None:
            raise unknown_format(table.headers)
        return source


def _keys_for(row: dict[str, Any], source: str) -> list[IdentityKey]:
    keys = []
    candidates: Iterable[tuple[KeyKind, str | None, str]] = (  # strongest first
        (KeyKind.BUYER, row.get("buyer_id"), source if source in _PLATFORMS else ""),
        (KeyKind.PHONE, row.get("phone"), ""),
        (KeyKind.MEMBER_NO, row.get("member_no"), ""),
        (KeyKind.UNIONID, row.get("unionid"), ""),
        (KeyKind.EMAIL, row.get("email"), ""),
    )
    for kind, value, namespace in candidates:
        if not value or (kind is KeyKind.BUYER and not namespace):
            continue
        try:
            keys.append(make_key(kind, value, namespace))
        except AppError:
            continue  # a value the parser let through but OneID cannot use as a key
    return keys


_PLATFORMS = {"tmall", "jd", "pdd", "douyin"}


def _profile(row: dict[str, Any], keys: Sequence[IdentityKey]) -> dict[str, Any]:
    """The golden-record fields an order carries (only valid, non-junk phone and email)."""
    usable = {
        k.kind: k.value
        for k in keys
        if k.kind in (KeyKind.PHONE, KeyKind.EMAIL) and junk_reason(k) is None
    }
    return {
        "name": row.get("receiver_name") or None,
        "phone": usable.get(KeyKind.PHONE),
        "email": usable.get(KeyKind.EMAIL),
        "province": row.get("province") or None,
        "city": row.get("city") or None,
        "member_no": row.get("member_no") or None,
    }


@dataclass
class _Codes:
    stores: dict[str, uuid.UUID]
    staff: dict[str, uuid.UUID]


def _codes(db: Session, actor: Actor) -> _Codes:
    units = tenancy.list_org_units(db, actor)
    staff = tenancy.list_staff(db, actor, include_inactive=True)
    return _Codes(
        stores={u.code: u.id for u in units if u.code},
        staff={s.wecom_userid: s.id for s in staff if s.wecom_userid},
    )


def import_orders(
    db: Session,
    actor: Actor,
    path: Path,
    *,
    source: str | None = None,
    mapping: dict[str, str] | None = None,
    on_error: OnError = OnError.SKIP,
    timezone: str | None = None,
    progress: Progress | None = None,
    batch_rows: int = 20_000,
    clock: Clock = SYSTEM_CLOCK,
) -> ImportSummary:
    """Import an order export. Returns the summary; raises ``ImportAborted`` (abort mode)."""
    require(actor, Perm.ORDERS_WRITE)
    require(actor, Perm.CUSTOMERS_WRITE)
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no file at {path}", hint="check the path")
    if source is None:
        source = detect_file_source(path)
    order_source = OrderSource.OTHER if source == "generic" else OrderSource(source)
    summary = ImportSummary(source=source)
    total = count_rows(path) if progress else 0
    codes = _codes(db, actor)
    tally = _Tally()
    batches = read_orders(
        path,
        source=source,
        mapping=mapping,
        timezone=timezone or actor.timezone,
        batch_rows=batch_rows,
    )
    for batch in batches:
        summary.errors.extend(batch.errors)
        summary.rows = max(summary.rows, _rows_seen(batch))
        if on_error is OnError.ABORT and summary.errors:
            continue  # keep parsing to report every bad row; nothing will be written
        _write_batch(db, actor, batch, order_source, source, codes, summary, clock, tally)
        if progress:
            progress(_rows_seen(batch), total)
    summary.skipped = len({e.row for e in summary.errors})
    if on_error is OnError.ABORT and summary.errors:
        summary.aborted = True
        summary.inserted = summary.updated = summary.unchanged = 0
        summary.customers_created = summary.customers_matched = 0
        raise ImportAborted(summary)
    if progress:
        progress(total, total)
    return summary


def write_orders(
    db: Session,
    actor: Actor,
    batch: ParsedBatch,
    *,
    source: str,
    clock: Clock = SYSTEM_CLOCK,
) -> ImportSummary:
    """Upsert already-validated orders (API, webhooks) exactly as a file import writes them.

    ``batch.orders``/``batch.lines`` have ``ORDER_COLUMNS``/``LINE_COLUMNS``; ``source`` is an
    ``OrderSource`` value or ``generic``. Idempotent by (tenant, source, external id); a changed
    status or refund updates the order and records an event. ``batch.errors`` are reported as is.
    """
    require(actor, Perm.ORDERS_WRITE)
    require(actor, Perm.CUSTOMERS_WRITE)
    order_source = OrderSource.OTHER if source == "generic" else OrderSource(source)
    summary = ImportSummary(source=source, rows=batch.orders.height, errors=list(batch.errors))
    codes = _codes(db, actor)
    _write_batch(db, actor, batch, order_source, source, codes, summary, clock, _Tally())
    summary.skipped = len({e.row for e in summary.errors})
    return summary


def _rows_seen(batch: ParsedBatch) -> int:
    last = [int(r) for r in batch.orders["row"].to_list()[-1:]]
    return max([*last, *(e.row or 0 for e in batch.errors)], default=0)


def _existing_orders(
    db: Session, source: OrderSource, external_ids: Sequence[str]
) -> dict[str, orders.OrderState]:
    found: dict[str, orders.OrderState] = {}
    for start in range(0, len(external_ids), _LOOKUP_CHUNK):
        part = external_ids[start : start + _LOOKUP_CHUNK]
        found.update(orders.states_by_external_id(db, source, part))
    return found


@dataclass
class _Tally:
    """Customers an import created and matched, across its batches."""

    created: set[uuid.UUID] = field(default_factory=set)
    matched: set[uuid.UUID] = field(default_factory=set)


def _write_batch(
    db: Session,
    actor: Actor,
    batch: ParsedBatch,
    order_source: OrderSource,
    source: str,
    codes: _Codes,
    summary: ImportSummary,
    clock: Clock,
    tally: _Tally,
) -> None:
    rows = batch.orders.to_dicts()
    if not rows:
        return
    existing = _existing_orders(db, order_source, [r["external_id"] for r in rows])
    fresh = []
    for row in rows:
        state = existing.get(row["external_id"])
        if state is None:
            fresh.append(row)
        elif state.same_as(row):
            summary.unchanged += 1
        else:
            orders.apply_update(db, actor, state.id, row, source=source, clock=clock)
            summary.updated += 1
    if not fresh:
        return
    records = []
    for row in fresh:
        keys = _keys_for(row, source)
        records.append(identity_bulk.Record(keys=keys, profile=_profile(row, keys)))
    resolution = identity_bulk.resolve_batch(db, actor, records, source=source, clock=clock)
    tally.created |= resolution.created
    tally.matched |= {c for c in resolution.customer_ids if c not in tally.created}
    summary.customers_created, summary.customers_matched = len(tally.created), len(tally.matched)

    lines_by_order: dict[str, list[dict[str, Any]]] = {}
    for line in batch.lines.to_dicts():
        lines_by_order.setdefault(line["external_id"], []).append(line)
    new_orders: list[dict[str, Any]] = []
    new_lines: list[dict[str, Any]] = []
    new_events: list[dict[str, Any]] = []
    clues: dict[tuple[Any, ...], dict[str, Any]] = {}
    now = clock.now()
    for row, customer_id in zip(fresh, resolution.customer_ids, strict=True):
        order_id = orders.new_order_row(
            new_orders,
            new_lines,
            row,
            lines_by_order.get(row["external_id"], []),
            customer_id=customer_id,
            source=order_source,
            org_unit_id=codes.stores.get(row.get("store_code") or ""),
            staff_id=codes.staff.get(row.get("staff_code") or ""),
            tenant_id=actor.tenant_id,
        )
        new_events.extend(_order_events(actor, row, order_id, customer_id, source, now))
        clue = (
            customer_id,
            row.get("receiver_name"),
            row.get("phone_masked") or row.get("phone"),
            row.get("province"),
            row.get("city"),
            row.get("address"),
        )
        clues.setdefault(clue, {**row, "name": row.get("receiver_name")})
    summary.inserted += len(fresh)
    orders.insert_rows(db, new_orders, new_lines)
    append_rows(db, Event, new_events)
    evidence = list(
        {
            (e["customer_id"], e["fingerprint"]): e
            for (customer_id, *_), values in clues.items()
            if (e := proposals.evidence_row(actor.tenant_id, customer_id, source, values))
        }.values()
    )
    known = proposals.known_evidence(
        db, [e["customer_id"] for e in evidence if e["customer_id"] not in resolution.created]
    )
    append_rows(
        db, Evidence, [e for e in evidence if (e["customer_id"], e["fingerprint"]) not in known]
    )


def _order_events(
    actor: Actor,
    row: dict[str, Any],
    order_id: uuid.UUID,
    customer_id: uuid.UUID,
    source: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """The event rows of a new order: paid (or cancelled), and refunded if it was."""
    data = {"order_id": str(order_id), "external_id": row["external_id"], "source": source}
    paid_at: datetime = row["paid_at"]

    def event(kind: EventType, occurred_at: datetime, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "tenant_id": actor.tenant_id,
            "id": new_id(),
            "type": kind.value,
            "occurred_at": occurred_at,
            "recorded_at": now,
            "customer_id": customer_id,
            "source": source,
            "idempotency_key": None,
            "data": {**data, **extra},
        }

    if row["status"] == "cancelled":
        return [event(EventType.ORDER_CANCELLED, paid_at, {})]
    out = [event(EventType.ORDER_PAID, paid_at, {"paid_fen": row["paid_fen"]})]
    if row["refunded_fen"]:
        kind = (
            EventType.ORDER_REFUNDED
            if row["status"] == "refunded"
            else EventType.ORDER_PARTIALLY_REFUNDED
        )
        refunded_at = row.get("refunded_at") or paid_at
        out.append(event(kind, refunded_at, {"refunded_fen": row["refunded_fen"]}))
    return out
