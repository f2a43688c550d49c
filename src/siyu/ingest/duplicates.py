"""Order ids met again: within a batch, and across the batches of one file.

A one-row layout must list each order once; a many-row layout must keep an order's rows
together. Either way the first occurrence (row, or block of adjacent rows) is the order and every
later one is flagged. Earlier batches are remembered as 64-bit hashes of the ids with their first
row (16 bytes per order, so a million orders cost ~16 MB); a hash collision between two different
ids would be misreported as a repeat, which at 2⁻⁶⁴ per pair is not worth the memory of keeping
the strings.
"""

from __future__ import annotations

import polars as pl

from siyu.ingest.reader import ROW

AGAIN = "err__again__external_id"
FIRST_ROW = "first_row"
LINE_AGAIN = "err__again__line_id"
LINE_FIRST_ROW = "line_first_row"
_H = "__h"


class Seen:
    """The order ids of one file read so far."""

    def __init__(self) -> None:
        self._seen = pl.DataFrame(schema={_H: pl.UInt64, ROW: pl.Int64})

    def mark(self, df: pl.DataFrame, *, many: bool) -> pl.DataFrame:
        """Add ``AGAIN`` (bool) and ``FIRST_ROW`` (the earlier row) for repeated order ids.

        One-row layouts flag every later row with a known id; many-row layouts flag the first
        row of each later block of an id's rows. Then remember this batch's ids.
        """
        ids = pl.col("external_id")
        units = df.select(ROW, "external_id")
        if many:
            run = ids.rle_id()
            units = units.filter(run != run.shift(1).fill_null(-1))
        units = units.filter(ids.is_not_null())
        units = units.with_columns(ids.hash(seed=0).alias(_H))
        again = repeats(units, "external_id")
        known = self._known(units.get_column(_H))
        if known.height:
            earlier = units.join(known, on=_H, how="inner", suffix="_first")
            again = pl.concat([again, earlier.select(ROW, pl.col(f"{ROW}_first").alias(FIRST_ROW))])
        self._remember(units, known)
        return flag(df, again, AGAIN, FIRST_ROW)

    def _known(self, hashes: pl.Series) -> pl.DataFrame:
        return self._seen.filter(pl.col(_H).is_in(hashes.implode()))

    def _remember(self, units: pl.DataFrame, known: pl.DataFrame) -> None:
        new = units.select(_H, ROW).unique(_H, keep="first", maintain_order=True)
        if known.height:
            new = new.filter(~pl.col(_H).is_in(known.get_column(_H).implode()))
        self._seen = pl.concat([self._seen, new], rechunk=False)


def repeats(units: pl.DataFrame, column: str) -> pl.DataFrame:
    """Return the rows (``ROW``, ``FIRST_ROW``) whose ``column`` value occurred in an earlier row.

    Candidates are found on 64-bit hashes (cheap), then confirmed on the text itself.
    """
    h = pl.col(column).hash(seed=0)
    candidates = units.filter(pl.col(column).is_not_null() & h.is_duplicated())
    if not candidates.height:
        return pl.DataFrame(schema={ROW: pl.Int64, FIRST_ROW: pl.Int64})
    first = candidates.group_by(column).agg(pl.col(ROW).min().alias(FIRST_ROW))
    later = candidates.join(first, on=column).filter(pl.col(ROW) != pl.col(FIRST_ROW))
    return later.select(ROW, FIRST_ROW)


def flag(df: pl.DataFrame, hits: pl.DataFrame, name: str, first_name: str) -> pl.DataFrame:
    """Add bool ``name`` for the rows in ``hits`` and ``first_name`` with their earlier row."""
    if not hits.height:
        return df.with_columns(pl.lit(False).alias(name), pl.lit(None, pl.Int64).alias(first_name))
    hits = hits.group_by(ROW).agg(pl.col(FIRST_ROW).min())
    first = pl.col(ROW).replace_strict(
        hits.get_column(ROW), hits.get_column(FIRST_ROW), default=None, return_dtype=pl.Int64
    )
    return df.with_columns(first.alias(first_name)).with_columns(
        pl.col(first_name).is_not_null().alias(name)
    )


def mark_lines(df: pl.DataFrame) -> pl.DataFrame:
    """Add ``LINE_AGAIN``/``LINE_FIRST_ROW`` for sub-order numbers repeated in the batch."""
    units = df.select(ROW, "line_id")
    hits = repeats(units, "line_id")
    return flag(df, hits, LINE_AGAIN, LINE_FIRST_ROW)
