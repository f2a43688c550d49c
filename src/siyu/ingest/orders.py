"""Order import: parsed export batches → customers (through OneID) and idempotent order rows.

Idempotent by (tenant, source, external order id): importing the same file twice changes nothing;
a later export with a new status (paid → refunded, a partial refund) updates the order and records
an event. A new order's own ``order.*`` events are not stored: they are derived from the order row
when a timeline is read (``siyu.orders.timeline``), so a million imported orders cost a million
order rows, not two million rows and their indexes. With ``on_error="abort"`` any bad row means
nothing of the file is written: the whole import runs in the caller's one transaction and
``ImportAborted`` rolls it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from siyu.core import heap
from siyu.core.actor import Actor
from siyu.core.append import append_frame, frame_ids
from siyu.core.clock import SYSTEM_CLOCK, Clock
from siyu.core.errors import AppError, FieldError, InvalidInput
from siyu.core.phone import mask_phone
from siyu.customers.bulk import Filled
from siyu.identity import bulk as identity_bulk
from siyu.identity import proposals
from siyu.identity.keys import IdentityKey, KeyKind, junk_reason, make_key
from siyu.identity.models import Evidence
from siyu.ingest.formats import detect_source, unknown_format
from siyu.ingest.parse import ParsedBatch, read_orders
from siyu.ingest.reader import count_rows, open_table
from siyu.orders import service as orders
from siyu.orders.models import OrderSource
from siyu.security.pii import blind_indexes
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


def _keys_for(
    row: dict[str, Any],
    source: str,
    made: dict[tuple[KeyKind, str, str], IdentityKey | None] | None = None,
) -> list[IdentityKey]:
    """The row's strong keys, strongest first; ``made`` caches each raw value's key (or
    ``None`` for a value OneID cannot use) across the rows of a batch."""
    made = {} if made is None else made
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
        raw = (kind, value, namespace)
        if raw in made:
            key = made[raw]
        else:
            try:
                key = make_key(kind, value, namespace)
            except AppError:
                key = None  # a value the parser let through but OneID cannot use as a key
            made[raw] = key
        if key is not None:
            keys.append(key)
    return keys


_PLATFORMS = {"tmall", "jd", "pdd", "douyin"}


def _profile(
    row: dict[str, Any], keys: Sequence[IdentityKey], junk: dict[IdentityKey, bool] | None = None
) -> dict[str, Any]:
    """The golden-record fields an order carries (only valid, non-junk phone and email);
    ``junk`` caches whether each key is junk across the rows of a batch."""
    junk = {} if junk is None else junk
    phone = email = None
    for k in keys:
        if k.kind is KeyKind.PHONE or k.kind is KeyKind.EMAIL:
            is_junk = junk.get(k)
            if is_junk is None:
                is_junk = junk[k] = junk_reason(k) is not None
            if not is_junk:
                if k.kind is KeyKind.PHONE:
                    phone = k.value
                else:
                    email = k.value
    return {
        "name": row.get("receiver_name") or None,
        "phone": phone,
        "email": email,
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
    batch_rows: int = 50_000,
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
    with heap.bulk():  # millions of short-lived objects: ease the garbage collector
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


def _existing_orders(db: Session, source: OrderSource, external_ids: Sequence[str]) -> pl.DataFrame:
    """The stored state of the orders of ``source`` with these external ids, as a frame."""
    found: list[orders.OrderState] = []
    names: list[str] = []
    for start in range(0, len(external_ids), _LOOKUP_CHUNK):
        part = external_ids[start : start + _LOOKUP_CHUNK]
        for external_id, state in orders.states_by_external_id(db, source, part).items():
            names.append(external_id)
            found.append(state)
    return pl.DataFrame(
        {
            "external_id": names,
            "known_id": [str(s.id) for s in found],
            "known_status": [str(s.status) for s in found],
            "known_paid": [s.paid_fen for s in found],
            "known_refunded": [s.refunded_fen for s in found],
        },
        schema={
            "external_id": pl.Utf8,
            "known_id": pl.Utf8,
            "known_status": pl.Utf8,
            "known_paid": pl.Int64,
            "known_refunded": pl.Int64,
        },
    )


@dataclass
class _Tally:
    """What an import carries from batch to batch: the customers it created and matched, the
    profile fields its new customers hold (``customers.bulk.Filled``), the owners of the keys it
    stored (``identity.bulk.Owners``), the linkage evidence it
    stored (``_store_evidence``; ``None`` past ``_EVIDENCE_KEPT`` rows), and whether the last
    batch's orders were all new (then ``_write_batch`` builds the next batch's OneID records
    before looking its orders up)."""

    created: set[uuid.UUID] = field(default_factory=set)
    matched: set[uuid.UUID] = field(default_factory=set)
    filled: Filled = field(default_factory=dict)
    owners: identity_bulk.Owners = field(default_factory=identity_bulk.Owners)
    evidence: pl.DataFrame | None = field(
        default_factory=lambda: pl.DataFrame(schema=dict.fromkeys(_EVIDENCE_PAIR, pl.Utf8))
    )
    all_new: bool = True  # the last batch's orders were all new (``_write_batch`` speculates)


_RECORD_FIELDS = (
    *("buyer_id", "phone", "member_no", "unionid", "email"),
    *("receiver_name", "province", "city"),
)
"""The columns an order's OneID record is made of (``_keys_for`` and ``_profile``)."""


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
    """Write one batch: update changed orders, resolve the new ones' buyers, append the rest
    and the linkage evidence of their receiver blocks.

    A new order is written as its order row and lines only: its ``order.*`` events are derived
    from the order row when read (``orders.timeline``); changes found by a later import are
    recorded as events. Rows are built as Polars frames and appended with ``append_frame``.
    """
    frame = batch.orders
    # While the last batch's appends still run on the server, its look-up of known orders would
    # only wait: build the buyers' OneID records first, betting the orders are new, as they are
    # in the first import of a file (the bet is kept only while it wins).
    buyers = _buyers(actor, frame, source) if tally.all_new and not frame.is_empty() else None
    existing = _existing_orders(db, order_source, frame.get_column("external_id").to_list())
    tally.all_new = existing.is_empty()
    if frame.is_empty():
        return
    if existing.height:
        known = frame.join(existing, on="external_id", how="inner", maintain_order="left")
        same = (
            (pl.col("status") == pl.col("known_status"))
            & (pl.col("paid_fen") == pl.col("known_paid"))
            & (pl.col("refunded_fen") == pl.col("known_refunded"))
        )
        summary.unchanged += known.filter(same).height
        for row in known.filter(~same).iter_rows(named=True):
            order_id = uuid.UUID(row["known_id"])
            orders.apply_update(db, actor, order_id, row, source=source, clock=clock)
            summary.updated += 1
        frame = frame.join(existing, on="external_id", how="anti", maintain_order="left")
    if frame.is_empty():
        return
    if buyers is None or existing.height:
        buyers = _buyers(actor, frame, source)
    frame, fresh = _resolve_buyers(db, actor, frame, buyers, source, clock, summary, tally)
    now = clock.now()
    tenant = pl.lit(str(actor.tenant_id))
    frame = frame.with_columns(frame_ids(frame.height).alias("order_id"))
    order_rows = frame.select(
        tenant.alias("tenant_id"),
        pl.col("order_id").alias("id"),
        pl.col("customer_id"),
        pl.lit(order_source.value).alias("source"),
        pl.col("external_id"),
        pl.col("status"),
        _code_ids(pl.col("store_code"), codes.stores).alias("org_unit_id"),
        _code_ids(pl.col("staff_code"), codes.staff).alias("staff_id"),
        pl.col("paid_fen"),
        pl.col("refunded_fen"),
        pl.col("paid_at"),
        pl.col("refunded_at"),
        pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("created_at"),
    )
    lines = batch.lines.join(
        frame.select("external_id", "order_id"),
        on="external_id",
        how="inner",
        maintain_order="left",
    )
    line_rows = lines.select(
        tenant.alias("tenant_id"),
        frame_ids(lines.height).alias("id"),
        pl.col("order_id"),
        pl.col("sku").fill_null(""),
        pl.col("title").fill_null(""),
        pl.col("quantity"),
        pl.col("unit_price_fen"),
        pl.col("amount_fen"),
    )
    summary.inserted += frame.height
    orders.append_frames(db, order_rows, line_rows)
    _store_evidence(db, actor, frame, source, fresh, tally)


