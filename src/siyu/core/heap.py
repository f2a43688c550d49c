"""Garbage-collector settings for long-running server processes and bulk work."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

GEN0_THRESHOLD = 100_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def settle() -> None:
    """Freeze what start-up built and collect the cyclic garbage less often.

    A server process holds a large, long-lived heap (models, routes, the console's pages,
    compiled statements) that every full collection would walk again; frozen, it is left out.
    Requests free almost everything by reference counting, so young collections can be rare.
    Measured with ``bench/event_ingest.py``: the slowest 1 % of requests fell from 140–170 ms to
    60–75 ms (collections paused whichever request was running), with less CPU per event.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, max(gen1, 50), max(gen2, 100))


_bulk_lock = threading.Lock()
_bulk_depth = 0
_bulk_saved: tuple[tuple[int, int, int], bool] | None = None


@contextmanager
def bulk() -> Iterator[None]:
    """Run allocation-heavy batch work (an import, a batch of OneID) with the collector eased.

    Such work builds and drops millions of small objects that reference counting frees; cycles
    are rare. With CPython's defaults the collector would walk the whole heap again and again
    meanwhile (every object alive when the work began, each time the young generations fill).
    Here what was alive at the start is frozen (unless a settled server froze its heap already)
    and young collections are rare, until the last of any concurrent or nested bulk work ends.
    Measured with ``bench/oneid_resolve.py`` and ``bench/import_orders.py`` (docs/benchmarks.md).
    """
    global _bulk_depth, _bulk_saved
    with _bulk_lock:
        _bulk_depth += 1
        if _bulk_depth == 1:
            thresholds = gc.get_threshold()
            freeze = gc.get_freeze_count() == 0
            _bulk_saved = (thresholds, freeze)
            if freeze:
                gc.freeze()
            gen0, gen1, gen2 = thresholds
            gc.set_threshold(max(gen0, GEN0_THRESHOLD), max(gen1, 50), gen2)
    try:
        yield
    finally:
        with _bulk_lock:
            _bulk_depth -= 1
            if _bulk_depth == 0 and _bulk_saved is not None:
                (gen0, gen1, gen2), froze = _bulk_saved
                gc.set_threshold(gen0, gen1, gen2)
                if froze:
                    gc.unfreeze()
                _bulk_saved = None
