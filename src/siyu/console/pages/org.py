"""``/org``: the org tree (HQ → region → store), the staff of the selected unit, and forms to add
units and staff for roles that may write them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import enum_label, text
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor, Role
from siyu.core.errors import AppError
from siyu.security.rbac import Perm, has
from siyu.tenancy import service as tenancy
from siyu.tenancy.models import OrgKind
from siyu.tenancy.schemas import OrgUnitRead, StaffRead

STAFF_ROLES = [r for r in Role if r is not Role.AGENCY]
NEW_UNIT_KINDS = [k for k in OrgKind if k is not OrgKind.HQ]


@dataclass(frozen=True)
class OrgData:
    units: list[OrgUnitRead]
    staff: list[StaffRead]


def load_units(db: Session, actor: Actor) -> list[OrgUnitRead]:
    return [OrgUnitRead.model_validate(u) for u in tenancy.list_org_units(db, actor)]


def load_staff(db: Session, actor: Actor, org_unit_id: uuid.UUID) -> list[StaffRead]:
    staff = tenancy.list_staff(db, actor, org_unit_id=org_unit_id)
    return [StaffRead.model_validate(s) for s in staff]


def tree_nodes(units: Sequence[OrgUnitRead]) -> list[dict[str, Any]]:
    """Return ``ui.tree`` nodes; units whose parent is out of scope become roots."""
    nodes: dict[uuid.UUID, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for unit in sorted(units, key=lambda u: (u.path.count("/"), u.name)):
        label = f"{unit.name} · {enum_label('kind', unit.kind)}"
        node: dict[str, Any] = {"id": str(unit.id), "label": label, "children": []}
        nodes[unit.id] = node
        parent = nodes.get(unit.parent_id) if unit.parent_id else None
        (parent["children"] if parent else roots).append(node)
    return roots


def register() -> None:
    nav.add(NavItem("nav.org", "/org", "account_tree", permission=Perm.ORG_READ, order=30))

    @ui.page("/org", response_timeout=PAGE_TIMEOUT)
    async def org_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.org"), path="/org"):
            if not has(user.actor, Perm.ORG_READ):
                no_permission()
            else:
                await OrgView(user.actor).build()
        return None


class OrgView:
    """The org page of one browser tab: selected unit, tree, staff table, forms."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.units: dict[str, OrgUnitRead] = {}
        self.selected: OrgUnitRead | None = None
        self.staff_table: ui.table | None = None

    async def build(self) -> None:
        actor = self.actor
        try:
            units = await in_tenant(actor, lambda db: load_units(db, actor))
        except AppError as exc:
            show_error(exc)
            return
        with ui.element("div").classes("w-full grid grid-cols-1 lg:grid-cols-3 gap-4"):
            with ui.card().classes("w-full self-start").props(f'aria-label="{t("org.tree")}"'):
                ui.label(t("org.tree")).classes("text-subtitle1 text-weight-medium").props(
                    "role=heading aria-level=2"
                )
                self.tree = (
                    ui.tree([], on_select=self.on_select)
                    .props("no-selection-unset selected-color=primary")
                    .mark("org-tree")
                )
            with ui.column().classes("w-full lg:col-span-2 gap-4"):
                with ui.card().classes("w-full"):
                    self.unit_title = (
                        ui.label().classes("text-h6").props("role=heading aria-level=2")
                    )
                    self.unit_meta = ui.label().classes("text-caption text-grey-7")
                    if has(actor, Perm.STAFF_READ):  # guides see their store, not its staff
                        ui.label(t("org.staff_scope")).classes("text-subtitle2 q-mt-sm")
                        self.staff_table = data_table(
                            self._staff_columns(), label=t("org.staff"), empty=t("org.no_staff")
                        ).mark("staff-table")
                if has(actor, Perm.ORG_WRITE):
                    self._unit_form()
                if has(actor, Perm.STAFF_WRITE):
                    self._staff_form()
        self._set_units(units)
        if units:
            await self.select(str(units[0].id))

    def _set_units(self, units: list[OrgUnitRead]) -> None:
        self.units = {str(u.id): u for u in units}
        self.tree.props["nodes"] = tree_nodes(units)
        self.tree.expand()
        self.tree.update()

    async def on_select(self, e: ValueChangeEventArguments[str | None]) -> None:
        if e.value:
            await self.select(e.value)

    async def select(self, unit_id: str) -> None:
        """Show a unit: its name and staff change together, once the staff are loaded."""
        unit = self.units.get(unit_id)
        if unit is None:
            return
        self.selected = unit
        self.tree.props["selected"] = unit_id
        self.tree.update()
        staff = await self._load_staff(unit)
        if self.selected is not unit:  # another unit was picked meanwhile
            return
        self.unit_title.set_text(unit.name)
        self.unit_meta.set_text(
            t("org.unit_meta", kind=enum_label("kind", unit.kind), code=text(unit.code))
        )
        self._show_staff(staff)

    async def refresh_staff(self) -> None:
        unit = self.selected
        if unit is None:
            return
        staff = await self._load_staff(unit)
        if self.selected is unit:
            self._show_staff(staff)

    async def _load_staff(self, unit: OrgUnitRead) -> list[StaffRead] | None:
        if self.staff_table is None:
            return None
        actor, unit_id = self.actor, unit.id
        try:
            return await in_tenant(actor, lambda db: load_staff(db, actor, unit_id))
        except AppError as exc:
            show_error(exc)
            return None

    def _show_staff(self, staff: list[StaffRead] | None) -> None:
        if self.staff_table is None or staff is None:
            return
        self.staff_table.rows = [
            {
                "id": str(s.id),
                "name": s.name,
                "role": enum_label("role", s.role),
                "unit": self.units[str(s.org_unit_id)].name
                if str(s.org_unit_id) in self.units
                else "—",
                "wecom_userid": text(s.wecom_userid),
                "login": t("common.yes") if s.user_id else t("common.no"),
            }
            for s in staff
        ]
        self.staff_table.update()

    @staticmethod
    def _staff_columns() -> list[dict[str, Any]]:
        hidden = {"classes": "gt-xs", "headerClasses": "gt-xs"}
        return [
            {"name": "name", "label": t("org.col.name"), "field": "name", "align": "left"},
            {"name": "role", "label": t("org.col.role"), "field": "role", "align": "left"},
            {"name": "unit", "label": t("org.col.unit"), "field": "unit", "align": "left"},
            {
                "name": "wecom_userid",
                "label": t("org.col.wecom_userid"),
                "field": "wecom_userid",
                "align": "left",
            }
            | hidden,
            {"name": "login", "label": t("org.col.login"), "field": "login", "align": "left"}
            | hidden,
        ]

    def _unit_form(self) -> None:
        kinds = {k.value: enum_label("kind", k) for k in NEW_UNIT_KINDS}

        async def create() -> None:
            if self.selected is None or not name.value.strip():
                ui.notify(t("org.name_required"), type="warning")
                return
            actor, parent_id = self.actor, self.selected.id
            kind, unit_name = OrgKind(kind_select.value), name.value.strip()
            code_value = (code.value or "").strip() or None

            def work(db: Session) -> tuple[OrgUnitRead, list[OrgUnitRead]]:
                unit = tenancy.create_org_unit(
                    db, actor, parent_id=parent_id, kind=kind, name=unit_name, code=code_value
                )
                return OrgUnitRead.model_validate(unit), load_units(db, actor)

            try:
                created, units = await in_tenant(actor, work)
            except AppError as exc:
                show_error(exc)
                return
            name.set_value("")
            code.set_value("")
            self._set_units(units)
            await self.select(str(created.id))
            ui.notify(t("org.unit_created", name=created.name), type="positive")

        with (
            ui.card().classes("w-full q-pa-none"),
            ui.expansion(t("org.add_unit"), icon="account_tree").classes("w-full"),
            ui.column().classes("w-full gap-2 q-px-md q-pb-md"),
        ):
            ui.label().classes("text-caption text-grey-7").bind_text_from(
                self, "selected", lambda u: t("org.parent", name=u.name) if u else ""
            )
            with ui.row().classes("w-full gap-2"):
                kind_select = ui.select(kinds, value=OrgKind.STORE.value, label=t("org.kind"))
                kind_select.props("outlined dense").classes("min-w-32")
                name = ui.input(t("org.unit_name")).props("outlined dense").classes("grow")
                code = ui.input(t("org.code")).props("outlined dense").classes("w-32")
            ui.button(t("org.create_unit"), icon="add", on_click=create).props(
                "unelevated no-caps"
            ).mark("create-unit")

    def _staff_form(self) -> None:
        roles = {r.value: enum_label("role", r) for r in STAFF_ROLES}

        async def create() -> None:
            if self.selected is None or not name.value.strip():
                ui.notify(t("org.name_required"), type="warning")
                return
            actor, unit_id = self.actor, self.selected.id
            role, staff_name = Role(role_select.value), name.value.strip()
            wecom = (wecom_userid.value or "").strip() or None
            try:
                await in_tenant(
                    actor,
                    lambda db: (
                        tenancy.create_staff(
                            db,
                            actor,
                            name=staff_name,
                            org_unit_id=unit_id,
                            role=role,
                            wecom_userid=wecom,
                        ).id
                    ),
                )
            except AppError as exc:
                show_error(exc)
                return
            name.set_value("")
            wecom_userid.set_value("")
            await self.refresh_staff()
            ui.notify(t("org.staff_created", name=staff_name), type="positive")

        with (
            ui.card().classes("w-full q-pa-none"),
            ui.expansion(t("org.add_staff"), icon="person_add").classes("w-full"),
            ui.column().classes("w-full gap-2 q-px-md q-pb-md"),
        ):
            ui.label().classes("text-caption text-grey-7").bind_text_from(
                self, "selected", lambda u: t("org.staff_unit", name=u.name) if u else ""
            )
            with ui.row().classes("w-full gap-2"):
                name = ui.input(t("org.staff_name")).props("outlined dense").classes("grow")
                role_select = ui.select(roles, value=Role.GUIDE.value, label=t("org.col.role"))
                role_select.props("outlined dense").classes("min-w-32")
                wecom_userid = ui.input(t("org.col.wecom_userid")).props("outlined dense")
            ui.button(t("org.create_staff"), icon="add", on_click=create).props(
                "unelevated no-caps"
            ).mark("create-staff")
