"""The customer: one identified person per tenant, PII encrypted at rest."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import JSON, Date, ForeignKeyConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.clock import utcnow
from siyu.core.db import Base, TenantScoped, Timestamped
from siyu.core.types import key_text
from siyu.security.pii import EncryptedString


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


def _where_set(name: str, column: str) -> Index:
    """An index of the tenant's customers that have ``column`` set: a look-up by value implies
    it is set, and most customers have none (an imported buyer has no owner, no unit, no
    email), so their inserts and updates skip it (migration 0010)."""
    where = text(f"{column} IS NOT NULL")
    return Index(name, "tenant_id", column, postgresql_where=where, sqlite_where=where)


class Customer(TenantScoped, Timestamped, Base):
    """A customer. Phone and email are stored encrypted; ``*_bidx`` are their blind indexes.

    ``org_unit_id`` is the home store (data scope), ``owner_staff_id`` the staff of record
    (the guide who serves the customer). ``merged_into_id`` marks a customer merged into another
    by OneID: the row stays so the merge can be undone exactly, but it is no longer listed.
    """

    PROFILE_FIELDS: ClassVar[tuple[str, ...]] = (
        "name",
        "phone",
        "phone_bidx",
        "email",
        "email_bidx",
        "gender",
        "birthday_on",
        "province",
        "city",
        "member_no",
        "org_unit_id",
        "owner_staff_id",
        "field_sources",
    )
    PII_FIELDS: ClassVar[frozenset[str]] = frozenset({"phone", "email"})

    __tablename__ = "customer"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"]),
        ForeignKeyConstraint(["tenant_id", "owner_staff_id"], ["staff.tenant_id", "staff.id"]),
        _where_set("ix_customer_tenant_phone_bidx", "phone_bidx"),
        _where_set("ix_customer_tenant_email_bidx", "email_bidx"),
        _where_set("ix_customer_tenant_owner", "owner_staff_id"),
        _where_set("ix_customer_tenant_org_unit", "org_unit_id"),
        Index("ix_customer_tenant_created", "tenant_id", "created_at", "id"),
        _where_set("ix_customer_tenant_merged_into", "merged_into_id"),
    )

    name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(EncryptedString(255))
    phone_bidx: Mapped[str | None] = mapped_column(key_text(64))
    email: Mapped[str | None] = mapped_column(EncryptedString(512))
    email_bidx: Mapped[str | None] = mapped_column(key_text(64))
    gender: Mapped[Gender] = mapped_column(String(8), default=Gender.UNKNOWN)
    birthday_on: Mapped[date | None] = mapped_column(Date)
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(32))
    member_no: Mapped[str | None] = mapped_column(String(64))
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column()
    owner_staff_id: Mapped[uuid.UUID | None] = mapped_column()
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column()
    field_sources: Mapped[dict[str, str] | None] = mapped_column(JSON, default=dict)
    """Which source gave each profile field its value (for source-priority survivorship)."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
