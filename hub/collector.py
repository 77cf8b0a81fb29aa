"""CPython's cycle collector during long bulk work: a rebuild (ADR 0037), an extract run (ADR 0041).

Bulk work makes hundreds of thousands of short-lived objects (records, decoded events, folded
states, rows) that reference counting frees. At the default threshold (700 allocations) the
collector runs every few entries, and each full collection walks every object the process holds
(modules, schemas, table metadata, the key cache): a third of a rebuild's decode time and a
sixth of an extract's first run, measured. ``gc.freeze`` moves the objects alive before the
work out of the collector's walks; the threshold and the freeze are undone when the work ends,
however it ends, so nothing stays frozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

GC_THRESHOLD: Final = 100_000  # allocations between young collections during bulk work


@contextmanager
def fewer_collections(threshold: int = GC_THRESHOLD) -> Iterator[None]:
    """The collector kept off what was alive before, and run rarely, for the ``with`` block."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(threshold, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
