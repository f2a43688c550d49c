"""Files to string frames: batched CSV reading (see ``csvfile``), XLSX sheets, row counts.

Every cell is read as text (no type inference: order numbers must not become floats) and every
frame carries ``ROW``, the 1-based data row number as a spreadsheet user counts it below the
header row, so errors can point at the row the user sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fastexcel
import polars as pl

from siyu.core.errors import InvalidInput
from siyu.ingest.csvfile import Blocks, prefetched

ROW = "__row"
"""Name of the row-number column on every raw frame."""

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"


@dataclass(frozen=True)
class Table:
    """A file opened for reading: its header row, and its rows in batches of text on demand."""

    headers: list[str]
    read: Callable[[Sequence[str]], Iterator[pl.DataFrame]]
    """Batches of exactly ``batch_rows`` rows (the last may be shorter) of ``ROW`` (Int64) and
    the given header columns (String); call once."""


def is_spreadsheet(path: Path) -> bool:
    """Return whether ``path`` is an Excel workbook (by content, not by name)."""
    with path.open("rb") as f:
        magic = f.read(4)
    return magic in (_XLSX_MAGIC, _XLS_MAGIC)


@contextmanager
def open_table(path: Path, *, batch_rows: int) -> Iterator[Table]:
    """Open ``path`` (CSV in UTF-8/GBK/GB18030, or XLSX/XLS) for batched reading."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", hint="check the path and upload again")
    if is_spreadsheet(path):
        yield _open_excel(path, batch_rows=batch_rows)
        return
    with path.open("rb") as file:
        blocks = Blocks(file, path.name)
        header = blocks.header()
        try:
            names = pl.read_csv(header, n_rows=0, infer_schema=False).columns
        except pl.exceptions.PolarsError as exc:
            raise _unreadable(path.name, exc) from exc

        def read(columns: Sequence[str]) -> Iterator[pl.DataFrame]:
            return _csv_batches(blocks, names, columns, batch_rows)

        yield Table(headers=names, read=read)


def count_rows(path: Path) -> int:
    """Return the number of data rows below the header, quickly (for progress bars).

    Counts records, not lines (quoted line breaks are honoured); blank rows are included.
    """
    path = Path(path)
    if is_spreadsheet(path):
        try:
            sheet = fastexcel.read_excel(str(path)).load_sheet(0, n_rows=0)
        except Exception as exc:  # fastexcel raises many types; any means unreadable
            raise _unreadable(path.name, exc) from exc
        return int(sheet.total_height)
    try:
        frame = (
            pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=True)
            .select(pl.len())
            .collect()
        )
    except pl.exceptions.PolarsError as exc:
        raise _unreadable(path.name, exc) from exc
    return int(frame.item())


def _csv_batches(
    blocks: Blocks, names: list[str], columns: Sequence[str], batch_rows: int
) -> Iterator[pl.DataFrame]:
    schema = dict.fromkeys(names, pl.String())
    wanted = [names.index(c) for c in columns]
    done = 0
    pending: pl.DataFrame | None = None
    for block in prefetched(iter(blocks)):
        try:
            frame = pl.read_csv(
                block,
                has_header=False,
                schema=schema,
                columns=wanted,
                truncate_ragged_lines=True,
                extra_columns="ignore",
                raise_if_empty=False,
            )
        except pl.exceptions.PolarsError as exc:
            raise _unreadable(blocks.name, exc, after=done) from exc
        frame = frame.select(pl.int_range(done + 1, done + 1 + frame.height).alias(ROW), *columns)
        done += frame.height
        pending = frame if pending is None else pl.concat([pending, frame], rechunk=False)
        while pending.height >= batch_rows:
            yield pending.slice(0, batch_rows)
            pending = pending.slice(batch_rows)
    if pending is not None and pending.height:
        yield pending


def _open_excel(path: Path, *, batch_rows: int) -> Table:
    try:
        frame = pl.read_excel(
            path,
            engine="calamine",
            infer_schema_length=0,
            drop_empty_rows=False,
            drop_empty_cols=False,
            raise_if_empty=False,
        )
    except Exception as exc:  # fastexcel raises many types; any means unreadable
        raise _unreadable(path.name, exc) from exc
    headers = frame.columns
    frame = frame.with_columns(pl.all().cast(pl.String)).with_row_index(ROW, offset=1)
    frame = frame.with_columns(pl.col(ROW).cast(pl.Int64))

    def read(columns: Sequence[str]) -> Iterator[pl.DataFrame]:
        chosen = frame.select(ROW, *columns)
        return (chosen.slice(start, batch_rows) for start in range(0, chosen.height, batch_rows))

    return Table(headers=headers, read=read)


def _unreadable(name: str, exc: BaseException, *, after: int | None = None) -> InvalidInput:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    where = f" after data row {after}" if after is not None else ""
    return InvalidInput(
        f"cannot read {name}{where}: {first}",
        hint="export the file again from the platform, as CSV or .xlsx, without editing it",
    )
