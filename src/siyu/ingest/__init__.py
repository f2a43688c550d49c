"""Order importers, parsing layer: a platform export file in, canonical Polars frames out.

The parsing layer has no database: ``read_orders`` streams a CSV or XLSX export from
Tmall/Taobao, JD, Pinduoduo,
Douyin (抖店), our POS layout, or any file under a user-supplied column mapping, and yields
``ParsedBatch`` objects: one row per order, one row per order line, and every bad value as a
``FieldError`` naming the row, the user's column header, the raw text and how to fix it.

- ``formats``: what each platform's export looks like (headers, synonyms, which are required) and
  ``detect_source`` to recognise a file by its headers.
- ``csvfile``: CSV bytes to record-aligned UTF-8 blocks (BOM, UTF-8 or GBK/GB18030).
- ``reader``: files to string frames in batches (CSV blocks, XLSX sheets), ``count_rows``.
- ``values``: vectorised readers for amounts, times, phones and spreadsheet text guards.
- ``rows``: typed values and per-row order facts (unpaid, refunds) with their error flags.
- ``duplicates``: order ids met again, within a batch and across batches.
- ``messages``: error flags to ``FieldError`` with what is wrong and how to fix it.
- ``parse``: rows to orders and lines (statuses, multi-row grouping), ``read_orders``.
"""

from __future__ import annotations

from siyu.ingest.formats import FORMATS, UnknownFormat, detect_source
from siyu.ingest.parse import LINE_COLUMNS, ORDER_COLUMNS, ParsedBatch, read_orders
from siyu.ingest.reader import count_rows

__all__ = [
    "FORMATS",
    "LINE_COLUMNS",
    "ORDER_COLUMNS",
    "ParsedBatch",
    "UnknownFormat",
    "count_rows",
    "detect_source",
    "read_orders",
]
