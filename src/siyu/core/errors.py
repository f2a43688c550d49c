"""The error hierarchy every layer raises; the API renders it as problem+json.

AppError
 ├── InvalidInput (422)        bad values, with per-field / per-row errors
 ├── AuthenticationFailed (401)
 ├── Forbidden (403)           known object, missing permission
 ├── NotFound (404)            also: another tenant's object, an object outside the data scope
 ├── Conflict (409)            duplicates, stale state
 ├── ConfigurationError (500)  settings that cannot work
 └── TenantContextMissing (500) a query without a tenant: a programming error
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    """Where one value went wrong: a field (dotted path), and for files a row and column."""

    reason: str
    field: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, str | int]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class AppError(Exception):
    """Base of everything siyu raises on purpose: stable code, HTTP status, detail and hint."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "error"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self, detail: str, *, hint: str | None = None, errors: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint
        self.errors = list(errors)

    def __str__(self) -> str:
        return f"{self.detail} ({self.hint})" if self.hint else self.detail


class InvalidInput(AppError):
    status, code, title = 422, "invalid_input", "Invalid input"


class AuthenticationFailed(AppError):
    status, code, title = 401, "authentication_failed", "Authentication failed"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class ConfigurationError(AppError):
    status, code, title = 500, "configuration_error", "Configuration error"


class TenantContextMissing(AppError):
    status, code, title = 500, "tenant_context_missing", "Tenant context missing"
