"""Money: integer fen in, integer fen out. Only this module parses or formats amounts."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from siyu.core.errors import InvalidInput

MAX_YUAN = Decimal(10) ** 13
_CLEAN = re.compile(r"[¥￥,，\s]|RMB|CNY|元", re.IGNORECASE)


def parse_yuan(text: str) -> int:
    """Return fen for a yuan amount written by a person or an export: ``"¥1,234.50"`` → 123450.

    Rounds half up to the fen. Raises ``InvalidInput`` when ``text`` is not an amount.
    """
    cleaned = _CLEAN.sub("", text)
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise InvalidInput(
            f"{text!r} is not an amount", hint="write yuan like 1234.50 or ¥1,234.50"
        ) from exc
    if not value.is_finite() or abs(value) >= MAX_YUAN:
        raise InvalidInput(
            f"{text!r} is not an amount", hint="write yuan like 1234.50 (below 10 trillion)"
        )
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_fen(fen: int, *, symbol: str = "¥") -> str:
    """Return ``"¥1,234.50"`` for 123450 (negative amounts as ``"-¥1.00"``)."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{symbol}{yuan:,}.{cents:02d}"
