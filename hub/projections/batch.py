"""A batch of one partition's log entries, and how a projection applies one (issue 19).

The worker and ``hub replay`` hand a projection many entries of one partition at a time. A store
that can apply them in one transaction, with its position (ADR 0004), offers
:meth:`BatchApply.apply_batch`; :func:`apply_batch` uses it, and falls back to the store's
one-entry ``apply`` for a step that has none (each entry its own transaction, as before), so a
store is made faster without the runner changing.

A fold may refuse an entry (a poison event, ``ValueError``). In a batch that must not lose the
rest of the batch nor move the position past the refused entry before it is dead-lettered, so
``apply_batch`` raises :class:`PoisonEntriesError` *having written nothing* (its transaction rolls
back); the runner dead-letters those entries, then applies the batch again with them as ``None``
(only the position moves past them). Folds are pure, so the second pass decides the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

# Defined with the positions, below the stores, so that every store can take a batch and raise
# the refusal (the layers contract: stores do not import the projections' machinery).
from hub.storage.positions import AfterPart, BatchEntry, PoisonEntriesError

__all__ = [
    "AfterPart",
    "ApplyOne",
    "BatchApply",
    "BatchEntry",
    "PartsApply",
    "PoisonEntriesError",
    "apply_batch",
]

R = TypeVar("R", bound=BaseModel)
R_contra = TypeVar("R_contra", bound=BaseModel, contravariant=True)


@runtime_checkable
class BatchApply(Protocol[R]):
    """A store that applies a batch of one partition in one transaction, its position with it.

    Entries below the stored position are skipped (already applied); the position ends past the
    last entry. Returns how many entries were applied (not skipped). Raises
    :class:`PoisonEntriesError` before writing anything if the fold refuses entries.
    """

    def apply_batch(
        self, topic: str, partition: int, entries: Sequence[BatchEntry[R]], /
    ) -> int: ...


@runtime_checkable
class PartsApply(BatchApply[R], Protocol[R]):
    """A store that also applies a batch of several partitions' parts, in the order given, in
    one transaction with every position, calling ``after_part(index, connection)`` after each
    part in that transaction (the person index, whose routing must see each part as it leaves
    the rows: ADR 0010). A refusal names its partition (``PoisonEntriesError.partition``)."""

    def apply_parts(
        self,
        topic: str,
        parts: Sequence[tuple[int, Sequence[BatchEntry[R]]]],
        after_part: AfterPart | None = None,
        /,
    ) -> int: ...


class ApplyOne(Protocol[R_contra]):
    """The one-entry apply every projection step has (``hub.projections.ports.Projection``)."""

    def __call__(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: R_contra | None,
        key: bytes | None = None,
        /,
    ) -> bool: ...


def apply_batch(
    step: BatchApply[R] | ApplyOne[R],
    topic: str,
    partition: int,
    entries: Sequence[BatchEntry[R]],
) -> int:
    """Apply ``entries`` through ``step``: in one transaction where the step batches, else one
    entry at a time. A refusal in the one-at-a-time path is raised as
    :class:`PoisonEntriesError` for that entry alone; the entries before it are applied (their
    positions moved), which the second pass skips, so both paths end in the same state."""
    if isinstance(step, BatchApply):
        return step.apply_batch(topic, partition, entries)
    applied = 0
    for item in entries:
        try:
            applied += bool(step(topic, partition, item.offset, item.entry, item.key))
        except ValueError as error:
            raise PoisonEntriesError({item.offset: str(error)}) from error
    return applied
