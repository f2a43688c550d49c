"""Permissions, the roles that hold them, and ``require``."""

from __future__ import annotations

from enum import StrEnum

from siyu.core.actor import Actor, Role
from siyu.core.errors import Forbidden


class Perm(StrEnum):
    TENANT_ADMIN = "tenant:admin"
    ORG_READ = "org:read"
    ORG_WRITE = "org:write"
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    PII_READ = "pii:read"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    AUDIT_READ = "audit:read"
    TOKENS_MANAGE = "tokens:manage"
    TENANTS_CREATE = "tenants:create"
    CHANNELS_MANAGE = "channels:manage"  # channel accounts, their secrets, syncs
    ACQUISITION_READ = "acquisition:read"  # channel codes and their statistics
    ACQUISITION_WRITE = "acquisition:write"
    TRANSFERS_WRITE = "transfers:write"  # hand a member's customers and groups to others


_READ = {
    Perm.ORG_READ,
    Perm.STAFF_READ,
    Perm.CUSTOMERS_READ,
    Perm.ORDERS_READ,
    Perm.ACQUISITION_READ,
}

ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.AGENCY: frozenset(Perm) - {Perm.PII_READ},
    Role.OPERATOR: frozenset(
        _READ
        | {
            Perm.CUSTOMERS_WRITE,
            Perm.ORDERS_WRITE,
            Perm.TOKENS_MANAGE,
            Perm.ORG_WRITE,
            Perm.ACQUISITION_WRITE,
            Perm.TRANSFERS_WRITE,
        }
    ),
    Role.ANALYST: frozenset(_READ | {Perm.TOKENS_MANAGE}),
    Role.STORE_MANAGER: frozenset(
        _READ | {Perm.CUSTOMERS_WRITE, Perm.TOKENS_MANAGE, Perm.TRANSFERS_WRITE}
    ),
    Role.GUIDE: frozenset(
        {Perm.ORG_READ, Perm.CUSTOMERS_READ, Perm.ORDERS_READ, Perm.CUSTOMERS_WRITE}
    ),
    Role.READ_ONLY: frozenset(_READ),
}


def has(actor: Actor, perm: Perm) -> bool:
    return perm in ROLE_PERMS[actor.role]


def require(actor: Actor, perm: Perm) -> None:
    """Raise ``Forbidden`` unless the actor's role holds ``perm``."""
    if not has(actor, perm):
        raise Forbidden(
            f"role {actor.role} may not {perm.value}",
            hint="ask a tenant admin for a role that includes this permission",
        )
