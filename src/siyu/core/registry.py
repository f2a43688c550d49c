"""Import every model module so ``Base.metadata`` is complete (migrations, tests, create_all)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

MODEL_MODULES = (
    "siyu.tenancy.models",
    "siyu.security.models",
    "siyu.customers.models",
    "siyu.orders.models",
    "siyu.events.models",
    "siyu.identity.models",
    "siyu.webhooks.models",
    "siyu.channels.models",
    "siyu.channels.wecom.models",
    "siyu.acquisition.models",
    "siyu.contacts.models",
    "siyu.groups.models",
    "siyu.transfers.models",
    "siyu.jobs.models",
)


def load_models() -> MetaData:
    """Import all model modules and return the complete metadata."""
    for module in MODEL_MODULES:
        importlib.import_module(module)
    from siyu.core.db import Base

    return Base.metadata
