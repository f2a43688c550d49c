"""Keyset pagination cursors: an opaque token for the last row's ``(created_at, id)``."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from siyu.core.errors import InvalidInput


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    """Return the cursor that continues a list after the row ``(created_at, row_id)``."""
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Return the ``(created_at, id)`` a cursor names; anything else is ``InvalidInput``."""
    try:
        at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except ValueError as exc:
        raise InvalidInput(
            "cursor is not valid", hint="pass the next_cursor of the previous page unchanged"
        ) from exc
