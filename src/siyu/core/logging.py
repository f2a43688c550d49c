"""structlog set-up: JSON in production, console in development, PII and secrets redacted."""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping
from typing import Any

import structlog

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_TOKEN = re.compile(r"sy_[A-Za-z0-9_\-]{8,}")
_SECRET_KEYS = {"password", "token", "secret", "authorization", "access_token", "api_key"}


def redact(value: str) -> str:
    """Mask phone numbers and bearer tokens inside a string."""
    return _TOKEN.sub("sy_***", _PHONE.sub(r"\1****\2", value))


def _redact_processor(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "***"
        elif isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def configure_logging(*, json: bool = False, level: int = logging.INFO) -> None:
    """Configure structlog and route the stdlib logging through it, once per process."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    # Plain tracebacks: the default (rich) one prints every frame's local variables, secrets
    # included (an app secret in a WeCom client's frame, say).
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, format="%(message)s")
    # Libraries that log every request or job at INFO: their warnings and errors still show.
    for chatty in ("httpx", "httpcore", "huey"):
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
