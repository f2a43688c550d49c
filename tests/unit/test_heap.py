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


@pytest.mark.usefixtures("restored_gc")
def test_bulk_eases_the_collector_for_its_duration_and_restores_it() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    with heap.bulk():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (heap.GEN0_THRESHOLD, 50, 10)
        with heap.bulk():  # nested: the outer settings hold
            assert gc.get_threshold()[0] == heap.GEN0_THRESHOLD
        assert gc.get_threshold()[0] == heap.GEN0_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("restored_gc")
def test_bulk_in_a_settled_process_keeps_its_frozen_heap() -> None:
    heap.settle()
    settled = gc.get_threshold()
    with heap.bulk():
        pass
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == settled


@pytest.mark.usefixtures("restored_gc")
def test_bulk_restores_the_collector_when_the_work_fails() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    with pytest.raises(RuntimeError), heap.bulk():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
