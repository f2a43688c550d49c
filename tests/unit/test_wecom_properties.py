"""Properties: the client's sliding windows and the fake's snapshot cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.channels.wecom.fake.config import FakeConfig
from siyu.channels.wecom.fake.state import FakeState, OffsetClock
from siyu.channels.wecom.fake.wire import WeComFault
from siyu.channels.wecom.ratelimit import SlidingWindow
from siyu.core.clock import FixedClock


@given(
    limit=st.integers(1, 8),
    gaps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=60),
)
def test_no_window_of_60_seconds_holds_more_than_the_limit(limit: int, gaps: list[float]) -> None:
    window = SlidingWindow(limit, 60)
    now, times = 1000.0, []
    for gap in gaps:
        now += gap
        wait = window.wait_time(now)
        now += wait
        assert window.wait_time(now) == 0
        window.record(now)
        times.append(now)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60) <= limit


@given(
    size=st.integers(0, 60),
    limit=st.integers(1, 25),
    inserts=st.lists(st.integers(0, 5), max_size=10),
)
def test_snapshot_cursor_traversal_has_no_duplicates_or_gaps(
    size: int, limit: int, inserts: list[int]
) -> None:
    state = FakeState(FakeConfig(), OffsetClock(FixedClock(datetime(2026, 1, 1, tzinfo=UTC))))
    data = list(range(size))
    binding = {"api": "x", "app": "app0"}
    seen: list[int] = []
    cursor: str | None = None
    step = 0
    while True:
        page, cursor = state.page(binding, cursor, limit, lambda: list(data))
        seen += page
        if step < len(inserts):  # data changes between pages
            data[:0] = [-1] * inserts[step]
        step += 1
        if not cursor:
            break
    assert seen == list(range(size))
    with pytest.raises(WeComFault) as forged:
        state.page({"api": "y", "app": "app0"}, "forged-cursor", limit, lambda: data)
    assert forged.value.errcode == 50100
