"""Client-side limits that keep siyu below WeCom's (spec §5): sliding windows and a gate.

``SlidingWindow`` counts calls in one-second buckets and forgets a bucket only when all of it is
older than the window, so any window of ``seconds`` (aligned or not with WeCom's) holds at most
``limit`` calls. ``ConcurrencyGate`` caps calls in
flight per API and can be narrowed after a 45033.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class SlidingWindow:
    """At most ``limit`` events in any ``seconds``-long window."""

    def __init__(self, limit: int, seconds: int) -> None:
        if limit < 1 or seconds < 1:
            raise ValueError("limit and seconds must be positive")
        self.limit = limit
        self.seconds = seconds
        self._buckets: deque[list[int]] = deque()  # [second, count], oldest first
        self._total = 0

    def _expire(self, now: float) -> None:
        # a bucket holds events of [second, second + 1): gone once its end is a window ago
        while self._buckets and self._buckets[0][0] + 1 + self.seconds <= now:
            self._total -= self._buckets.popleft()[1]

    def wait_time(self, now: float) -> float:
        """Return how long to wait before one more event fits (0 when it fits now)."""
        self._expire(now)
        if self._total < self.limit:
            return 0.0
        excess = self._total - self.limit + 1
        for second, count in self._buckets:
            excess -= count
            if excess <= 0:
                return max(second + 1 + self.seconds - now, 0.0) + 0.001
        return float(self.seconds)  # unreachable: the buckets hold the whole total

    def record(self, now: float) -> None:
        self._expire(now)
        second = math.floor(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
        self._total += 1


@dataclass(frozen=True)
class RateLimits:
    """Client-side budgets per (corp, API): 80% of WeCom's 10,000/min and 150,000/h."""

    per_minute: int = 8_000
    per_hour: int = 120_000
    concurrency: dict[str, int] = field(
        default_factory=lambda: {"externalcontact/remark": 5, "externalcontact/mark_tag": 5}
    )
    default_concurrency: int = 20


class ConcurrencyGate:
    """A semaphore whose size can shrink (to 1 after a 45033) while calls are in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._cond = threading.Condition()

    def narrow(self, limit: int) -> None:
        with self._cond:
            self.limit = max(1, min(self.limit, limit))

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify()


class ApiLimiter:
    """Minute and hour windows plus a concurrency gate for each API path of one corp."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[SlidingWindow, SlidingWindow]] = {}
        self._gates: dict[str, ConcurrencyGate] = {}

    def _for(self, api: str) -> tuple[SlidingWindow, SlidingWindow]:
        if api not in self._windows:
            self._windows[api] = (
                SlidingWindow(self.limits.per_minute, 60),
                SlidingWindow(self.limits.per_hour, 3600),
            )
        return self._windows[api]

    def reserve(self, api: str, now: float) -> float:
        """Record a call now and return 0, or return the wait needed without recording."""
        with self._lock:
            minute, hour = self._for(api)
            wait = max(minute.wait_time(now), hour.wait_time(now))
            if wait == 0:
                minute.record(now)
                hour.record(now)
            return wait

    def gate(self, api: str) -> ConcurrencyGate:
        with self._lock:
            if api not in self._gates:
                limit = self.limits.concurrency.get(api, self.limits.default_concurrency)
                self._gates[api] = ConcurrencyGate(limit)
            return self._gates[api]
