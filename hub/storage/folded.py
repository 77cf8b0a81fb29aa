"""What every store of the family topic does alike: its log position and its batches.

The team, outcomes and error-queue stores (and the alerts', whose fold needs a little more) are
written only through ``apply_parts``: a batch of one or several partitions' entries in one
transaction with every position, folded in one pass (:func:`apply_parts_folded`, ADR 0039).
``apply_batch`` is one partition's part of it and ``apply`` a batch of one. Those three and the
position read were the same lines in each store; a store now says only how it folds a batch
(:meth:`FoldedStore.fold_batch`) and keeps its tables and reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic

from sqlalchemy import Connection, Engine

from hub.storage.positions import (
    AfterPart,
    BatchEntry,
    R,
    apply_one,
    apply_parts_folded,
    next_offset,
)


class FoldedStore(ABC, Generic[R]):
    """A projection's store whose batches are folded in one pass, under its name
    ``projection`` in the log positions (a rebuild's generation has its own, ADR 0015); ``R``
    is what its log holds (a case-event or an erasure)."""

    def __init__(self, engine: Engine, projection: str) -> None:
        self._engine = engine
        self._projection = projection

    @property
    def engine(self) -> Engine:
        return self._engine

    def next_offset(self, topic: str, partition: int) -> int | None:
        """Where this projection resumes in the partition (None: from its start)."""
        with self._engine.connect() as connection:
            return next_offset(connection, self._projection, topic, partition)

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: R | None,
        key: bytes | None = None,
    ) -> bool:
        """Apply one log entry (``None``: dead-lettered or unreadable, only the position moves).

        ``key`` is the entry's Kafka key on the family topic, the family id (ADR 0010). False
        when the entry had already been applied; a refused entry raises ``ValueError`` with the
        fold's reason. A batch of one.
        """
        one: BatchEntry[R] = BatchEntry(offset, entry, key)
        return apply_one(self.apply_batch, topic, partition, one)

    def apply_batch(self, topic: str, partition: int, entries: Sequence[BatchEntry[R]], /) -> int:
        """Apply one partition's entries, in offset order, in one transaction with the
        position; how many were applied (not skipped)."""
        return self.apply_parts(topic, [(partition, entries)])

    def apply_parts(
        self,
        topic: str,
        parts: Sequence[tuple[int, Sequence[BatchEntry[R]]]],
        after_part: AfterPart | None = None,
        /,
    ) -> int:
        """:meth:`apply_batch` for several partitions' parts in one transaction with every
        position, folded in one pass: the worker's batch of the family topic costs one
        transaction here and one load of its state, not one per partition. A refusal refuses
        the batch, naming every refused entry with its partition."""

        def write(
            connection: Connection, fresh: Sequence[tuple[int, BatchEntry[R]]]
        ) -> dict[int, str]:
            return self.fold_batch(connection, [item for _, item in fresh])

        return apply_parts_folded(self._engine, self._projection, topic, parts, write, after_part)

    @abstractmethod
    def fold_batch(self, connection: Connection, fresh: Sequence[BatchEntry[R]]) -> dict[int, str]:
        """Fold the entries not yet applied, in order, and write what changed on
        ``connection`` (the batch's transaction); what the fold refused, by index in
        ``fresh`` — and then nothing written, for the caller to refuse the batch."""
