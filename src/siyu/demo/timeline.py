"""Time for the demo: moments weighted by growth, season and hour, and ids made for them."""

from __future__ import annotations

import random
import uuid
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from itertools import accumulate
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
# Share of activity by local hour: morning coffee, afternoon break, evening online shopping.
_HOUR_WEIGHTS = (
    1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 2, 4, 5, 5, 4, 4, 3.5, 3.5, 4, 4, 3.5, 3.5, 4, 5, 5.5, 4, 2,
)  # fmt: skip
_STORE_HOUR_WEIGHTS = tuple(w if 8 <= h <= 21 else 0 for h, w in enumerate(_HOUR_WEIGHTS))


def id_at(rng: random.Random, at: datetime) -> uuid.UUID:
    """Return a UUIDv7 for ``at`` with seeded random bits: deterministic and time-ordered."""
    millis = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = rng.getrandbits(74)
    value = millis << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def season_boost(day: date) -> float:
    """How busy a day is against an ordinary one: shopping festivals up, Spring Festival down."""
    month_day = (day.month, day.day)
    if month_day == (11, 11):
        return 5.0
    if month_day == (6, 18):
        return 4.0
    if month_day in ((12, 12), (5, 20)):
        return 2.2
    if day.month == 11 and day.day < 11:
        return 2.0
    if day.month == 6 and day.day < 18:
        return 1.7
    if day.month == 9 and day.day <= 20:
        return 1.3
    if (day.month == 1 and day.day >= 20) or (day.month == 2 and day.day <= 15):
        return 0.7
    if day.month == 12 and day.day >= 20:
        return 1.3
    return 1.0


class Calendar:
    """Picks moments between two instants, weighted by growth, season and hour of day."""

    def __init__(self, start: datetime, now: datetime) -> None:
        self._first = start.astimezone(TZ).date()
        count = (now.astimezone(TZ).date() - self._first).days + 1
        self._days = [self._first + timedelta(days=i) for i in range(count)]
        # The brand grows: the last day is about 2.3 times as busy as the first.
        weights = (
            (0.6 + 0.8 * i / max(count - 1, 1)) * season_boost(day)
            for i, day in enumerate(self._days)
        )
        self._cum = list(accumulate(weights))
        self._hours = list(range(24))
        self._hour_cum = list(accumulate(_HOUR_WEIGHTS))
        self._store_hour_cum = list(accumulate(_STORE_HOUR_WEIGHTS))

    def _index(self, at: datetime) -> int:
        return min(max((at.astimezone(TZ).date() - self._first).days, 0), len(self._days) - 1)

    def pick(
        self, rng: random.Random, lo: datetime, hi: datetime, *, store_hours: bool = False
    ) -> datetime:
        """Return a moment strictly between ``lo`` and ``hi``."""
        i, j = self._index(lo), self._index(hi)
        low = self._cum[i - 1] if i else 0.0
        k = min(bisect_left(self._cum, rng.uniform(low, self._cum[j]), i, j + 1), j)
        cum = self._store_hour_cum if store_hours else self._hour_cum
        hour = rng.choices(self._hours, cum_weights=cum)[0]
        clock = day_time(hour, rng.randrange(60), rng.randrange(60))
        at = datetime.combine(self._days[k], clock, tzinfo=TZ).astimezone(UTC)
        if lo < at < hi:
            return at
        return lo + (hi - lo) * rng.uniform(0.05, 0.95)
