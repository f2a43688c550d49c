"""Tenants (brands), agencies over tenants, the org tree and staff."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.actor import Role
from siyu.core.clock import utcnow
from siyu.core.db import Base, TenantScoped, Timestamped
from siyu.core.ids import new_id


class Tenant(Base, Timestamped):
    """A brand: the unit of data isolation."""

    __tablename__ = "tenant"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    identity_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """OneID settings of the brand, e.g. ``{"survivorship": {...}}`` (customers.survivorship)."""


class Agency(Base, Timestamped):
    """A 代运营 agency that runs the private domains of several tenants."""

    __tablename__ = "agency"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class AgencyTenant(Base):
    __tablename__ = "agency_tenant"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agency.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(default=utcnow)


class OrgKind(StrEnum):
    HQ = "hq"
    REGION = "region"
    STORE = "store"
    DEPARTMENT = "department"


class OrgUnit(TenantScoped, Timestamped, Base):
    """A node of the org tree. ``path`` is ``/<root id>/…/<own id>/``: a subtree is a prefix."""

    __tablename__ = "org_unit"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "parent_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="RESTRICT"
        ),
        Index("ix_org_unit_tenant_path", "tenant_id", "path"),
        UniqueConstraint("tenant_id", "code"),
    )

    parent_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[OrgKind] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))


class Staff(TenantScoped, Timestamped, Base):
    """A person working for the brand: HQ operator, store manager, guide (导购)…"""

    __tablename__ = "staff"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="RESTRICT"
        ),
        UniqueConstraint("tenant_id", "wecom_userid"),
        UniqueConstraint("tenant_id", "user_id"),
        Index("ix_staff_tenant_org_unit", "tenant_id", "org_unit_id"),
    )

    name: Mapped[str] = mapped_column(String(100))
    org_unit_id: Mapped[uuid.UUID] = mapped_column()
    role: Mapped[Role] = mapped_column(String(32))
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
