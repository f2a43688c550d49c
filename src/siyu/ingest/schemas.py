"""API shapes for imports."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RowError(BaseModel):
    row: int | None = None
    column: str | None = None
    value: str | None = None
    reason: str


class ImportSummaryRead(BaseModel):
    source: str
    rows: int = Field(description="Data rows read (numbered from 1 below the header)")
    inserted: int = Field(description="New orders")
    updated: int = Field(description="Orders whose status or refund changed")
    unchanged: int
    skipped: int = Field(description="Rows left out because of errors")
    customers_created: int
    customers_matched: int
    errors: list[RowError]
    aborted: bool
