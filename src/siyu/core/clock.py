"""Time: aware UTC everywhere; code that decides by time takes a ``Clock``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests: stands still until moved."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


SYSTEM_CLOCK = SystemClock()


def utcnow() -> datetime:
    """Return the current aware UTC time (for defaults; decisions take a ``Clock``)."""
    return datetime.now(UTC)


def local_day_range(day: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC range ``[start, end)`` of the calendar day containing ``day`` in ``tz``."""
    local = day.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)
    return start.astimezone(UTC), end.astimezone(UTC)
