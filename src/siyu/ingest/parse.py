"""Rows to orders: statuses, refunds, multi-row grouping, row errors; ``read_orders``.

Decisions (the lead's write path relies on them):

- **Unpaid and closed-without-payment orders are kept**, as status ``cancelled`` with
  ``paid_fen = 0``, so a later export of the same order (now paid) updates it and re-imports
  stay idempotent. "Unpaid" is a status such as 等待买家付款/待付款/待支付, or a closed status
  (交易关闭/已取消/已关闭) on a row without a payment time.
- **Refunds**: a refund amount column wins when it holds a positive amount. Otherwise a status
  saying fully refunded (退款成功, 退货退款成功, 售后完成, 已退款 …), or an order closed after
  payment, means ``refunded_fen = paid_fen``. A status saying 部分退款 without an amount is an
  error (there is nothing to record). ``status`` is derived: cancelled, else refunded when
  ``refunded_fen >= paid_fen``, else partially_refunded when ``refunded_fen > 0``, else paid.
- ``paid_at`` is the payment time, else the order's creation time (unpaid orders have none);
  ``refunded_at`` only when something was refunded and the file says when.
- **Many-row platforms** (JD, Douyin, POS; generic when its mapping names line fields): rows
  with the same order id must be adjacent; an id that turns up again after other orders is an
  error on those later rows (the first block is the order). JD/POS/generic repeat order-level
  values on each row, read from the order's first row; Douyin's amounts and after-sale status
  belong to each 子订单 and are summed.
- **One-row platforms** (Tmall, PDD, generic without line fields): an order id seen again is an
  error on the later row.
- A row with any error is left out of ``orders`` and ``lines``, and so is every other row of its
  order. Rows whose mapped cells are all empty are skipped silently.
- Phones: a full mainland mobile becomes ``phone``; a masked one (``138****1234``) becomes
  ``phone_masked`` only; a landline is ignored; anything else is an error.
- Line ``sku``/``title`` are ``""`` when the file has none; quantity defaults to 1; a missing unit
  price is the line amount divided by the quantity, rounded half up.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from siyu.core.errors import FieldError, InvalidInput
from siyu.ingest import duplicates, messages, rows
from siyu.ingest.formats import (
    COALESCED,
    FIELDS,
    FORMATS,
    Kind,
    Resolved,
    detect_source,
    format_for,
    resolve,
    unknown_format,
)
from siyu.ingest.reader import ROW, Table, open_table
from siyu.ingest.values import clean_id, clean_text

ORDER_COLUMNS: Mapping[str, pl.DataType] = {
    "row": pl.Int64(),
    "external_id": pl.Utf8(),
    "status": pl.Utf8(),
    "paid_fen": pl.Int64(),
    "refunded_fen": pl.Int64(),
    "paid_at": pl.Datetime("us", "UTC"),
    "refunded_at": pl.Datetime("us", "UTC"),
    "buyer_id": pl.Utf8(),
    "receiver_name": pl.Utf8(),
    "phone": pl.Utf8(),
    "phone_masked": pl.Utf8(),
    "email": pl.Utf8(),
    "province": pl.Utf8(),
    "city": pl.Utf8(),
    "district": pl.Utf8(),
    "address": pl.Utf8(),
    "store_code": pl.Utf8(),
    "staff_code": pl.Utf8(),
    "member_no": pl.Utf8(),
    "unionid": pl.Utf8(),
    "openid": pl.Utf8(),
}
"""Columns of ``ParsedBatch.orders``: canonical name -> dtype.

