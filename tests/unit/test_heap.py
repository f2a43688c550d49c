"""Server processes freeze their start-up heap and collect young garbage less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from siyu.core import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_the_heap_and_raises_the_young_threshold() -> None:
    kept = [object() for _ in range(100)]  # something alive to freeze
    heap.settle()
    assert gc.get_freeze_count() > len(kept)
    gen0, gen1, gen2 = gc.get_threshold()
    assert gen0 == heap.GEN0_THRESHOLD
    assert gen1 >= 50
    assert gen2 >= 100
