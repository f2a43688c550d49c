"""Channel codes: a WeCom contact way with a unique ``state``, its welcome message and tags."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, TenantScoped, Timestamped


class CodeOwner(StrEnum):
    """Whom a code's contacts are credited to."""

    STORE = "store"
    STAFF = "staff"
    DEPARTMENT = "department"
    AGENCY = "agency"
    CAMPAIGN = "campaign"
    PACKAGE_INSERT = "package_insert"


class ChannelCode(TenantScoped, Timestamped, Base):
    """A channel code (渠道活码).

    ``staff_userids`` are the WeCom members the code adds to; with ``is_rotating`` the code
    offers them in turn and ``daily_cap_per_staff`` (in the tenant's day) takes a member out of
    the rotation once reached. ``welcome`` is ``{"text": ..., "attachments": [...]}`` with
    ``{name}``-style variables; ``tag_ids`` are corp tags marked on every add.
    ``config_id``/``qr_code`` come from WeCom's add_contact_way.
    """

    __tablename__ = "channel_code"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "account_id"],
            ["channel_account.tenant_id", "channel_account.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"]),
        UniqueConstraint("tenant_id", "state"),
        UniqueConstraint("tenant_id", "name"),
        Index("ix_channel_code_tenant_account", "tenant_id", "account_id"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column()
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(30))
    owner_kind: Mapped[CodeOwner] = mapped_column(String(32))
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column()
    owner_label: Mapped[str] = mapped_column(String(100), default="")
    staff_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_rotating: Mapped[bool] = mapped_column(Boolean, default=False)
    daily_cap_per_staff: Mapped[int | None] = mapped_column(Integer)
    welcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tag_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    skip_verify: Mapped[bool] = mapped_column(Boolean, default=True)
    config_id: Mapped[str | None] = mapped_column(String(64))
    qr_code: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(200), default="")
