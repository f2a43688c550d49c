"""Identities (strong keys) of customers, junk keys, merges and merge proposals."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.append import CUSTOMER_REF, AppendScoped
from siyu.core.clock import utcnow
from siyu.core.db import Base, TenantScoped, Timestamped
from siyu.core.types import key_text
from siyu.identity.keys import KEY_HASH_LENGTH
from siyu.security.pii import EncryptedString


class Identity(AppendScoped, Timestamped, Base):
    """One strong key of a customer. ``key_hash`` is its blind index; ``value`` is encrypted."""

    __tablename__ = "identity"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key_hash"),  # the hash covers kind and namespace
        Index("ix_identity_tenant_customer", "tenant_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(info=CUSTOMER_REF)
    kind: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(64), default="")
    key_hash: Mapped[str] = mapped_column(key_text(KEY_HASH_LENGTH))
    value: Mapped[str] = mapped_column(EncryptedString(512))
    source: Mapped[str] = mapped_column(String(32))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class JunkStatus(StrEnum):
    FLAGGED = "flagged"  # detected; never merges until an operator clears it
    CLEARED = "cleared"  # an operator decided the key is genuine


class JunkKey(TenantScoped, Base):
    """A key that must not merge customers: blocklisted, or shared by implausibly many people."""

    __tablename__ = "junk_key"
    __table_args__ = (UniqueConstraint("tenant_id", "key_hash"),)

    kind: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(64), default="")
    key_hash: Mapped[str] = mapped_column(key_text(KEY_HASH_LENGTH))
    value: Mapped[str] = mapped_column(EncryptedString(512))
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=JunkStatus.FLAGGED)
    hit_count: Mapped[int] = mapped_column(Integer, default=1)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)


class MergeMethod(StrEnum):
    DETERMINISTIC = "deterministic"  # shared strong key
    PROPOSAL = "proposal"  # accepted probabilistic proposal
    MANUAL = "manual"


class MergeRecord(TenantScoped, Base):
    """One merge: what joined what, why, and everything needed to undo it exactly."""

    __tablename__ = "merge_record"
    __table_args__ = (
        Index("ix_merge_record_tenant_survivor", "tenant_id", "survivor_id"),
        Index("ix_merge_record_tenant_merged", "tenant_id", "merged_id"),
    )

    survivor_id: Mapped[uuid.UUID] = mapped_column()
    merged_id: Mapped[uuid.UUID] = mapped_column()
    method: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column()


class ProposalStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class MergeProposal(TenantScoped, Timestamped, Base):
    """A probable duplicate pair from weak evidence, waiting for an operator (or auto-accepted)."""

    __tablename__ = "merge_proposal"
    __table_args__ = (
        UniqueConstraint("tenant_id", "left_customer_id", "right_customer_id"),
        Index("ix_merge_proposal_tenant_status", "tenant_id", "status"),
    )

    left_customer_id: Mapped[uuid.UUID] = mapped_column()
    right_customer_id: Mapped[uuid.UUID] = mapped_column()
    probability_bp: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ProposalStatus.PENDING)
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(200))


class Evidence(AppendScoped, Timestamped, Base):
    """Weak evidence about a customer — what an order's receiver block said — for linkage.

    Never merges anything by itself: the probabilistic stage compares evidence across customers
    and proposes pairs for review. ``fingerprint`` de-duplicates identical evidence.
    """

    __tablename__ = "identity_evidence"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id", "fingerprint"),
        Index("ix_identity_evidence_tenant_phone_masked", "tenant_id", "phone_masked"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(info=CUSTOMER_REF)
    source: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(100))
    phone_masked: Mapped[str | None] = mapped_column(String(16))
    province: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(EncryptedString(1024))
    fingerprint: Mapped[str] = mapped_column(key_text(64))
