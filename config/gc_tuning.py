"""The cyclic garbage collector held back during bulk work (an import's stream and merge, a calendar month).

An import allocates millions of short-lived, acyclic objects (rows as tuples, strings, small dicts): reference
counting frees them, but each 700 allocations start a collection, and every tenth of a tenth a full one that walks
the whole process heap (Django, the app registry, the worker's modules). Measured on 200k staged rows: rebuilding
them as tuples took 0.33 s of CPU with the collector at its defaults and 0.04 s without it (docs/benchmarks.md,
"Privacy"). So bulk work runs with the heap that existed before it frozen (never walked) and a high first
threshold: cycles the work makes (an exception's traceback) are still collected, just not 700 objects at a time.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

# Allocations between two young collections during bulk work (CPython's default is 700).
BULK_THRESHOLD = 200_000


@contextlib.contextmanager
def collector_relaxed() -> Iterator[None]:
    """Within the block: the existing heap frozen and young collections every BULK_THRESHOLD allocations; both
    restored on exit (the objects frozen go back to the oldest generation). The collector is the process's: two
    blocks overlapping in two threads end the relaxation at the first exit, which costs time, never correctness."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(BULK_THRESHOLD, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
