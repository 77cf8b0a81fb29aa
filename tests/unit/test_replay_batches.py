"""A partition's part of a rebuild batch: entries the fold refuses move only the position, in
a store that batches and in the one-entry fallback alike; nothing else of the batch is lost."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hub.erasure.sealing import LogEntry
from hub.projections.batch import BatchEntry, PoisonEntriesError
from hub.projections.replay import Progress, apply_part, describe
from tests.builders import booked, missed, registered

T = "family"
REFUSED = 2


def batch() -> list[BatchEntry[LogEntry]]:
    events = [registered(), booked("APT-1"), missed("APT-1"), missed("APT-2")]
    return [BatchEntry(offset, event, b"family-1") for offset, event in enumerate(events)]


class OneAtATime:
    """A store's one-entry apply: refuses the entry at ``REFUSED``, skips what it has."""

    def __init__(self) -> None:
        self.applied: list[tuple[int, LogEntry | None]] = []

    def __call__(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: LogEntry | None,
        key: bytes | None = None,
        /,
    ) -> bool:
        if offset < len(self.applied):
            return False
        if offset == REFUSED and entry is not None:
            raise ValueError("refused")
        self.applied.append((offset, entry))
        return True


class Batching:
    """A store that applies a batch in one transaction: all of it, or (refused) nothing."""

    def __init__(self) -> None:
        self.applied: list[tuple[int, LogEntry | None]] = []
        self.transactions = 0

    def apply_batch(
        self, topic: str, partition: int, entries: Sequence[BatchEntry[LogEntry]], /
    ) -> int:
        refused = {e.offset: "refused" for e in entries if e.offset == REFUSED and e.entry}
        if refused:
            raise PoisonEntriesError(refused)
        self.transactions += 1
        self.applied.extend((e.offset, e.entry) for e in entries)
        return len(entries)


@pytest.mark.parametrize("store", [OneAtATime, Batching])
def test_a_refused_entry_moves_only_the_position(store: type[OneAtATime | Batching]) -> None:
    step = store()
    entries = batch()
    apply_part(step, T, 0, entries)
    assert step.applied == [(e.offset, None if e.offset == REFUSED else e.entry) for e in entries]
    if isinstance(step, Batching):
        assert step.transactions == 1


def test_progress_says_how_many_of_how_many_and_how_fast() -> None:
    line = describe(Progress("rebuilding", 250_000, 10.0, 1_000_000))
    assert "250,000 entries applied (of 1,000,000)" in line
    assert "(25,000/s)" in line
