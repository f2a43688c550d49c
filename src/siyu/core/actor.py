"""Who is acting: tenant, user, staff, role and org data scope, built once per request/job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"
    STORE_MANAGER = "store_manager"
    GUIDE = "guide"
    AGENCY = "agency"
    READ_ONLY = "read_only"


@dataclass(frozen=True)
class Actor:
    """The tenant and person a unit of work acts for.

    ``scope_path`` is the materialised path of the org unit whose subtree the actor may see
    (``None``: the whole tenant). Guides are further limited to customers whose staff of record
    they are (``staff_id``).
    """

    tenant_id: uuid.UUID
    user_id: uuid.UUID | None
    role: Role
    staff_id: uuid.UUID | None = None
    org_unit_id: uuid.UUID | None = None
    scope_path: str | None = None
    agency_id: uuid.UUID | None = None
    timezone: str = "Asia/Shanghai"
    locale: str = "zh"
    label: str = ""

    @property
    def sees_whole_tenant(self) -> bool:
        return self.role is not Role.GUIDE and self.scope_path is None
