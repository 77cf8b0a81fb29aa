"""Where a partition resumes: from the projection store's own positions, not only Kafka's.

Every SQL projection stores its next offset in the same transaction as its rows (ADR 0004), so
the store knows exactly what it holds. The consumer group's committed offset is only a
shortcut: a store restored from backup, deleted, or a PostgreSQL failover that lost commits
can be *behind* it, and resuming from the group's offset would then skip entries silently.
So the worker rewinds the group to the lowest stored position of the partition's projections
whenever that is lower (ADR 0004, "Resuming from the store").

It never moves the group *forward* to the store: the person-index runner forwards each entry
after applying it (ADR 0010) and relies on redelivery of what the group has not committed to
forward entries the store already holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from hub.projections.registry import PROJECTIONS, ProjectionSpec
from hub.settings import Settings
from hub.storage.positions import positions_of


def stored_projections(
    settings: Settings, projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS
) -> dict[str, list[str]]:
    """Each topic the worker reads, with the projections of the registry that store a position
    in it (the key store's erasure step is idempotent and keeps none). The worker resumes from
    these positions and ``/metrics`` and ``/health`` measure lag against them."""
    found: dict[str, list[str]] = {}
    for spec in projections:
        found.setdefault(spec.reads.topic(settings), []).append(spec.name)
    return found


def resume_offset(
    positions: Iterable[int | None], committed: int | None, log_start: int
) -> int | None:
    """The offset to rewind the group to, or None to keep the committed offset.

    ``positions`` holds each projection's stored next offset for the partition (None: the
    projection has none, so it needs the partition from the start of the log); ``committed`` is
    the group's committed offset (None: nothing committed, so the consumer starts at the log
    start anyway); ``log_start`` is the partition's first retained offset.
    """
    wanted = [log_start if position is None else position for position in positions]
    if not wanted or committed is None:
        return None
    # Below the log start the entries are gone (retention): the log start is all there is.
    lowest = max(min(wanted), log_start)
    return lowest if lowest < committed else None


def stored_positions(
    engine: Engine, projections: Iterable[str], topic: str, partitions: Iterable[int]
) -> dict[int, list[int | None]]:
    """Each partition's stored next offset per projection (None where it has none)."""
    with engine.connect() as connection:
        held = [positions_of(connection, projection) for projection in projections]
    return {
        partition: [stored.get((topic, partition)) for stored in held] for partition in partitions
    }


def rewinds(
    positions: Mapping[int, list[int | None]],
    committed: Mapping[int, int | None],
    log_start: Mapping[int, int],
) -> dict[int, int]:
    """The partitions to rewind, with the offset each resumes from."""
    decided = {
        partition: resume_offset(stored, committed.get(partition), log_start.get(partition, 0))
        for partition, stored in positions.items()
    }
    return {partition: offset for partition, offset in decided.items() if offset is not None}
