"""``/identity/junk-keys``: keys that never merge customers (placeholders, shared by many).

An operator with ``customers:write`` clears a key judged genuine (it may merge again) or flags
it again. Phone and e-mail values are masked unless the role reads PII.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse

from siyu.console import auth, nav
from siyu.console.calls import in_tenant, show_error
from siyu.console.display import enum_label, key_value, text, when
from siyu.console.i18n import t
from siyu.console.layout import PAGE_TIMEOUT, data_table, no_permission, shell
from siyu.console.nav import NavItem
from siyu.core.actor import Actor
from siyu.core.errors import AppError
from siyu.identity import service as identity
from siyu.identity.models import JunkStatus
from siyu.security.rbac import Perm, has

PATH = "/identity/junk-keys"


@dataclass(frozen=True)
class JunkRow:
    id: uuid.UUID
    kind: str
    value: str
    reason: str
    hits: int
    status: str
    detected_at: datetime


def load(db: Session, actor: Actor) -> list[JunkRow]:
    return [
        JunkRow(
            j.id,
            j.kind,
            key_value(actor, j.kind, j.value),
            j.reason,
            j.hit_count,
            j.status,
            j.detected_at,
        )
        for j in identity.list_junk_keys(db, actor)
    ]


def register() -> None:
    nav.add(NavItem("nav.junk_keys", PATH, "report", permission=Perm.CUSTOMERS_READ, order=25))

    @ui.page(PATH, response_timeout=PAGE_TIMEOUT)
    async def junk_keys_page(request: Request) -> RedirectResponse | None:
        user = await auth.current_user()
        if user is None:
            return auth.login_redirect(request)
        with shell(user, title=t("nav.junk_keys"), path=PATH):
            if not has(user.actor, Perm.CUSTOMERS_READ):
                no_permission()
            else:
                await build(user.actor)
        return None


def _columns(can_write: bool) -> list[dict[str, Any]]:
    names = ["kind", "value", "reason", "hits", "status", "detected"]
    columns = [{"name": n, "label": t(f"junk.col.{n}"), "field": n, "align": "left"} for n in names]
    if can_write:
        columns.append({"name": "actions", "label": "", "field": "id", "align": "right"})
    return columns


async def build(actor: Actor) -> None:
    can_write = has(actor, Perm.CUSTOMERS_WRITE)
    ui.label(t("junk.intro")).classes("text-body2 text-grey-8")
    table = data_table(_columns(can_write), label=t("junk.table"), empty=t("junk.empty")).mark(
        "junk-table"
    )
    if can_write:
        table.add_slot(
            "body-cell-actions",
            '<q-td :props="props"><q-btn outline dense no-caps '
            ":label=\"props.row.flagged ? '" + t("junk.clear") + "' : '" + t("junk.flag") + "'\" "
            ":aria-label=\"(props.row.flagged ? '"
            + t("junk.clear")
            + "' : '"
            + t("junk.flag")
            + "') + ' ' + props.row.value\" "
            "@click=\"() => $parent.$emit('toggle', props.row)\" /></q-td>",
        )

    def show(rows: list[JunkRow]) -> None:
        table.rows = [
            {
                "id": str(r.id),
                "kind": enum_label("key_kind", r.kind),
                "value": r.value,
                "reason": text(r.reason),
                "hits": f"{r.hits:,}",
                "status": enum_label("junk_status", r.status),
                "detected": when(actor, r.detected_at),
                "flagged": r.status == JunkStatus.FLAGGED,
            }
            for r in rows
        ]
        table.update()

    async def refresh() -> None:
        try:
            rows = await in_tenant(actor, lambda db: load(db, actor))
        except AppError as exc:
            show_error(exc)
            return
        show(rows)

    async def toggle(e: GenericEventArguments) -> None:
        row = e.args if isinstance(e.args, dict) else {}
        junk_id = uuid.UUID(str(row.get("id")))
        status = JunkStatus.CLEARED if row.get("flagged") else JunkStatus.FLAGGED
        try:
            await in_tenant(
                actor, lambda db: identity.set_junk_status(db, actor, junk_id, status=status)
            )
        except AppError as exc:
            show_error(exc)
            return
        ui.notify(t(f"junk.{status.value}_notice"), type="positive")
        await refresh()

    table.on("toggle", toggle)
    await refresh()
