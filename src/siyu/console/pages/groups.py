"""``/groups``: customer groups (客户群) synced from WeCom; ``/groups/{id}``: one with its members.

The list shows each group's owner, how many members and customers it has now, its status and
when siyu last saw it change; members link to their customer pages. Data scope as everywhere:
guides see the groups they own, store managers those of staff in their stores.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import DASH, enum_label, text, when
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, not_found, shell
from siyu.console.nav import NavItem
from siyu.console.paging import CursorPager, link_rows
from siyu.core.actor import Actor
from siyu.core.errors import AppError, NotFound
from siyu.groups import service as groups
from siyu.groups.models import GroupStatus
from siyu.groups.schemas import GroupDetail, GroupRead
from siyu.security.rbac import Perm, has

PATH = "/groups"
PAGE_SIZE = 20
_PHONE_HIDDEN = {"classes": "gt-xs", "headerClasses": "gt-xs"}


@dataclass(frozen=True)
class GroupsPage:
    items: list[GroupRead]
    next_cursor: str | None


def load_page(
    db: Session, actor: Actor, q: str, status: GroupStatus | None, cursor: str | None
) -> GroupsPage:
    page = groups.list_groups(db, actor, q=q or None, status=status, limit=PAGE_SIZE, cursor=cursor)
    return GroupsPage(groups.present(db, actor, page.items), page.next_cursor)


def load_detail(db: Session, actor: Actor, group_id: uuid.UUID) -> GroupDetail:
    return groups.group_detail(db, actor, group_id)


def register() -> None:
    nav.add(NavItem("nav.groups", PATH, "forum", permission=Perm.CUSTOMERS_READ, order=24))

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def groups_page(request: Request, q: str = "") -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.groups"), path=PATH):
            if not has(user.actor, Perm.CUSTOMERS_READ):
                no_permission()
            else:
                await build_list(user.actor, q)
        return None

    @ui.page(PATH + "/{group_id}", response_timeout=PAGE_TIMEOUT)
    async def group_page(request: Request, group_id: str) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("groups.detail_title"), path=PATH + "/_"):
            await build_detail(user.actor, group_id)
        return None


def _col(name: str, *, hide_on_phone: bool = False, align: str = "left") -> dict[str, Any]:
    column = {"name": name, "label": t(f"groups.col.{name}"), "field": name, "align": align}
    return column | (_PHONE_HIDDEN if hide_on_phone else {})


def _row(actor: Actor, g: GroupRead) -> dict[str, Any]:
    return {
        "id": str(g.id),
        "name": g.name or t("groups.unnamed"),
        "owner": g.owner_name or g.owner_userid,
        "members": g.member_count,
        "customers": g.customer_count,
        "status": enum_label("group_status", g.status),
        "synced": when(actor, g.last_synced_at),
    }


async def build_list(actor: Actor, initial_q: str) -> None:
    state: dict[str, Any] = {"q": initial_q.strip()}  # the search the pages belong to
    statuses = {"": t("groups.status_all")} | {
        s.value: enum_label("group_status", s) for s in GroupStatus
    }

    async def fetch(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        q = state["q"]
        chosen = GroupStatus(status.value) if status.value else None
        page = await in_tenant(actor, lambda db: load_page(db, actor, q, chosen, cursor))
        return [_row(actor, g) for g in page.items], page.next_cursor

    async def run_search() -> None:
        state["q"] = (search.value or "").strip()
        await pager.first()

    with ui.row().classes("w-full items-center gap-2 no-wrap"):
        search = (
            ui.input(t("groups.search"), value=initial_q, placeholder=t("groups.search_hint"))
            .props("outlined dense clearable type=search enterkeyhint=search")
            .classes("grow")
            .mark("group-search")
        )
        search.on("keydown.enter", run_search)
        search.on("clear", run_search)
        status = (
            ui.select(statuses, value="", label=t("groups.col.status"), on_change=run_search)
            .props("outlined dense")
            .classes("w-40")
            .mark("group-status")
        )
        ui.button(icon="search", on_click=run_search).props(
            f'unelevated aria-label="{t("groups.search_button")}"'
        )

    columns = [
        _col("name"),
        _col("owner"),
        _col("members", align="right"),
        _col("customers", align="right", hide_on_phone=True),
        _col("status"),
        _col("synced", hide_on_phone=True),
    ]
    table = data_table(columns, label=t("groups.table"), empty=t("groups.empty")).mark(
        "group-table"
    )
    link_rows(table, PATH)
    pager = CursorPager(table, fetch, texts="groups")
    await pager.first()


def _field(label: str, value: str) -> None:
    with ui.column().classes("gap-0 min-w-0"):
        ui.label(label).classes("text-caption text-grey-7")
        ui.label(value).classes("text-body1 break-all")


async def build_detail(actor: Actor, raw_id: str) -> None:
    back = ui.link(t("groups.back"), PATH).classes("text-primary")
    try:
        group_id = uuid.UUID(raw_id)
        detail = await in_tenant(actor, lambda db: load_detail(db, actor, group_id))
    except (ValueError, NotFound):
        back.delete()
        not_found(t("groups.not_found"), back=PATH, back_label=t("groups.back"))
        return
    except AppError as exc:
        show_error(exc)
        return
    name = detail.name or t("groups.unnamed")
    ui.page_title(f"{name} · siyu 私域")
    with ui.card().classes("w-full").props(f'aria-label="{t("groups.profile")}"'):
        ui.label(name).classes("text-h6").props("role=heading aria-level=2")
        with ui.grid().classes("w-full grid-cols-2 md:grid-cols-4 gap-4"):
            _field(t("groups.col.owner"), detail.owner_name or detail.owner_userid)
            _field(t("groups.col.status"), enum_label("group_status", detail.status))
            _field(t("groups.col.members"), str(detail.member_count))
            _field(t("groups.col.customers"), str(detail.customer_count))
            _field(t("groups.created"), when(actor, detail.wecom_created_at))
            _field(t("groups.dismissed"), when(actor, detail.dismissed_at))
            _field(t("groups.col.synced"), when(actor, detail.last_synced_at))
            _field(t("groups.chat_id"), detail.chat_id)
        if detail.notice:
            ui.label(t("groups.notice")).classes("text-caption text-grey-7")
            ui.label(detail.notice).classes("text-body2 whitespace-pre-wrap")
    ui.label(t("groups.members_heading")).classes("text-h6 q-mt-sm").props(
        "role=heading aria-level=2"
    )
    rows = [
        {
            "id": str(m.id),
            "member": m.customer_name or m.staff_name or m.member_userid,
            "customer_id": str(m.customer_id) if m.customer_id else "",
            "kind": enum_label("group_member_kind", m.kind),
            "joined": when(actor, m.joined_at),
            "scene": t(f"groups.join_scene.{m.join_scene}") if m.join_scene in (1, 2, 3) else DASH,
            "state": t("groups.member_present")
            if m.is_active
            else t("groups.member_left", at=when(actor, m.left_at)),
            "nickname": text(m.group_nickname),
        }
        for m in detail.members
    ]
    columns = [
        {"name": "member", "label": t("groups.col.member"), "field": "member", "align": "left"},
        {"name": "kind", "label": t("groups.col.kind"), "field": "kind", "align": "left"},
        {"name": "joined", "label": t("groups.col.joined"), "field": "joined", "align": "left"}
        | _PHONE_HIDDEN,
        {"name": "scene", "label": t("groups.col.scene"), "field": "scene", "align": "left"}
        | _PHONE_HIDDEN,
        {"name": "state", "label": t("groups.col.state"), "field": "state", "align": "left"},
        {
            "name": "nickname",
            "label": t("groups.col.nickname"),
            "field": "nickname",
            "align": "left",
        }
        | _PHONE_HIDDEN,
    ]
    members = data_table(
        columns, rows=rows, label=t("groups.members_heading"), empty=t("groups.no_members")
    ).mark("member-table")
    members.add_slot(
        "body-cell-member",
        '<q-td :props="props"><a v-if="props.row.customer_id" '
        ":href=\"'/customers/' + props.row.customer_id\" "
        'class="text-primary text-weight-medium">{{ props.value }}</a>'
        "<span v-else>{{ props.value }}</span></q-td>",
    )
