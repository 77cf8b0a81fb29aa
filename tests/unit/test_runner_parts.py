"""The runner applies a batch cut in parts — several partitions, or one partition cut before a
re-keying entry — in one apply per step: the person index's shape (each part routed in the
store's transaction, the sends acknowledged together) and the family topic's (no hook: one call
per step for every part), and a refusal in one part dead-lettered once for its own partition
(hub/projections/runner.py, issue 19)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import pytest
from sqlalchemy import Connection

from hub.kafka.publisher import PublishError
from hub.projections.batch import BatchEntry, PoisonEntriesError
from hub.projections.ports import Applied
from hub.projections.runner import ProjectionRunner
from tests.support.runner_steps import (
    TOPIC,
    Decoder,
    Entry,
    Journal,
    OneAtATime,
    Sink,
    messages,
)


class PartsStore:
    """A store that applies several partitions' parts in one all-or-nothing call (the person
    index's shape): positions per partition, ``after_part`` called after each part with a
    stand-in for the transaction; refuses ``refuse`` values, naming the partition."""

    def __init__(self, journal: Journal, *, refuse: frozenset[int] = frozenset()) -> None:
        self.journal, self.refuse = journal, refuse
        self.positions: dict[int, int] = {}
        self.rows: list[tuple[int, int, int | None]] = []
        self.calls = 0

    def apply_batch(self, topic: str, partition: int, entries: Sequence[BatchEntry[Entry]]) -> int:
        return self.apply_parts(topic, [(partition, entries)], None)

    def apply_parts(
        self,
        topic: str,
        parts: Sequence[tuple[int, Sequence[BatchEntry[Entry]]]],
        after_part: Callable[[int, Connection], None] | None = None,
    ) -> int:
        self.calls += 1
        positions, rows = dict(self.positions), list(self.rows)
        for index, (partition, entries) in enumerate(parts):
            fresh = [e for e in entries if e.offset >= positions.get(partition, 0)]
            refused = {
                e.offset: f"parts refuses {e.entry.value}"
                for e in fresh
                if e.entry is not None and e.entry.value in self.refuse
            }
            if refused:
                raise PoisonEntriesError(refused, partition)
            rows.extend(
                (partition, e.offset, None if e.entry is None else e.entry.value) for e in fresh
            )
            if fresh:
                positions[partition] = fresh[-1].offset + 1
            if after_part is not None:
                after_part(index, cast(Connection, rows))  # what the part left, as SQL would show
        self.positions, self.rows = positions, rows
        self.journal.note("applied parts", len(parts))
        return len(rows)


class StagedForward:
    """A staged ``then`` hook: routes each part in the store's transaction (noting how many
    rows it saw), sends at once, acknowledges only when awaited."""

    def __init__(self, journal: Journal, refuse_send: int | None = None) -> None:
        self.journal, self.refuse_send = journal, refuse_send
        self.routed: list[tuple[list[int], int]] = []
        self.sent: list[list[int]] = []

    async def __call__(self, applied: Sequence[Applied[Entry]]) -> None:
        await (await self.send(self.route(applied)))

    def route(self, applied: Sequence[Applied[Entry]]) -> list[int]:
        return [a.entry.value for a in applied]

    def route_in(self, connection: Connection, applied: Sequence[Applied[Entry]]) -> list[int]:
        self.routed.append(([a.entry.value for a in applied], len(cast(list[object], connection))))
        return self.route(applied)

    async def send(self, routed: list[int]) -> Awaitable[None]:
        if self.refuse_send in routed:
            raise PublishError(f"the broker refused {routed}")
        self.sent.append(routed)
        self.journal.note("sent", routed)

        async def acknowledged() -> None:
            await asyncio.sleep(0.01)
            self.journal.note("acknowledged", routed)

        return acknowledged()


def test_a_batch_of_parts_is_applied_in_one_transaction_each_part_routed_as_it_leaves_it() -> None:
    """Three parts (partition 0, 1, then 0 again, as the worker cuts before a re-keying entry):
    one apply for all, each part routed right after its own writes, and every send handed over
    before any acknowledgement is awaited (one round of acks for the batch)."""
    journal = Journal()
    store, forward = PartsStore(journal), StagedForward(journal)
    decoder = Decoder()
    runner = ProjectionRunner([store], decoder, Sink(journal), "dead", then=forward)

    parts = [(0, messages(b"1", b"2")), (1, messages(b"3")), (0, messages(b"4", start=2))]
    asyncio.run(runner.handle_parts(TOPIC, parts))

    assert (store.calls, decoder.calls) == (1, 1)
    assert store.positions == {0: 3, 1: 1}
    assert forward.routed == [([1, 2], 2), ([3], 3), ([4], 4)]
    assert journal.lines == [
        ("applied parts", 3),
        ("sent", [1, 2]),
        ("sent", [3]),
        ("sent", [4]),
        ("acknowledged", [1, 2]),
        ("acknowledged", [3]),
        ("acknowledged", [4]),
    ]


def test_a_refusal_in_one_part_is_dead_lettered_and_the_whole_batch_applied_again() -> None:
    journal = Journal()
    sink = Sink(journal)
    store, forward = PartsStore(journal, refuse=frozenset({3})), StagedForward(journal)
    runner = ProjectionRunner([store], Decoder(), sink, "dead", then=forward)

    parts = [(0, messages(b"1")), (1, messages(b"3", b"5")), (0, messages(b"3", start=1))]
    asyncio.run(runner.handle_parts(TOPIC, parts))

    # Each refusal names its partition: partition 1's 3 first, then (the batch again) partition
    # 0's, each dead-lettered once, for its own partition and offset.
    assert [r.reason for r in sink.records] == [
        f"{TOPIC}[1]@0: projection failed: parts refuses 3",
        f"{TOPIC}[0]@1: projection failed: parts refuses 3",
    ]
    assert store.calls == 3  # refused; refused again (partition 0's 3); then all of it
    assert store.rows == [(0, 0, 1), (1, 0, None), (1, 1, 5), (0, 1, None)]
    assert forward.sent == [[1], [5]]  # routed from the last pass alone


def test_a_failed_send_is_raised_after_the_sends_before_it_are_acknowledged() -> None:
    journal = Journal()
    store, forward = PartsStore(journal), StagedForward(journal, refuse_send=3)
    runner = ProjectionRunner([store], Decoder(), Sink(journal), "dead", then=forward)

    parts = [(0, messages(b"1")), (1, messages(b"3")), (0, messages(b"4", start=1))]
    with pytest.raises(PublishError, match="refused"):
        asyncio.run(runner.handle_parts(TOPIC, parts))

    # Nothing after the failed send was handed over; what was is not left unawaited.
    assert journal.lines == [("applied parts", 3), ("sent", [1]), ("acknowledged", [1])]


def test_without_a_hook_each_step_takes_every_part_at_once_and_refusals_stay_per_step() -> None:
    """The family topic's shape (no ``then``): a store that applies parts gets the batch's
    partitions in one call per step, not one per partition; a refusal in one partition is
    dead-lettered and that step takes every part again with it as ``None``, as does every later
    step. A one-entry step after it goes part by part, and its own refusal resumes at the
    refused entry of that part, applying nothing twice."""
    journal = Journal()
    sink = Sink(journal)
    store = PartsStore(journal, refuse=frozenset({3}))
    after = OneAtATime(journal, refuse=frozenset({4}))
    runner = ProjectionRunner([store, after], Decoder(), sink, "dead")

    parts = [(0, messages(b"1", b"2")), (1, messages(b"3", b"4")), (2, messages(b"5"))]
    asyncio.run(runner.handle_parts(TOPIC, parts))

    assert [r.reason for r in sink.records] == [
        f"{TOPIC}[1]@0: projection failed: parts refuses 3",
        f"{TOPIC}[1]@1: projection failed: one-at-a-time refuses 4",
    ]
    assert store.calls == 2  # refused, then every part again in one call
    assert store.positions == {0: 2, 1: 2, 2: 1}
    assert store.rows == [(0, 0, 1), (0, 1, 2), (1, 0, None), (1, 1, 4), (2, 0, 5)]
    assert after.seen == [(0, 1), (1, 2), (0, None), (1, None), (0, 5)]
