"""Row-level reading: cell text to typed values, per-row order facts and their error flags.

Work is arranged so the common path costs a few cheap vectorised passes per column:

- low-cardinality fields (amounts, statuses, quantities) are cleaned and read once per distinct
  text of the batch, then joined back;
- times and phones are read by a cheap ``*_fast`` expression straight from the raw cell, and only
  the cells it leaves unread go through ``clean`` and the thorough reader (again per distinct text).

Each check adds a boolean column ``err__<check>__<field>``; ``messages.describe`` turns the true
ones into ``FieldError`` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from siyu.ingest import values
from siyu.ingest.formats import (
    CLOSED_MARKERS,
    FIELDS,
    FULL_REFUND_MARKERS,
    NO_REFUND_MARKERS,
    PARTIAL_REFUND_MARKERS,
    UNPAID_MARKERS,
    Kind,
    Resolved,
)

ERR = "err__"
RAW = "raw__"
"""Prefix of the columns holding a field's cell text exactly as in the file (for messages)."""

_KEY = "__key"
_UTC = pl.Datetime("us", "UTC")
_STATUS_FLAGS = ("unpaid", "closed", "full", "partial")


class Memo:
    """What the per-distinct-text readers found, kept across the batches of one file.

    Prices, statuses and quantities repeat from batch to batch, so after the first batches most
    of them are looked up, not read again. At most ``limit`` texts per field are kept.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.tables: dict[str, pl.DataFrame] = {}


def read_values(
    df: pl.DataFrame, resolved: Resolved, timezone: str, memo: Memo | None = None
) -> pl.DataFrame:
    """Add cleaned text (``<field>``), typed values (``<field>_v``) and value-error flags.

    ``df`` holds ``ROW`` and ``raw__<field>`` columns (coalesced fields arrive cleaned).
    """
    memo = memo or Memo()
    present = {c.removeprefix(RAW) for c in df.columns if c.startswith(RAW)}
    cheap: list[pl.Expr] = []
    for name in present:
        kind, raw = FIELDS[name], pl.col(RAW + name)
        if kind is Kind.ID:
            cheap.append(values.clean_id(raw).alias(name))
        elif kind is Kind.TEXT:
            cheap.append(values.clean_text(raw).alias(name))
        elif kind is Kind.EMAIL:
            text = values.clean(raw)
            ok = values.is_email(text)
            cheap += [
                pl.when(ok).then(text).alias(name),
                (text.is_not_null() & ~ok).alias(f"{ERR}value__{name}"),
            ]
        elif kind is Kind.TIME:
            cheap.append(values.time_fast(raw, timezone).alias(f"{name}_v"))
        elif kind is Kind.PHONE:
            mobile, masked = values.phone_fast(raw)
            cheap += [mobile.alias("phone"), masked.alias("phone_masked")]
    df = df.with_columns(cheap)
    for name in sorted(present):
        kind = FIELDS[name]
        if kind is Kind.AMOUNT:
            df = _lookup(df, name, None, _amount, post=_slow_amounts, memo=memo)
        elif kind is Kind.INT:
            df = _lookup(df, name, None, _quantity, memo=memo)
        elif kind is Kind.STATUS:
            df = _lookup(df, name, None, _status, memo=memo)
        elif kind is Kind.TIME:
            need = pl.col(f"{name}_v").is_null() & pl.col(RAW + name).is_not_null()
            df = _lookup(df, name, need, lambda t: _time(t, timezone), merge=True)
        elif kind is Kind.PHONE:
            need = (
                pl.col("phone").is_null()
                & pl.col("phone_masked").is_null()
                & pl.col(RAW + name).is_not_null()
            )
            df = _lookup(df, name, need, _phone, merge=True)
    if resolved.format.split_address and "address" in present:
        wanted = [n for n in ("province", "city", "district") if n not in present]
        df = values.split_address(df, "address", wanted)
    return df


def row_logic(df: pl.DataFrame, resolved: Resolved, *, many: bool) -> pl.DataFrame:
    """Add the per-row order facts (``unpaid``, ``paid_row``, ``refund_row``, …) and their checks.

    On many-row layouts whose amounts are per order, order-level checks run on the first row of
    each order only (later rows may leave those cells empty).
    """
    have = set(df.columns)

    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name) if name in have else pl.lit(None, dtype)

    def flag(name: str) -> pl.Expr:
        return pl.col(name).fill_null(False) if name in have else pl.lit(False)

    pay_time = col("paid_at_v", _UTC).is_not_null()
    st_closed = flag("status_closed")
    unpaid = flag("status_unpaid") | (st_closed & ~pay_time)
    full_signal = flag("refund_status_full") | flag("status_full") | (st_closed & pay_time)
    rs_partial, st_partial = flag("refund_status_partial"), flag("status_partial")
    paid, refund_amount = col("paid_v", pl.Int64()), col("refunded_v", pl.Int64())
    given = (refund_amount > 0).fill_null(False)
    zero = pl.lit(0, pl.Int64)
    paid_row = pl.when(unpaid).then(zero).otherwise(paid)
    refund_row = (
        pl.when(unpaid)
        .then(zero)
        .when(given)
        .then(refund_amount)
        .when(full_signal)
        .then(paid_row)
        .otherwise(zero)
    )
    if many and resolved.format.amounts_per == "order":
        run = pl.col("external_id").rle_id()
        check = run != run.shift(1).fill_null(-1)
    else:
        check = pl.lit(True)
    check_paid = check & ~unpaid
    times = [t for t in ("paid_at", "created_at") if t in resolved.headers]
    no_time = pl.all_horizontal(
        [pl.col(f"{t}_v").is_null() & ~pl.col(f"{ERR}value__{t}") for t in times]
    )
    flags = [
        pl.col("external_id").is_null().alias(f"{ERR}missing__external_id"),
        values.looks_rounded(pl.col("external_id"))
        .fill_null(False)
        .alias(f"{ERR}rounded__external_id"),
        (check_paid & col("paid", pl.Utf8()).is_null()).alias(f"{ERR}missing__paid"),
        (check & no_time).alias(f"{ERR}missing__{times[0]}"),
        *[
            (pl.col(f"{n}_v") < 0).fill_null(False).alias(f"{ERR}negative__{n}")
            for n in resolved.headers
            if FIELDS[n] is Kind.AMOUNT
        ],
    ]
    if "refunded" in resolved.headers:
        over = check_paid & given & (refund_amount > paid_row)
        flags.append(over.fill_null(False).alias(f"{ERR}refund_over__refunded"))
    missing_amount = check_paid & ~given & ~full_signal
    if "refund_status" in resolved.headers:
        flags.append((missing_amount & rs_partial).alias(f"{ERR}partial__refund_status"))
    if "status" in resolved.headers:
        flags.append((missing_amount & st_partial & ~rs_partial).alias(f"{ERR}partial__status"))
    return df.with_columns(
        *flags,
        unpaid.alias("unpaid"),
        full_signal.alias("full_signal"),
        paid_row.alias("paid_row"),
        refund_row.alias("refund_row"),
        pl.coalesce(col("paid_at_v", _UTC), col("created_at_v", _UTC)).alias("paid_at_utc"),
        col("refunded_at_v", _UTC).alias("refunded_at_utc"),
    )


def _lookup(
    df: pl.DataFrame,
    name: str,
    need: pl.Expr | None,
    build: Callable[[pl.Expr], Mapping[str, pl.Expr]],
    *,
    post: Callable[[pl.DataFrame, str], pl.DataFrame] | None = None,
    merge: bool = False,
    memo: Memo | None = None,
) -> pl.DataFrame:
    """Join columns computed once per distinct raw text of ``name`` (of the rows in ``need``).

    ``build`` gives {column: expression over the raw text}; with ``merge`` the results fill the
    nulls of existing columns of the same name (a slow path behind a fast one); ``memo`` keeps
    the results for the next batches.
    """
    raw = RAW + name
    text = pl.col(raw) if need is None else pl.col(raw).filter(need)
    keys = df.select(text.drop_nulls().unique().alias(_KEY))
    known = memo.tables.get(name) if memo else None
    todo = keys if known is None else keys.join(known, on=_KEY, how="anti")
    if known is None or todo.height:
        exprs = {c.replace("@", name): e for c, e in build(pl.col(_KEY)).items()}
        table = todo.with_columns(e.alias(c) for c, e in exprs.items())
        if post is not None:
            table = post(table, name)
        if memo is not None and known is not None:
            if known.height + table.height > memo.limit:
                known = known.join(keys, on=_KEY, how="semi")
            table = pl.concat([known, table], how="vertical_relaxed")
    else:
        table = known
    if memo is not None:
        memo.tables[name] = table
    made = [c for c in table.columns if c != _KEY]
    if merge and not keys.height:
        fresh = [c for c in made if c not in df.columns]
        return df.with_columns(_blank(c, table.schema[c]) for c in fresh)
    # Join the key column alone, then attach the results: joining the whole (wide) frame
    # would copy every column once per lookup.
    found = (
        df.select(pl.col(raw).alias(_KEY))
        .join(table, on=_KEY, how="left", maintain_order="left")
        .drop(_KEY)
    )
    attach: list[pl.Expr | pl.Series] = []
    for column in made:
        value = found.get_column(column)
        if merge and column in df.columns:
            attach.append(pl.coalesce(pl.col(column), pl.lit(value)).alias(column))
        elif column.startswith(ERR):
            attach.append(value.fill_null(False))
        else:
            attach.append(value)
    return df.with_columns(attach)


def _blank(column: str, dtype: pl.DataType) -> pl.Expr:
    value = pl.lit(False) if column.startswith(ERR) else pl.lit(None, dtype)
    return value.alias(column)


def _amount(raw: pl.Expr) -> Mapping[str, pl.Expr]:
    text = values.clean(raw)
    return {"@": text, "@_v": values.amount_fen(text)}


def _slow_amounts(table: pl.DataFrame, name: str) -> pl.DataFrame:
    """Read the amounts the pattern left unread through ``parse_yuan``; flag the rest."""
    todo = table.filter(pl.col(name).is_not_null() & pl.col(f"{name}_v").is_null())
    if todo.height:
        fixed = {t: values.slow_fen(t) for t in todo.get_column(name)}
        found = {t: f for t, f in fixed.items() if f is not None}
        if found:
            patch = pl.col(name).replace_strict(
                list(found), list(found.values()), default=None, return_dtype=pl.Int64
            )
            table = table.with_columns(pl.coalesce(f"{name}_v", patch).alias(f"{name}_v"))
    bad = pl.col(name).is_not_null() & pl.col(f"{name}_v").is_null()
    return table.with_columns(bad.alias(f"{ERR}value__{name}"))


def _quantity(raw: pl.Expr) -> Mapping[str, pl.Expr]:
    text = values.clean(raw)
    count = values.quantity(text)
    return {
        "@": text,
        "@_v": count,
        f"{ERR}value__@": text.is_not_null() & (count.is_null() | (count < 1)),
    }


def _status(raw: pl.Expr) -> Mapping[str, pl.Expr]:
    text = values.clean(raw)
    no_refund = _contains(text, NO_REFUND_MARKERS)
    partial = ~no_refund & _contains(text, PARTIAL_REFUND_MARKERS)
    return {
        "@": text,
        "@_unpaid": _contains(text, UNPAID_MARKERS),
        "@_closed": _contains(text, CLOSED_MARKERS),
        "@_partial": partial,
        "@_full": ~no_refund & ~partial & _contains(text, FULL_REFUND_MARKERS),
    }


def _time(raw: pl.Expr, timezone: str) -> Mapping[str, pl.Expr]:
    text = values.clean(raw)
    value = values.time_utc(text, timezone)
    return {"@_v": value, f"{ERR}value__@": text.is_not_null() & value.is_null()}


def _phone(raw: pl.Expr) -> Mapping[str, pl.Expr]:
    mobile, masked, unreadable = values.phone_parts(values.clean(raw))
    return {"phone": mobile, "phone_masked": masked, f"{ERR}value__phone": unreadable}


def _contains(text: pl.Expr, markers: tuple[str, ...]) -> pl.Expr:
    return text.str.contains_any(list(markers), ascii_case_insensitive=True).fill_null(False)
