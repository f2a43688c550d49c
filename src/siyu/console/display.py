"""How values read on screen: times in the tenant's zone, money in yuan, rates in percent."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from siyu.console.i18n import catalog, current_locale, t
from siyu.core.actor import Actor, Role
from siyu.core.money import format_fen
from siyu.security.masking import email_for, phone_for

DASH = "—"


def when(actor: Actor, at: datetime | None) -> str:
    """Return ``2026-11-23 18:05`` in the actor's (tenant's) timezone."""
    if at is None:
        return DASH
    return at.astimezone(ZoneInfo(actor.timezone)).strftime("%Y-%m-%d %H:%M")


def day(value: date | None) -> str:
    return value.isoformat() if value is not None else DASH


def money(fen: int) -> str:
    return format_fen(fen)


def rate_bp(bp: int) -> str:
    """Return ``3.25%`` for 325 basis points."""
    sign = "-" if bp < 0 else ""
    whole, frac = divmod(abs(bp), 100)
    return f"{sign}{whole}.{frac:02d}%"


def text(value: str | None) -> str:
    return value if value else DASH


def enum_label(prefix: str, value: str) -> str:
    """Return the translation of an enum value, e.g. ``role.guide`` → 导购."""
    return t(f"{prefix}.{value}")


def scope_label(actor: Actor) -> str:
    """Return what part of the tenant's data the actor sees, in words."""
    if actor.role is Role.GUIDE:
        return t("scope.guide")
    return t("scope.tenant") if actor.sees_whole_tenant else t("scope.unit")


def key_value(actor: Actor, kind: str, value: str) -> str:
    """Return an identity key's value as the actor may see it (phones, e-mails masked by role)."""
    if kind == "phone":
        return phone_for(actor, value) or DASH
    if kind == "email":
        return email_for(actor, value) or DASH
    return value


def event_label(event_type: str) -> str:
    """Return the label of a built-in event type, or the type itself for integrations' own."""
    key = f"event.{event_type}"
    return t(key) if key in catalog(current_locale()) else event_type
