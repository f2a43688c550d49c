"""Error flags to ``FieldError``: what is wrong with a cell and how to fix it.

Reasons are short English sentences, "what's wrong: how to fix", naming the user's own header
where it helps. Messages are assembled column-wise with Polars, so a file with a million bad
rows costs about as much as building the million ``FieldError`` objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from siyu.core.errors import FieldError
from siyu.core.money import format_fen
from siyu.ingest.duplicates import FIRST_ROW, LINE_FIRST_ROW
from siyu.ingest.formats import FIELDS, Kind, Resolved
from siyu.ingest.reader import ROW
from siyu.ingest.rows import ERR, RAW

VALUE_REASONS: Mapping[Kind, str] = {
    Kind.AMOUNT: "not an amount: write yuan like 129.00 or ¥1,234.50",
    Kind.TIME: "not a date and time: write it like 2024-03-01 14:30:00 (local time)",
    Kind.INT: "not a quantity: write a whole number of at least 1",
    Kind.PHONE: (
        "not a mainland mobile number: write 11 digits like 13812345678 "
        "(a masked 138****1234 is kept as masked), or leave it empty"
    ),
    Kind.EMAIL: "not an e-mail address: write it like name@example.com, or leave it empty",
}
_SCHEMA = {"row": pl.Int64, "position": pl.Int64, "column": pl.String, "value": pl.String}


def describe(bad: pl.DataFrame, resolved: Resolved, headers: Sequence[str]) -> list[FieldError]:
    """Return one ``FieldError`` per flagged cell of ``bad``, by row, then by column position."""
    position = {h: i for i, h in enumerate(headers)}
    parts: list[pl.DataFrame] = []
    for flag in (c for c in bad.columns if c.startswith(ERR)):
        check, name = flag.removeprefix(ERR).split("__", 1)
        hit = bad.filter(pl.col(flag))
        if not hit.height:
            continue
        header = resolved.header(name)
        raw = pl.col(RAW + name) if RAW + name in hit.columns else pl.lit(None, pl.String)
        parts.append(
            hit.select(
                pl.col(ROW).alias("row"),
                pl.lit(position.get(header or "", -1), pl.Int64).alias("position"),
                pl.lit(header, pl.String).alias("column"),
                raw.cast(pl.String).fill_null("").alias("value"),
                _reason(check, name, hit, resolved).alias("reason"),
            )
        )
    if not parts:
        return []
    # One header can feed two fields (Douyin's 订单应付金额 is paid and line amount): say it once.
    table = (
        pl.concat(parts)
        .sort("row", "position", maintain_order=True)
        .unique(["row", "column", "value", "reason"], keep="first", maintain_order=True)
    )
    columns = (table[c].to_list() for c in ("row", "column", "value", "reason"))
    return [
        FieldError(reason, row=row, column=column, value=value)
        for row, column, value, reason in zip(*columns, strict=True)
    ]


def _reason(check: str, name: str, hit: pl.DataFrame, resolved: Resolved) -> pl.Expr:
    """Return the reason for each row of ``hit`` (flagged by ``check`` on field ``name``)."""
    if check == "refund_over":
        texts = [
            f"refund {format_fen(refund)} is more than the {format_fen(paid)} paid: "
            "check the refund amount"
            for refund, paid in zip(hit["refunded_v"], hit["paid_row"], strict=True)
        ]
        return pl.lit(pl.Series(texts, dtype=pl.String))
    if check == "again" and name == "line_id":
        return pl.format(
            "sub-order appears again (first at row {}): remove the row", pl.col(LINE_FIRST_ROW)
        )
    if check == "again" and resolved.format.rows_per_order == "many":
        return pl.format(
            "order number appears again after other orders (its rows start at row {}): keep all "
            f"rows of an order together, e.g. sort by {resolved.header('external_id')}",
            pl.col(FIRST_ROW),
        )
    if check == "again":
        return pl.format(
            "order number appears again (first at row {}): each order must appear once; "
            "remove the duplicate row",
            pl.col(FIRST_ROW),
        )
    return pl.lit(_fixed_reason(check, name, resolved), pl.String)


def _fixed_reason(check: str, name: str, resolved: Resolved) -> str:
    if check == "value":
        return VALUE_REASONS[FIELDS[name]]
    if check == "missing" and name == "external_id":
        return "order number is empty: every row needs its order number"
    if check == "missing" and name == "paid":
        return "amount is empty: fill in what the buyer paid, in yuan, like 129.00"
    if check == "missing":
        wanted = " or ".join(h for t in ("paid_at", "created_at") if (h := resolved.header(t)))
        return f"no payment or order time: fill in {wanted} like 2024-03-01 14:30:00"
    if check == "rounded":
        return (
            "order number was turned into a number by Excel and lost digits: "
            "export again and keep the column as text"
        )
    if check == "negative":
        return "negative amount: write a positive amount (refunds go in the refund column)"
    if check == "partial":
        return (
            "says partially refunded but gives no refund amount: fill in the refunded amount "
            f"({resolved.header('refunded') or '退款金额'}) in yuan"
        )
    raise ValueError(f"no reason for check {check!r} on {name!r}")  # a flag without a message