@dataclass(frozen=True)
class _Buyers:
    """The distinct buyers of a batch's orders (``fields`` of ``distinct``) and their OneID
    records, prepared (``identity.bulk.prepare``)."""

    fields: list[str]
    distinct: pl.DataFrame
    records: identity_bulk.Prepared


def _buyers(actor: Actor, frame: pl.DataFrame, source: str) -> _Buyers:
    """One OneID record per distinct buyer of the orders in ``frame`` (no database).

    Orders saying the same about their buyer (same keys, same profile fields) make one OneID
    record, at the place the first of them appears: resolving them in turn would give the second
    and later ones the customer the first one found.
    """
    fields = [name for name in _RECORD_FIELDS if name in frame.columns]
    distinct = frame.select(fields).unique(maintain_order=True)
    records = []
    made: dict[tuple[KeyKind, str, str], IdentityKey | None] = {}
    junk: dict[IdentityKey, bool] = {}
    for row in distinct.iter_rows(named=True):
        keys = _keys_for(row, source, made)
        records.append(identity_bulk.Record(keys=keys, profile=_profile(row, keys, junk)))
    return _Buyers(fields, distinct, identity_bulk.prepare(actor.tenant_id, records))


def _resolve_buyers(
    db: Session,
    actor: Actor,
    frame: pl.DataFrame,
    buyers: _Buyers,
    source: str,
    clock: Clock,
    summary: ImportSummary,
    tally: _Tally,
) -> tuple[pl.DataFrame, set[uuid.UUID]]:
    """Add each new order's ``customer_id`` (text), resolved through batch OneID from the
    orders' ``buyers``; also return the customers the batch created, unless it merged any
    (then a customer it created may hold another's evidence: none is returned)."""
    resolution = identity_bulk.resolve_batch(
        db,
        actor,
        buyers.records,
        source=source,
        clock=clock,
        filled=tally.filled,
        owners=tally.owners,
    )
    tally.created |= resolution.created
    tally.matched |= {c for c in resolution.customer_ids if c not in tally.created}
    summary.customers_created, summary.customers_matched = len(tally.created), len(tally.matched)
    owners = pl.Series("customer_id", [str(c) for c in resolution.customer_ids], dtype=pl.Utf8)
    return frame.join(
        buyers.distinct.with_columns(owners),
        on=buyers.fields,
        how="left",
        nulls_equal=True,
        maintain_order="left",
    ), set() if resolution.merged_ids else resolution.created


