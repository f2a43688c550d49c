"""Org data scope: HQ sees all, a region its stores, a store its own, a guide their customers."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, false, select
from sqlalchemy.orm import InstrumentedAttribute

from siyu.core.actor import Actor, Role
from siyu.tenancy.models import OrgUnit

S = TypeVar("S", bound=Select[Any])


def scope_to(
    actor: Actor,
    stmt: S,
    *,
    org_unit_col: InstrumentedAttribute[Any],
    owner_col: InstrumentedAttribute[Any] | None = None,
) -> S:
    """Limit ``stmt`` to rows in the actor's data scope.

    ``org_unit_col`` holds the row's org unit (e.g. a customer's home store); ``owner_col`` the
    staff of record. Guides see rows they own; others rows whose unit lies in their subtree.
    """
    if actor.role is Role.GUIDE:
        if owner_col is None or actor.staff_id is None:
            return stmt.where(false())
        return stmt.where(owner_col == actor.staff_id)
    if actor.scope_path is None:
        return stmt
    units = select(OrgUnit.id).where(
        OrgUnit.tenant_id == actor.tenant_id,
        OrgUnit.path.startswith(actor.scope_path, autoescape=True),
    )
    return stmt.where(org_unit_col.in_(units))
