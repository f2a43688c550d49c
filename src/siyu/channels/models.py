"""Per-tenant channel accounts: one WeCom corp app (or later SMS, 公众号…) with its secrets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, TenantScoped, Timestamped
from siyu.security.pii import EncryptedString


class ChannelKind(StrEnum):
    WECOM = "wecom"


class ChannelAccount(TenantScoped, Timestamped, Base):
    """A channel account of a tenant.

    ``config`` is the adapter's configuration as JSON (for WeCom: corp id, app secret, callback
    token and AES key, API base URL), encrypted at rest like PII and never returned by the API
    in clear. ``sync_state`` holds the last full sync and reconciliation: when, counts, errors.
    """

    __tablename__ = "channel_account"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "name"),)

    kind: Mapped[ChannelKind] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    config: Mapped[str] = mapped_column(EncryptedString(8192))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_callback_at: Mapped[datetime | None] = mapped_column()
    last_synced_at: Mapped[datetime | None] = mapped_column()
    last_reconciled_at: Mapped[datetime | None] = mapped_column()
    sync_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