def _code_ids(codes: pl.Expr, known: dict[str, uuid.UUID]) -> pl.Expr:
    """Store or staff ids (text) for the codes in a column; unknown codes give null."""
    if not known:
        return pl.lit(None, dtype=pl.Utf8)
    return codes.replace_strict(
        list(known), [str(v) for v in known.values()], default=None, return_dtype=pl.Utf8
    )


_MASKED = r"^1[3-9]\d\*{4}\d{4}$"


def _store_evidence(
    db: Session,
    actor: Actor,
    frame: pl.DataFrame,
    source: str,
    fresh: set[uuid.UUID],
    tally: _Tally,
) -> None:
    """Append the linkage evidence of the new orders' receiver blocks (``proposals``).

    Same rows as ``proposals.evidence_row`` gives, one per customer and distinct receiver block,
    without reading back what is stored: blocks the import stored already (``tally.evidence``)
    are dropped here; those of customers the batch created (``fresh``) are new; the others'
    are appended skipping the ones their customer has (``append_frame``'s ``skip_conflicts``,
    which costs the server more than a plain append). The appends run beside the next batch.
    """

    def text(name: str) -> pl.Expr:
        if name not in frame.columns:
            return pl.lit(None, dtype=pl.Utf8).alias(name)
        value = pl.col(name)
        return pl.when(value != "").then(value).alias(name)

    phone = pl.coalesce(text("phone_masked"), text("phone"))
    clues = frame.select(
        pl.col("customer_id"),
        text("receiver_name").alias("name"),
        phone.alias("phone"),
        text("province"),
        text("city"),
        text("address"),
    ).unique(maintain_order=True)
    eleven = pl.col("phone").str.len_chars() == 11
    clues = clues.with_columns(
        pl.when(pl.col("phone").str.contains(_MASKED))
        .then(pl.col("phone"))
        .when(eleven)
        .then(pl.col("phone").str.slice(0, 3) + "****" + pl.col("phone").str.slice(7))
        .alias("phone_masked")
    )
    odd = clues.filter(pl.col("phone").is_not_null() & pl.col("phone_masked").is_null())
    if odd.height:
        uneven = {p: mask_phone(p) for p in odd.get_column("phone").unique().to_list()}
        clues = clues.with_columns(
            pl.coalesce(
                "phone_masked",
                pl.col("phone").replace_strict(
                    list(uneven), list(uneven.values()), default=None, return_dtype=pl.Utf8
                ),
            )
        )
    fields = list(proposals.EVIDENCE_FIELDS)
    present = pl.sum_horizontal(pl.col(f).is_not_null().cast(pl.Int32) for f in fields)
    clues = clues.filter(present >= 2).with_columns(
        pl.concat_str([pl.col(f).fill_null("") for f in fields], separator="|").alias("print")
    )
    if clues.is_empty():
        return
    prints = blind_indexes(actor.tenant_id, "evidence", clues.get_column("print").to_list())
    clues = clues.with_columns(pl.Series("fingerprint", prints, dtype=pl.Utf8)).unique(
        subset=["customer_id", "fingerprint"], keep="first", maintain_order=True
    )
    if tally.evidence is not None:
        clues = clues.join(tally.evidence, on=list(_EVIDENCE_PAIR), how="anti")
        stored = pl.concat([tally.evidence, clues.select(_EVIDENCE_PAIR)])
        tally.evidence = stored if stored.height <= _EVIDENCE_KEPT else None
    new = pl.col("customer_id").is_in([str(c) for c in fresh])
    for part, skip in ((clues.filter(new), ()), (clues.filter(~new), _EVIDENCE_KEY)):
        _append_evidence(db, actor, part, source, skip)


def _append_evidence(
    db: Session, actor: Actor, clues: pl.DataFrame, source: str, skip: Sequence[str]
) -> None:
    rows = clues.select(
        pl.lit(str(actor.tenant_id)).alias("tenant_id"),
        frame_ids(clues.height).alias("id"),
        pl.col("customer_id"),
        pl.lit(source).alias("source"),
        pl.col("fingerprint"),
        *(pl.col(f) for f in proposals.EVIDENCE_FIELDS),
    )
    append_frame(db, Evidence, rows, wait=False, skip_conflicts=skip)


_EVIDENCE_PAIR: tuple[str, str] = ("customer_id", "fingerprint")
_EVIDENCE_KEY = ("tenant_id", *_EVIDENCE_PAIR)
"""The unique key of ``identity_evidence``: one row per customer and receiver block."""
_EVIDENCE_KEPT = 1_000_000
"""At most this many (customer, block) pairs kept by an import (some 100 bytes each); past
that, its evidence is appended skipping stored rows in the database."""
