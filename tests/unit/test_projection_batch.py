"""The batch a projection applies: the one-at-a-time fallback ends where a batching store would."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from hub.projections.batch import BatchApply, BatchEntry, PoisonEntriesError, apply_batch


class Entry(BaseModel):
    value: int


class OneAtATime:
    """A step with only the one-entry apply: refuses negative values, as a fold may."""

    def __init__(self) -> None:
        self.position = 0
        self.seen: list[int] = []

    def __call__(
        self, topic: str, partition: int, offset: int, entry: Entry | None, key: bytes | None = None
    ) -> bool:
        if offset < self.position:
            return False
        if entry is not None:
            if entry.value < 0:
                raise ValueError(f"negative: {entry.value}")
            self.seen.append(entry.value)
        self.position = offset + 1
        return True


def batch(*values: int | None, start: int = 0) -> list[BatchEntry[Entry]]:
    return [
        BatchEntry(start + i, None if v is None else Entry(value=v)) for i, v in enumerate(values)
    ]


def test_a_step_without_a_batch_method_applies_each_entry() -> None:
    step = OneAtATime()
    assert not isinstance(step, BatchApply)
    assert apply_batch(step, "t", 0, batch(1, None, 3)) == 3
    assert (step.seen, step.position) == ([1, 3], 3)


def test_a_refused_entry_is_named_and_the_second_pass_skips_what_was_applied() -> None:
    step = OneAtATime()
    entries = batch(1, -2, 3)
    with pytest.raises(PoisonEntriesError) as refused:
        apply_batch(step, "t", 0, entries)
    assert refused.value.reasons == {1: "negative: -2"}
    # The runner dead-letters offset 1, then applies the batch again with it as None.
    again = [
        BatchEntry(e.offset, None if e.offset in refused.value.reasons else e.entry)
        for e in entries
    ]
    assert apply_batch(step, "t", 0, again) == 2
    assert (step.seen, step.position) == ([1, 3], 3)


def test_a_batching_store_is_used_as_such() -> None:
    class Batching:
        def __init__(self) -> None:
            self.calls: list[list[int]] = []

        def apply_batch(
            self, topic: str, partition: int, entries: Sequence[BatchEntry[Entry]], /
        ) -> int:
            self.calls.append([e.offset for e in entries])
            return len(entries)

    store = Batching()
    assert apply_batch(store, "t", 0, batch(1, 2, start=5)) == 2
    assert store.calls == [[5, 6]]
