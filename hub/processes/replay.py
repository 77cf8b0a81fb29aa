"""``hub replay PROJECTION`` as a process: the composition root's projection stores, then the
rebuild and swap of :mod:`hub.projections.replay` (ADR 0015).

The machinery stays below the composition root (it is given its stores); this shell is where a
command takes them from :func:`hub.bootstrap.projection_stores`. The stores' own schema checks
are off (``schemas=False``): a table of an earlier shape is what a replay mends, so it must not
refuse to start on one.
"""

from __future__ import annotations

from collections.abc import Callable

from hub.bootstrap import projection_stores
from hub.projections.replay import BATCH, PROGRESS_EVERY_S, Progress, replay_with, replayable
from hub.settings import Settings


def replay(
    settings: Settings,
    name: str,
    *,
    progress: Callable[[Progress], None] = lambda _: None,
    timeout_s: float = 10.0,
    progress_every_s: float = PROGRESS_EVERY_S,
    batch: int = BATCH,
) -> Progress:
    """Rebuild projection ``name`` into fresh tables and swap them in; the final progress."""
    replayable(name)  # an unknown name is refused before any database is opened
    with projection_stores(settings, schemas=False) as stores:
        return replay_with(
            stores,
            name,
            progress=progress,
            timeout_s=timeout_s,
            progress_every_s=progress_every_s,
            batch=batch,
        )
