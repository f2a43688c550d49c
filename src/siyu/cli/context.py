"""Shared CLI set-up: settings, logging, database."""

from __future__ import annotations

from siyu.config import get_settings
from siyu.core.db import Database, init_database
from siyu.core.logging import configure_logging
from siyu.core.registry import load_models


def open_database() -> Database:
    """Initialise the database for a CLI command (does not migrate)."""
    settings = get_settings()
    configure_logging(json=settings.log_json)
    load_models()
    return init_database(settings)
