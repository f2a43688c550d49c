"""Fake rate limits (45009), concurrency caps (45033) and fault injection (spec §5, §9)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from siyu.channels.wecom.fake.config import FakeConfig

FaultKind = Literal["busy", "http", "delay"]


class FakeLimits:
    """Fixed minute and hour windows per (corp, API) and per (IP, API); in-flight counts."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self._counts: Counter[tuple[str, str, str, int]] = Counter()
        self._in_flight: Counter[str] = Counter()
        self._hour = -1
        self._lock = threading.Lock()

    def over(self, api: str, ip: str, now: float) -> bool:
        """Count one call; return True when a window is over its limit.

        A window over its limit stays blocked until it ends: a minute limit to the end of the
        minute, an hour limit to the end of the hour.
        """
        c = self.config
        checks = [
            ("corp", c.corp_id, 60, c.per_minute),
            ("corp", c.corp_id, 3600, c.per_hour),
            ("ip", ip, 60, c.ip_per_minute),
            ("ip", ip, 3600, c.ip_per_hour),
        ]
        blocked = False
        with self._lock:
            hour = int(now // 3600)
            if hour != self._hour:  # forget windows that have ended
                self._hour = hour
                self._counts = Counter(
                    {k: v for k, v in self._counts.items() if (k[3] + 1) * int(k[2]) > now}
                )
            for scope, who, seconds, limit in checks:
                key = (scope, who + "|" + api, str(seconds), int(now // seconds))
                self._counts[key] += 1
                blocked = blocked or self._counts[key] > limit
        return blocked

    def enter(self, api: str) -> bool:
        cap = self.config.concurrency.get(api)
        with self._lock:
            if cap is not None and self._in_flight[api] >= cap:
                return False
            self._in_flight[api] += 1
            return True

    def leave(self, api: str) -> None:
        with self._lock:
            self._in_flight[api] -= 1


@dataclass
class Fault:
    """An injected failure: ``busy`` answers -1, ``http`` an HTTP ``status``, ``delay`` sleeps."""

    kind: FaultKind
    api: str = "*"
    remaining: int = 1
    status: int = 503
    delay: float = 0.0


class Faults:
    """An exact schedule of faults, plus an optional random fraction of -1 answers."""

    def __init__(self, seed: int) -> None:
        self.schedule: list[Fault] = []
        self.busy_fraction = 0.0
        self._rng = random.Random(seed + 2)  # noqa: S311 - fault injection of a fake
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.schedule.append(fault)

    def clear(self) -> None:
        with self._lock:
            self.schedule.clear()
            self.busy_fraction = 0.0

    def take(self, api: str) -> Fault | None:
        with self._lock:
            for fault in self.schedule:
                if fault.api in ("*", api) and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.schedule.remove(fault)
                    return fault
            if self.busy_fraction and self._rng.random() < self.busy_fraction:
                return Fault("busy", api)
        return None
