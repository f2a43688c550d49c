"""Console text: flat dotted keys in ``locales/<code>.json``, looked up in the user's language.

An area may keep its keys in ``locales/<code>/<area>.json`` instead; they are merged in, and a
key defined twice is an error.

``t("nav.customers")`` returns the text in the language stored in ``app.storage.user["locale"]``
(the configured default, Chinese, until the user picks another). Every locale file must hold the
same keys; ``missing_keys()`` says which are not, and a test keeps it empty.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from nicegui import app

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LOCALES: dict[str, str] = {"zh": "中文", "en": "English"}
"""Supported locales: code → the language's own name (shown in the language toggle)."""
QUASAR_LANGUAGE = {"zh": "zh-CN", "en": "en-US"}

_default_locale = "zh"


def configure(default_locale: str) -> None:
    """Set the language shown before a user picks one (``Settings.default_locale``)."""
    global _default_locale
    _default_locale = default_locale if default_locale in LOCALES else "zh"


def default_locale() -> str:
    return _default_locale


def _read(path: Path) -> dict[str, str]:
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path} must be one flat JSON object of string keys and values")
    return data


@cache
def catalog(locale: str) -> dict[str, str]:
    """Return the translations of ``locale`` (read once from its JSON files)."""
    merged = _read(LOCALES_DIR / f"{locale}.json")
    area_dir = LOCALES_DIR / locale
    for path in sorted(area_dir.glob("*.json")) if area_dir.is_dir() else []:
        area = _read(path)
        twice = sorted(set(area) & set(merged))
        if twice:
            raise ValueError(f"{path} defines keys already defined: {', '.join(twice[:5])}")
        merged.update(area)
    return merged


def missing_keys() -> dict[str, set[str]]:
    """Return, per locale, the keys other locales have and it lacks (empty when consistent)."""
    keys = {code: set(catalog(code)) for code in LOCALES}
    every = set().union(*keys.values())
    return {code: every - have for code, have in keys.items() if every - have}


def current_locale() -> str:
    """Return the signed-in browser's language, or the default outside a page context."""
    try:
        locale = app.storage.user.get("locale")
    except (RuntimeError, AssertionError):
        return _default_locale
    return locale if isinstance(locale, str) and locale in LOCALES else _default_locale


def set_locale(locale: str) -> None:
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; use one of {', '.join(LOCALES)}")
    app.storage.user["locale"] = locale


def t(key: str, /, locale: str | None = None, **fmt: object) -> str:
    """Return the text for ``key`` in ``locale`` (default: the user's), formatted with ``fmt``.

    A key missing from the locale falls back to the default locale, then to the key itself, so a
    gap shows up on screen instead of breaking the page (``missing_keys`` catches it in tests).
    """
    code = locale or current_locale()
    text = catalog(code).get(key) or catalog(_default_locale).get(key) or key
    return text.format(**fmt) if fmt else text