``row`` is the 1-based data row (first data row below the header is 1) of the order's first row;
``status`` is an ``OrderStatus`` value (paid, partially_refunded, refunded, cancelled).
"""

LINE_COLUMNS: Mapping[str, pl.DataType] = {
    "external_id": pl.Utf8(),
    "sku": pl.Utf8(),
    "title": pl.Utf8(),
    "quantity": pl.Int64(),
    "unit_price_fen": pl.Int64(),
    "amount_fen": pl.Int64(),
}
"""Columns of ``ParsedBatch.lines``: one row per order line, joined to orders by external_id."""

TEXT_COLUMNS = (
    "buyer_id",
    "receiver_name",
    "email",
    "province",
    "city",
    "district",
    "address",
    "store_code",
    "staff_code",
    "member_no",
    "unionid",
    "openid",
)
_UNIT = "__unit"


@dataclass(frozen=True)
class ParsedBatch:
    """One batch of a file: valid orders and their lines, and the errors found in it.

    ``orders`` has ``ORDER_COLUMNS``, one row per order; ``lines`` has ``LINE_COLUMNS``;
    ``errors`` lists every bad value as ``FieldError(reason, row=, column=, value=)`` with the
    data row, the user's header text and the raw cell text. An order is never split across
    batches; rows of a bad order appear in neither frame.
    """

    orders: pl.DataFrame
    lines: pl.DataFrame
    errors: list[FieldError]


def read_orders(
    path: Path,
    *,
    source: str | None = None,
    mapping: dict[str, str] | None = None,
    timezone: str = "Asia/Shanghai",
    batch_rows: int = 50_000,
) -> Iterator[ParsedBatch]:
    """Stream the orders in an export file as ``ParsedBatch`` objects of about ``batch_rows`` rows.

    ``source`` is an ``OrderSource`` value (tmall, jd, pdd, douyin, pos) or ``generic``; None
    detects it from the headers. ``mapping`` ({field: header}, fields from
    ``siyu.ingest.formats.FIELDS``) is required for generic and overrides headers otherwise.
    Times in the file are local to ``timezone``. The file is opened and its header checked before
    this returns, so ``UnknownFormat``/``InvalidInput`` come at the call; a file that turns out
    unreadable further down raises ``InvalidInput`` from the iteration. Exhaust the iterator or
    ``close()`` it to release the file and its reader thread.
    """
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown timezone {timezone!r}", hint="use an IANA name such as Asia/Shanghai"
        ) from exc
    if batch_rows < 1:
        raise InvalidInput("batch_rows must be at least 1")
    if source is not None and source not in FORMATS:
        raise InvalidInput(
            f"unknown order source {source!r}", hint=f"use one of: {', '.join(FORMATS)}"
        )
    if source == "generic" and not mapping:
        raise InvalidInput(
            "a generic import needs a column mapping",
            hint="map at least external_id, paid and paid_at to your file's headers",
        )
    stack = ExitStack()
    try:
        table = stack.enter_context(open_table(Path(path), batch_rows=batch_rows))
        if source is None:
            source = detect_source(table.headers)
            if source is None:
                raise unknown_format(table.headers)
        resolved = resolve(format_for(source, mapping), table.headers, mapping)
    except BaseException:
        stack.close()
        raise
    return _Stream(stack, _batches(table, _Parser(resolved, timezone, table.headers)))


class _Stream(Iterator[ParsedBatch]):
    """The batches, with the file released on exhaustion, ``close()`` or garbage collection."""

    def __init__(self, stack: ExitStack, batches: Generator[ParsedBatch, None, None]) -> None:
        self._batches = batches
        self._release = weakref.finalize(self, _release, batches, stack)

    def __next__(self) -> ParsedBatch:
        try:
            return next(self._batches)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading and release the file and its reader thread."""
        self._release()


def _release(batches: Generator[ParsedBatch, None, None], stack: ExitStack) -> None:
    try:
        batches.close()
    finally:
        stack.close()


def _batches(table: Table, parser: _Parser) -> Generator[ParsedBatch, None, None]:
    batches = table.read(parser.columns)
    carry: pl.DataFrame | None = None
    pending = next(batches, None)
    while pending is not None:
        following = next(batches, None)
        frame = pending if carry is None else pl.concat([carry, pending])
        carry = None
        if parser.many and following is not None:
            frame, carry = parser.split_tail(frame)
        if frame.height:
            yield parser.parse(frame)
        pending = following
    if carry is not None and carry.height:
        yield parser.parse(carry)


