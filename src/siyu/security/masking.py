"""Masking of PII by role: who sees a phone in full, who sees 138****1234."""

from __future__ import annotations

from siyu.core.actor import Actor
from siyu.core.phone import mask_email, mask_phone
from siyu.security.rbac import Perm, has


def phone_for(actor: Actor, phone: str | None) -> str | None:
    if phone is None:
        return None
    return phone if has(actor, Perm.PII_READ) else mask_phone(phone)


def email_for(actor: Actor, email: str | None) -> str | None:
    if email is None:
        return None
    return email if has(actor, Perm.PII_READ) else mask_email(email)
