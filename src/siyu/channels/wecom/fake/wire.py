"""The fake's WeCom wire format: errors with real codes and errmsg shape, body accessors."""

from __future__ import annotations

import json
from typing import Any

ERROR_TEXT = {
    -1: "system busy",
    40001: "invalid credential",
    40003: "invalid userid",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40058: "invalid parameter",
    40063: "some parameters are empty",
    40096: "invalid external userid",
    40097: "user not resigned",
    40098: "user not real-name verified",
    40099: "takeover user's external contacts reach limit",
    40126: "corp tag count reach limit",
    40128: "external contact transferred too often",
    40129: "external contact is being transferred",
    40130: "handover userid equal to takeover userid",
    40131: "handover user is not the follower of the external contact",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41035: "external userid missing",
    41037: "contact way type missing",
    41038: "contact way scene missing",
    41039: "invalid contact way type",
    41040: "invalid contact way scene",
    41041: "contact way user count exceed limit",
    41042: "invalid contact way style",
    41043: "config_id missing",
    41044: "invalid config_id",
    41045: "contact way count reach limit",
    41046: "msgid missing",
    41047: "invalid msgid",
    41048: "no external contact can be sent to",
    41049: "welcome_code missing",
    41050: "invalid welcome_code",
    41051: "welcome_code used or customer already chatting",
    41054: "user not activated",
    41063: "group msg is being sent",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    48002: "api forbidden",
    48005: "api deprecated",
    50100: "invalid cursor",
    60011: "no privilege to access/modify contact/party/agent",
    60020: "not allow to access from your ip",
    60111: "userid not found",
    81017: "too many items requested",
    84061: "not external contact",
    84074: "no external contact permission",
    90500: "group owner not resigned",
    90501: "not a customer group",
    90504: "group owner unchanged",
    90507: "group is being transferred",
}


class WeComFault(Exception):
    """A WeCom business error the fake answers with (HTTP 200, errcode != 0)."""

    def __init__(self, errcode: int, note: str | None = None) -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.note = note


def errmsg(errcode: int, *, hint: str, ip: str, note: str | None = None) -> str:
    """Return an errmsg in the shape of spec §1."""
    text = ERROR_TEXT.get(errcode, "error")
    if note:
        text = f"{text}, {note}"
    return (
        f"{text}, hint: [{hint}], from ip: {ip}, more info at "
        f"https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    )


def parse_body(raw: bytes) -> dict[str, Any]:
    """Parse a POST body; anything but a JSON object is 40063 (spec §7 trigger)."""
    if not raw.strip():
        raise WeComFault(40063, "request body is empty")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WeComFault(40063, "Warning: wrong json format.") from exc
    if not isinstance(data, dict):
        raise WeComFault(40063, "Warning: wrong json format.")
    return data


class Body:
    """Typed access to request fields; wrong types and limits raise the spec's codes."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def has(self, name: str) -> bool:
        return self.data.get(name) not in (None, "", [])

    def text(
        self,
        name: str,
        *,
        missing: int | None = None,
        max_len: int | None = None,
        too_long: int = 40058,
        default: str | None = None,
    ) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if missing is not None:
                raise WeComFault(missing, f"{name} missing")
            return default
        if not isinstance(value, str):
            raise WeComFault(40058, f"{name} must be a string")
        if max_len is not None and len(value) > max_len:
            raise WeComFault(too_long, f"{name} longer than {max_len}")
        return value

    def req(self, name: str, missing: int = 40063, **kw: Any) -> str:
        value = self.text(name, missing=missing, **kw)
        if value is None:  # only when a default was passed in ``kw``
            raise WeComFault(missing, f"{name} missing")
        return value

    def integer(self, name: str, default: int | None = None, *, missing: int | None = None) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            if missing is not None or default is None:
                raise WeComFault(missing or 40063, f"{name} missing")
            return default
        if isinstance(value, bool):
            raise WeComFault(40058, f"{name} must be an integer")
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise WeComFault(40058, f"{name} must be an integer") from exc

    def opt_int(self, name: str) -> int | None:
        return self.integer(name) if self.has(name) else None

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool | int):
            return bool(value)
        raise WeComFault(40058, f"{name} must be a boolean")

    def items(self, name: str, *, max_items: int | None = None, too_many: int = 40058) -> list[Any]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise WeComFault(40058, f"{name} must be a list")
        if max_items is not None and len(value) > max_items:
            raise WeComFault(too_many, f"{name} longer than {max_items}")
        return value

    def texts(self, name: str, **kw: Any) -> list[str]:
        items = self.items(name, **kw)
        if not all(isinstance(i, str) for i in items):
            raise WeComFault(40058, f"{name} must hold strings")
        return items

    def obj(self, name: str) -> Body:
        value = self.data.get(name)
        if value is None:
            return Body({})
        if not isinstance(value, dict):
            raise WeComFault(40058, f"{name} must be an object")
        return Body(value)
