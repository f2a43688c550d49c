"""Batch request bodies whose items are validated one at a time.

A batch of 1,000 orders with one bad item should store 999 and report the one, so batch items are
declared as ``Lenient[Model]``-style annotated types (see ``item_validator``): an item that fails
validation becomes an ``InvalidItem`` holding its field errors instead of failing the request. The
OpenAPI schema still shows the model, so clients see the real item shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from siyu.core.errors import AppError, FieldError

M = TypeVar("M", bound=BaseModel)
MAX_VALUE_CHARS = 100


class InvalidItem:
    """A batch item that failed validation: what was wrong, field by field, and the raw item."""

    def __init__(self, errors: Sequence[FieldError], raw: Any) -> None:
        self.errors = list(errors)
        self.raw = raw

    def raw_text(self, name: str) -> str | None:
        """Return a top-level string value of the raw item (to label the rejection), if any."""
        value = self.raw.get(name) if isinstance(self.raw, dict) else None
        return value if isinstance(value, str) else None


def _shown(value: Any) -> str | None:
    if isinstance(value, str | int | float | bool) and len(str(value)) <= MAX_VALUE_CHARS:
        return str(value)
    return None


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Return pydantic's errors as ``FieldError``s with dotted paths (``lines.0.quantity``)."""
    out = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err.get("loc", ())) or None
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(FieldError(reason=reason, field=field, value=_shown(err.get("input"))))
    return out


def item_validator(model: type[M]) -> Callable[[Any], M | InvalidItem]:
    """Return a validator that turns a raw item into ``model`` or an ``InvalidItem``.

    Use as ``Annotated[Model | InvalidItem, PlainValidator(item_validator(Model),
    json_schema_input_type=Model)]``.
    """

    def validate(value: Any) -> M | InvalidItem:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            return InvalidItem(field_errors(exc), value)

    return validate


class ItemError(BaseModel):
    field: str | None = Field(default=None, description="Dotted path in the item, e.g. paid_at")
    reason: str
    value: str | None = None


class RejectedItem(BaseModel):
    """An item of a batch that was not stored, and why."""

    index: int = Field(description="Position in the submitted list, from 0")
    reason: str = Field(description="Every problem of the item in one sentence")
    errors: list[ItemError] = Field(default_factory=list)


def item_errors(errors: Sequence[FieldError]) -> list[ItemError]:
    return [ItemError(field=e.field, reason=e.reason, value=e.value) for e in errors]


def reason_of(errors: Sequence[FieldError]) -> str:
    """Return the errors as one readable sentence: ``paid_at: needs a timezone offset; …``."""
    return "; ".join(f"{e.field}: {e.reason}" if e.field else e.reason for e in errors)


def app_error_field(exc: AppError, *, field: str | None = None) -> FieldError:
    """Return an ``AppError`` as one field error: its detail and hint, at ``field``."""
    first = exc.errors[0] if exc.errors else None
    value = first.value if first is not None else None
    return FieldError(reason=str(exc), field=field or (first.field if first else None), value=value)
