"""Golden-record survivorship: which value of a profile field wins when sources disagree.

Each tenant chooses, per field, one rule:

- ``keep_first`` (default): the first value known stays; later sources only fill a gap.
- ``latest``: the latest non-empty value wins (an import or event newer than the stored value
  replaces it; in a merge, the customer updated more recently gives the value).
- ``source_priority``: a ranked list of sources (``pos``, ``tmall``, ``wecom``, ``manual``…);
  a value from a higher-ranked source replaces one from a lower-ranked or unknown source.

Which source gave each stored value is kept in ``Customer.field_sources`` so ``source_priority``
can compare. Empty values never replace anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from siyu.core.actor import Actor
from siyu.core.errors import NotFound
from siyu.customers.models import Customer, Gender
from siyu.security.rbac import Perm, require
from siyu.tenancy.models import Tenant

SURVIVING_FIELDS = (
    "name",
    "phone",
    "email",
    "gender",
    "birthday_on",
    "province",
    "city",
    "member_no",
)
"""Profile fields a survivorship rule can be set for."""

EMPTY: tuple[Any, ...] = (None, "", Gender.UNKNOWN)


class Rule(StrEnum):
    KEEP_FIRST = "keep_first"
    LATEST = "latest"
    SOURCE_PRIORITY = "source_priority"


class FieldRule(BaseModel):
    rule: Rule = Rule.KEEP_FIRST
    sources: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="For source_priority: sources from most to least trusted, e.g. pos, tmall",
    )

    @model_validator(mode="after")
    def _sources_for_priority(self) -> FieldRule:
        if self.rule is Rule.SOURCE_PRIORITY and not self.sources:
            raise ValueError(
                "source_priority needs the ranked sources, most trusted first, e.g. "
                '{"rule": "source_priority", "sources": ["pos", "tmall"]}'
            )
        return self


class Survivorship(BaseModel):
    """A tenant's rules; fields not listed keep the first value known."""

    fields: dict[str, FieldRule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_fields(self) -> Survivorship:
        unknown = sorted(set(self.fields) - set(SURVIVING_FIELDS))
        if unknown:
            raise ValueError(
                f"no survivorship for {', '.join(unknown)}; "
                f"fields that have one: {', '.join(SURVIVING_FIELDS)}"
            )
        return self

    def rule_for(self, field: str) -> FieldRule:
        return self.fields.get(field) or FieldRule()


def takes(
    rule: FieldRule,
    *,
    current: Any,
    current_source: str | None,
    incoming: Any,
    incoming_source: str | None,
    incoming_is_newer: bool = True,
) -> bool:
    """Return whether ``incoming`` replaces ``current`` under ``rule``."""
    if incoming in EMPTY:
        return False
    if current in EMPTY:
        return True
    if incoming == current:
        return False
    if rule.rule is Rule.LATEST:
        return incoming_is_newer
    if rule.rule is Rule.SOURCE_PRIORITY:
        rank = {source: i for i, source in enumerate(rule.sources)}
        worst = len(rule.sources)
        return rank.get(incoming_source or "", worst) < rank.get(current_source or "", worst)
    return False


def rules(db: Session, actor: Actor) -> Survivorship:
    """Return the actor's tenant's survivorship rules."""
    require(actor, Perm.CUSTOMERS_READ)
    tenant = db.get(Tenant, actor.tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {actor.tenant_id} not found")
    return Survivorship.model_validate((tenant.identity_settings or {}).get("survivorship", {}))


def set_rules(db: Session, actor: Actor, data: Survivorship) -> Survivorship:
    """Replace the tenant's survivorship rules (tenant admins); later writes follow them."""
    require(actor, Perm.TENANT_ADMIN)
    from siyu.security import service as security  # audit lives with security

    tenant = db.get(Tenant, actor.tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {actor.tenant_id} not found")
    before = (tenant.identity_settings or {}).get("survivorship", {})
    after = data.model_dump(mode="json", exclude_defaults=False)
    tenant.identity_settings = {**(tenant.identity_settings or {}), "survivorship": after}
    security.record_audit(
        db,
        actor,
        "customers.survivorship.update",
        subject_type="tenant",
        subject_id=tenant.id,
        detail={"before": before, "after": after},
    )
    db.flush()
    return data


def changes(
    survivorship: Survivorship,
    customer: Customer,
    profile: Mapping[str, Any],
    source: str,
) -> dict[str, Any]:
    """The fields of ``profile`` (from ``source``, newer than the stored values) that win."""
    known = customer.field_sources or {}
    return {
        field: value
        for field, value in profile.items()
        if field in SURVIVING_FIELDS
        and takes(
            survivorship.rule_for(field),
            current=getattr(customer, field),
            current_source=known.get(field),
            incoming=value,
            incoming_source=source,
        )
    }


def note_sources(customer: Customer, fields: Mapping[str, Any], source: str) -> None:
    """Record ``source`` as where ``fields`` of ``customer`` came from."""
    if fields:
        customer.field_sources = {**(customer.field_sources or {}), **dict.fromkeys(fields, source)}
