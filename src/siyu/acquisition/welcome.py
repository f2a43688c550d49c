"""Welcome messages of channel codes: validate templates at save time, render them at send time.

A welcome is stored as ``{"text": str | None, "attachments": [wire dicts]}``, the attachments in
the shape ``send_welcome_msg`` expects (``{"msgtype": "link", "link": {...}}``, spec §3.4/§3.5).
Text, link titles and descriptions and mini-program titles may hold variables such as
``{customer_name}``; ``{{`` and ``}}`` stand for literal braces. Unknown variables are rejected
when the code is saved, so rendering never fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from siyu.acquisition.schemas import WelcomeIn
from siyu.core.errors import FieldError, InvalidInput

VARIABLES: Mapping[str, str] = {
    "customer_name": "the customer's WeCom name",
    "staff_name": "the name of the staff member who was added",
}
TEXT_MAX_BYTES = 4000  # spec §3.4: text.content ≤ 4000 bytes
MAX_ATTACHMENTS = 9
# Fields of an attachment that may carry variables, and their byte limits (spec §3.5).
_TEMPLATED: Mapping[str, Mapping[str, int]] = {
    "link": {"title": 128, "desc": 512},
    "miniprogram": {"title": 64},
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def _unknown_variables(template: str) -> list[str]:
    return [
        match.group(1)
        for match in _TOKEN.finditer(template)
        if match.group(1) is not None and match.group(1) not in VARIABLES
    ]


def _substitute(template: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group(1), "")

    return _TOKEN.sub(replace, template)


def _truncate_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def _check_template(template: str, field: str, limit: int, errors: list[FieldError]) -> None:
    for name in _unknown_variables(template):
        errors.append(FieldError(field=field, reason=f"unknown variable {{{name}}}", value=name))
    if len(template.encode("utf-8")) > limit:
        errors.append(FieldError(field=field, reason=f"longer than {limit} bytes"))


def validate_welcome(welcome: WelcomeIn | None) -> dict[str, Any]:
    """Return the stored form of a welcome message; raise ``InvalidInput`` listing every problem."""
    if welcome is None:
        return {}
    errors: list[FieldError] = []
    text = welcome.text if welcome.text and welcome.text.strip() else None
    if text is not None:
        _check_template(text, "welcome.text", TEXT_MAX_BYTES, errors)
    if len(welcome.attachments) > MAX_ATTACHMENTS:
        errors.append(
            FieldError(field="welcome.attachments", reason=f"more than {MAX_ATTACHMENTS}")
        )
    wires: list[dict[str, Any]] = []
    for index, attachment in enumerate(welcome.attachments):
        body = attachment.model_dump(exclude={"msgtype"}, exclude_none=True)
        if attachment.msgtype == "image" and not (body.get("media_id") or body.get("pic_url")):
            errors.append(
                FieldError(
                    field=f"welcome.attachments.{index}",
                    reason="an image needs pic_url or media_id",
                )
            )
        for key, limit in _TEMPLATED.get(attachment.msgtype, {}).items():
            if isinstance(body.get(key), str):
                _check_template(body[key], f"welcome.attachments.{index}.{key}", limit, errors)
        wires.append({"msgtype": attachment.msgtype, attachment.msgtype: body})
    if errors:
        names = ", ".join("{" + name + "}" for name in VARIABLES)
        raise InvalidInput(
            "the welcome message is not valid: "
            + "; ".join(f"{e.field}: {e.reason}" for e in errors),
            hint=f"variables allowed: {names} (write {{{{ and }}}} for literal braces); "
            f"text ≤ {TEXT_MAX_BYTES} bytes, ≤ {MAX_ATTACHMENTS} attachments",
            errors=errors,
        )
    if text is None and not wires:
        return {}
    return {"text": text, "attachments": wires}


def render(stored: Mapping[str, Any], *, customer_name: str, staff_name: str) -> dict[str, Any]:
    """Substitute the variables of a stored welcome (empty text and attachments if none)."""
    values = {"customer_name": customer_name, "staff_name": staff_name}
    text = stored.get("text")
    rendered_text = None
    if isinstance(text, str):
        rendered_text = _truncate_bytes(_substitute(text, values), TEXT_MAX_BYTES)
    attachments: list[dict[str, Any]] = []
    raw: Sequence[Mapping[str, Any]] = stored.get("attachments") or []
    for wire in raw:
        kind = str(wire["msgtype"])
        body = dict(wire.get(kind) or {})
        for key, limit in _TEMPLATED.get(kind, {}).items():
            if isinstance(body.get(key), str):
                body[key] = _truncate_bytes(_substitute(body[key], values), limit)
        attachments.append({"msgtype": kind, kind: body})
    return {"text": rendered_text or None, "attachments": attachments}
