"""Import routes: upload an order export, get the summary with row-level errors."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from siyu.core.db import unit_of_work
from siyu.core.errors import InvalidInput
from siyu.ingest.orders import OnError, import_orders
from siyu.ingest.schemas import ImportSummaryRead
from siyu.security.deps import CurrentActor

router = APIRouter(prefix="/imports", tags=["imports"])

MAX_UPLOAD_BYTES = 512 * 1024 * 1024


@router.post("/orders", operation_id="import_orders")
def upload_orders(
    actor: CurrentActor,
    file: Annotated[UploadFile, File(description="CSV or XLSX order export")],
    source: Annotated[
        str | None, Form(description="tmall, jd, pdd, douyin, pos, generic; default: detect")
    ] = None,
    on_error: Annotated[OnError, Form()] = OnError.SKIP,
    mapping: Annotated[
        str | None, Form(description='generic files: JSON {"field": "header"}')
    ] = None,
) -> ImportSummaryRead:
    """Import an order export. With on_error=abort a bad row means a 422 and nothing written."""
    suffix = Path(file.filename or "upload.csv").suffix.lower() or ".csv"
    if suffix not in (".csv", ".xlsx", ".xls", ".txt"):
        raise InvalidInput(
            f"{file.filename!r} is not a CSV or XLSX file", hint="upload the export as exported"
        )
    try:
        columns = json.loads(mapping) if mapping else None
    except json.JSONDecodeError as exc:
        raise InvalidInput("mapping is not JSON", hint='send {"external_id": "单号", ...}') from exc
    with tempfile.TemporaryDirectory(prefix="siyu-import-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1024 * 1024)
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise InvalidInput(
                "file is larger than 512 MiB", hint="split it, or use `siyu import orders`"
            )
        with unit_of_work(actor) as db:
            summary = import_orders(
                db, actor, path, source=source, mapping=columns, on_error=on_error
            )
    return ImportSummaryRead.model_validate(summary.as_dict())