class _Parser:
    """Parses raw text frames of one file; remembers the order ids already seen."""

    def __init__(self, resolved: Resolved, timezone: str, headers: list[str]) -> None:
        self.resolved = resolved
        self.fmt = resolved.format
        self.timezone = timezone
        self.headers = headers
        self.many = self.fmt.rows_per_order == "many"
        self.seen = duplicates.Seen()
        self.memo = rows.Memo()
        self.columns = sorted({h for present in resolved.headers.values() for h in present})

    def split_tail(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Return (frame without its last order's rows, those rows) to carry to the next batch."""
        header = self.resolved.headers["external_id"][0]  # required by every format
        run = frame.select(clean_id(pl.col(header)).rle_id()).to_series()
        tail = run == run[-1]
        return frame.filter(~tail), frame.filter(tail)

    def parse(self, frame: pl.DataFrame) -> ParsedBatch:
        """Return the orders, lines and errors in ``frame`` (whole orders only)."""
        df = self._cells(frame)
        filled = df.select(pl.any_horizontal(pl.all().exclude(ROW).is_not_null())).to_series()
        if not filled.all():
            df = df.filter(filled)
        df = rows.read_values(df, self.resolved, self.timezone, self.memo)
        df = rows.row_logic(df, self.resolved, many=self.many)
        df = self.seen.mark(df, many=self.many)
        if "line_id" in self.resolved.headers:
            df = duplicates.mark_lines(df)
        flags = [c for c in df.columns if c.startswith(rows.ERR)]
        bad = df.select(pl.any_horizontal(flags)).to_series()
        if not bad.any():
            return ParsedBatch(self._orders(df), self._lines(df), [])
        errors = messages.describe(df.filter(bad), self.resolved, self.headers)
        unit = pl.col("external_id").rle_id() if self.many else pl.col(ROW)
        df = df.with_columns(unit.alias(_UNIT))
        bad_units = df.get_column(_UNIT).filter(bad).implode()
        df = df.filter(~pl.col(_UNIT).is_in(bad_units))
        return ParsedBatch(self._orders(df), self._lines(df), errors)

    def _cells(self, frame: pl.DataFrame) -> pl.DataFrame:
        columns: list[pl.Expr] = [pl.col(ROW)]
        for name, headers in self.resolved.headers.items():
            if name in COALESCED and len(headers) > 1:
                read = clean_id if FIELDS[name] is Kind.ID else clean_text
                columns.append(pl.coalesce([read(pl.col(h)) for h in headers]).alias(name))
            else:
                columns.append(pl.col(headers[0]).alias(rows.RAW + name))
        return frame.select(columns)

    def _orders(self, df: pl.DataFrame) -> pl.DataFrame:
        have = set(df.columns)
        text = [
            (pl.col(n) if n in have else pl.lit(None, pl.Utf8)).alias(n)
            for n in (*TEXT_COLUMNS, "phone", "phone_masked")
        ]
        if not self.many:
            out = df.select(
                pl.col(ROW).alias("row"),
                "external_id",
                pl.col("paid_row").alias("paid_fen"),
                pl.col("refund_row").alias("refunded_fen"),
                "unpaid",
                "full_signal",
                pl.col("paid_at_utc").alias("paid_at"),
                pl.col("refunded_at_utc").alias("refunded_at"),
                *text,
            )
        else:
            line_scope = self.fmt.amounts_per == "line"

            def pick(amount: pl.Expr) -> pl.Expr:
                return amount.sum() if line_scope else amount.first()

            out = (
                df.with_columns(*text, pl.col("external_id").rle_id().alias(_UNIT))
                .group_by(_UNIT, maintain_order=True)
                .agg(
                    pl.col(ROW).first().alias("row"),
                    pl.col("external_id").first(),
                    pick(pl.col("paid_row")).alias("paid_fen"),
                    pick(pl.col("refund_row")).alias("refunded_fen"),
                    pl.col("unpaid").all() if line_scope else pl.col("unpaid").first(),
                    pl.col("full_signal").any(),
                    pl.col("paid_at_utc").first(ignore_nulls=True).alias("paid_at"),
                    pl.col("refunded_at_utc").max().alias("refunded_at"),
                    *[pl.col(n).first(ignore_nulls=True) for n in (*TEXT_COLUMNS, "phone")],
                    pl.col("phone_masked").first(ignore_nulls=True),
                )
            )
        paid, refunded = pl.col("paid_fen"), pl.col("refunded_fen")
        status = (
            pl.when(pl.col("unpaid"))
            .then(pl.lit("cancelled"))
            .when((refunded >= paid) & ((paid > 0) | pl.col("full_signal")))
            .then(pl.lit("refunded"))
            .when(refunded > 0)
            .then(pl.lit("partially_refunded"))
            .otherwise(pl.lit("paid"))
        )
        out = out.with_columns(
            status.alias("status"),
            pl.when(refunded > 0).then(pl.col("refunded_at")).alias("refunded_at"),
        )
        return out.select(pl.col(n).cast(t) for n, t in ORDER_COLUMNS.items())

    def _lines(self, df: pl.DataFrame) -> pl.DataFrame:
        have = set(df.columns)
        if not have & {"sku", "title"}:
            return pl.DataFrame(schema=dict(LINE_COLUMNS))

        def col(name: str, dtype: pl.DataType) -> pl.Expr:
            return pl.col(name) if name in have else pl.lit(None, dtype)

        qty = col("quantity_v", pl.Int64()).fill_null(1)
        unit, line = col("unit_price_v", pl.Int64()), col("line_amount_v", pl.Int64())
        fallback = col("paid_v", pl.Int64()) if not self.many else pl.lit(None, pl.Int64)
        amount = pl.coalesce(line, unit * qty, fallback, pl.lit(0, pl.Int64))
        sku, title = col("sku", pl.Utf8()), col("title", pl.Utf8())
        return (
            df.select(
                "external_id",
                sku.alias("sku"),
                title.alias("title"),
                qty.alias("quantity"),
                pl.coalesce(unit, (amount * 2 + qty) // (qty * 2)).alias("unit_price_fen"),
                amount.alias("amount_fen"),
            )
            .filter(pl.col("sku").is_not_null() | pl.col("title").is_not_null())
            .with_columns(pl.col("sku", "title").fill_null(""))
            .select(pl.col(n).cast(t) for n, t in LINE_COLUMNS.items())
        )
