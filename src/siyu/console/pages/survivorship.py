"""The survivorship card of ``/settings``: which value of a profile field wins, per field."""

from __future__ import annotations

from nicegui import ui
from pydantic import ValidationError

from siyu.console import auth
from siyu.console.calls import in_tenant, show_error
from siyu.console.i18n import t
from siyu.core.errors import AppError
from siyu.customers import survivorship
from siyu.customers.survivorship import FieldRule, Rule, Survivorship
from siyu.security.rbac import ROLE_PERMS, Perm


async def load(user: auth.ConsoleUser) -> Survivorship:
    actor = user.actor
    return await in_tenant(actor, lambda db: survivorship.rules(db, actor))


def card(user: auth.ConsoleUser, current: Survivorship) -> None:
    """Per field a rule and, for source priority, the ranked sources; admins may save."""
    actor = user.actor
    editable = Perm.TENANT_ADMIN in ROLE_PERMS[actor.role]
    rules = {rule.value: t(f"survivorship.rule.{rule.value}") for rule in Rule}
    inputs: dict[str, tuple[ui.select, ui.input]] = {}
    with ui.card().classes("w-full gap-2").mark("settings-survivorship"):
        ui.label(t("survivorship.title")).classes("text-subtitle1 text-weight-medium").props(
            "role=heading aria-level=2"
        )
        ui.label(t("survivorship.hint")).classes("text-body2 text-grey-7")
        for field in survivorship.SURVIVING_FIELDS:
            rule = current.rule_for(field)
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(t(f"survivorship.field.{field}")).classes("w-24 shrink-0")
                select = (
                    ui.select(rules, value=rule.rule.value)
                    .classes("w-40")
                    .props(f'dense outlined aria-label="{t(f"survivorship.field.{field}")}"')
                )
                sources = (
                    ui.input(
                        t("survivorship.sources"),
                        value=", ".join(rule.sources),
                        placeholder="pos, tmall, wecom",
                    )
                    .classes("grow min-w-40")
                    .props("dense outlined")
                )
                sources.bind_visibility_from(select, "value", value=Rule.SOURCE_PRIORITY.value)
                if not editable:
                    select.disable()
                    sources.disable()
                inputs[field] = (select, sources)

        async def save() -> None:
            fields = {}
            try:
                for field, (select, sources) in inputs.items():
                    if select.value == Rule.KEEP_FIRST.value:
                        continue
                    ranked = [s.strip() for s in str(sources.value or "").split(",") if s.strip()]
                    fields[field] = FieldRule(rule=Rule(select.value), sources=ranked)
                data = Survivorship(fields=fields)
            except ValidationError as exc:
                ui.notify(exc.errors()[0]["msg"], type="negative", multi_line=True)
                return
            try:
                await in_tenant(actor, lambda db: survivorship.set_rules(db, actor, data))
            except AppError as exc:
                show_error(exc)
                return
            ui.notify(t("survivorship.saved"), type="positive")

        if editable:
            ui.button(t("survivorship.save"), on_click=save).props("unelevated color=primary").mark(
                "survivorship-save"
            )
