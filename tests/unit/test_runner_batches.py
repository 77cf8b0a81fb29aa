"""The runner applies a batch of one partition: one decode, one apply per step, one round of
dead letters, one forward — and loses nothing (hub/projections/runner.py, issue 19).

The steps and decoder here are small stand-ins with the behaviour the runner relies on (a store
whose position moves with its data in one all-or-nothing apply, a fold that refuses an entry), so
that the order of what happens — dead letters before positions, retries holding the batch — can
be seen in one journal. The same runner against Kafka and SQL: tests/integration.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import pytest
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from hub.identity.routing import may_rekey_others
from hub.kafka.codec import DecodeError
from hub.kafka.publisher import PublishError
from hub.processes.worker import Received, by_partition
from hub.projections.batch import BatchEntry, PoisonEntriesError
from hub.projections.ports import Applied, LogMessage
from hub.projections.runner import ProjectionRunner
from hub.quarantine import QuarantineRecord

TOPIC = "families"


class Entry(BaseModel):
    value: int


def down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("the database is restarting"))


class Journal:
    """What happened, in order, across the sink and every step."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, object]] = []

    def note(self, what: str, detail: object) -> None:
        self.lines.append((what, detail))

    def of(self, what: str) -> list[object]:
        return [detail for kind, detail in self.lines if kind == what]


class Sink:
    """The dead-letter topic: records each write once it is "acknowledged"; counts how many
    writes were in flight at once (a batch's dead letters are written together)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.records: list[QuarantineRecord] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def dead_letter(self, record: QuarantineRecord, topic: str) -> object:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)  # the broker's acknowledgement
        self.in_flight -= 1
        self.records.append(record)
        self.journal.note("dead", record.reason)
        return None


class Decoder:
    """``str(int)`` bytes; anything else does not decode. Counts its calls and their threads."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[int] = set()

    def decode(self, data: bytes) -> Entry | None:
        try:
            return Entry(value=int(data))
        except ValueError as error:
            raise DecodeError(f"not a number: {data!r}") from error

    def decode_many(self, values: Sequence[bytes]) -> list[Entry | DecodeError | None]:
        self.calls += 1
        self.threads.add(threading.get_ident())
        decoded: list[Entry | DecodeError | None] = []
        for value in values:
            try:
                decoded.append(self.decode(value))
            except DecodeError as error:
                decoded.append(error)
        return decoded


class Store:
    """A store that batches: entries below its position skipped, the rest applied with the
    position in one all-or-nothing step; refuses ``refuse`` values before writing anything;
    down for its first ``down_for`` calls."""

    def __init__(
        self,
        name: str,
        journal: Journal,
        *,
        refuse: frozenset[int] = frozenset(),
        down_for: int = 0,
    ) -> None:
        self.name, self.journal, self.refuse, self.down_for = name, journal, refuse, down_for
        self.position = 0
        self.rows: list[tuple[int, int | None]] = []
        self.calls = 0

    def apply(
        self, topic: str, partition: int, offset: int, entry: Entry | None, key: bytes | None = None
    ) -> bool:
        return self.apply_batch(topic, partition, [BatchEntry(offset, entry, key)]) == 1

    def apply_batch(self, topic: str, partition: int, entries: Sequence[BatchEntry[Entry]]) -> int:
        self.calls += 1
        if self.down_for:
            self.down_for -= 1
            raise down()
        fresh = [item for item in entries if item.offset >= self.position]
        refused = {
            item.offset: f"{self.name} refuses {item.entry.value}"
            for item in fresh
            if item.entry is not None and item.entry.value in self.refuse
        }
        if refused:
            raise PoisonEntriesError(refused)
        for item in fresh:
            self.rows.append((item.offset, None if item.entry is None else item.entry.value))
        if fresh:
            self.position = fresh[-1].offset + 1
            self.journal.note(f"{self.name} at", self.position)
        return len(fresh)


class OneAtATime:
    """A step with only the one-entry apply (the erasure steps' kind), no position: every call
    is an effect, so a second application of an entry would show."""

    def __init__(self, journal: Journal, *, refuse: frozenset[int] = frozenset()) -> None:
        self.journal, self.refuse = journal, refuse
        self.seen: list[tuple[int, int | None]] = []

    def __call__(
        self, topic: str, partition: int, offset: int, entry: Entry | None, key: bytes | None = None
    ) -> bool:
        if entry is not None and entry.value in self.refuse:
            raise ValueError(f"one-at-a-time refuses {entry.value}")
        self.seen.append((offset, None if entry is None else entry.value))
        return True


class Forward:
    """The ``then`` hook: what it was given, per call; down for its first ``down_for`` calls."""

    def __init__(self, journal: Journal, down_for: int = 0) -> None:
        self.journal, self.down_for = journal, down_for
        self.batches: list[list[tuple[int | None, bytes | None, bytes]]] = []

    async def __call__(self, applied: Sequence[Applied[Entry]]) -> None:
        if self.down_for:
            self.down_for -= 1
            raise down()
        self.batches.append([(a.entry.value, a.key, a.value) for a in applied])
        self.journal.note("forwarded", len(applied))


def messages(*values: bytes, start: int = 0) -> list[LogMessage]:
    return [
        LogMessage(start + i, value, f"k{start + i}".encode()) for i, value in enumerate(values)
    ]


def test_a_batch_is_decoded_once_applied_once_per_step_and_forwarded_once() -> None:
    journal = Journal()
    decoder, sink, forward = Decoder(), Sink(journal), Forward(journal)
    first, second, last = Store("first", journal), Store("second", journal), OneAtATime(journal)
    runner = ProjectionRunner([first, second, last], decoder, sink, "dead", then=forward)

    asyncio.run(runner.handle_batch(TOPIC, 0, messages(b"1", b"2", b"3", b"4", b"5", start=10)))

    assert decoder.calls == 1
    assert threading.get_ident() not in decoder.threads  # off the event loop
    assert (first.calls, second.calls) == (1, 1)
    expected = [(10 + i, v) for i, v in enumerate([1, 2, 3, 4, 5])]
    assert first.rows == second.rows == last.seen == expected
    assert first.position == second.position == 15
    assert forward.batches == [[(v, f"k{o}".encode(), str(v).encode()) for o, v in expected]]
    assert sink.records == []
    assert journal.lines == [("first at", 15), ("second at", 15), ("forwarded", 5)]


def test_a_refused_entry_is_dead_lettered_then_none_for_its_step_and_every_later_one() -> None:
    journal = Journal()
    sink, forward = Sink(journal), Forward(journal)
    before = Store("before", journal)
    refusing = Store("refusing", journal, refuse=frozenset({3}))
    after, last = Store("after", journal), OneAtATime(journal)
    runner = ProjectionRunner([before, refusing, after, last], Decoder(), sink, "dead", forward)

    asyncio.run(runner.handle_batch(TOPIC, 0, messages(b"1", b"2", b"3", b"4", b"5")))

    # The step before it had applied it; from the refusing step on it is only a position.
    assert before.rows == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert refusing.rows == after.rows == last.seen == [(0, 1), (1, 2), (2, None), (3, 4), (4, 5)]
    assert refusing.calls == 2  # refused (nothing written), then the batch again
    [record] = sink.records
    assert record.raw == b"3"
    assert record.reason == f"{TOPIC}[0]@2: projection failed: refusing refuses 3"
    # Durably dead-lettered before the refusing step's position moved past it.
    assert journal.lines == [
        ("before at", 5),
        ("dead", record.reason),
        ("refusing at", 5),
        ("after at", 5),
        ("forwarded", 4),
    ]
    assert [value for value, _, _ in forward.batches[0]] == [1, 2, 4, 5]


def test_refusals_in_two_steps_are_each_dead_lettered_once() -> None:
    journal = Journal()
    sink = Sink(journal)
    one = Store("one", journal, refuse=frozenset({2, 4}))
    two = Store("two", journal, refuse=frozenset({5}))
    runner = ProjectionRunner([one, two], Decoder(), sink, "dead")

    asyncio.run(runner.handle_batch(TOPIC, 1, messages(b"1", b"2", b"3", b"4", b"5")))

    assert one.rows == [(0, 1), (1, None), (2, 3), (3, None), (4, 5)]
    assert two.rows == [(0, 1), (1, None), (2, 3), (3, None), (4, None)]
    assert sorted(r.raw for r in sink.records) == [b"2", b"4", b"5"]
    assert sink.most_in_flight == 2  # the first step's two dead letters written together
    assert journal.of("one at") == [5]
    assert journal.lines.index(("one at", 5)) > 1  # after both of its dead letters


def test_undecodable_entries_are_dead_lettered_together_before_any_position_moves() -> None:
    journal = Journal()
    sink, forward = Sink(journal), Forward(journal)
    store, last = Store("store", journal), OneAtATime(journal)
    runner = ProjectionRunner([store, last], Decoder(), sink, "dead", then=forward)

    asyncio.run(
        runner.handle_batch(TOPIC, 2, messages(b"1", b"\x00garbage", b"3", b"oops", start=7))
    )

    assert sorted(r.raw for r in sink.records) == [b"\x00garbage", b"oops"]
    assert sink.most_in_flight == 2
    reasons = sorted(str(r.reason) for r in sink.records)
    assert reasons[0].startswith(f"{TOPIC}[2]@10: not a number")
    assert reasons[1].startswith(f"{TOPIC}[2]@8: not a number")
    assert store.rows == last.seen == [(7, 1), (8, None), (9, 3), (10, None)]
    assert [kind for kind, _ in journal.lines] == ["dead", "dead", "store at", "forwarded"]
    assert [value for value, _, _ in forward.batches[0]] == [1, 3]


def test_a_store_that_is_down_is_retried_holding_the_batch_then_applies_all_of_it() -> None:
    journal = Journal()
    decoder, forward = Decoder(), Forward(journal, down_for=1)
    flaky = Store("flaky", journal, down_for=2)
    after = Store("after", journal)
    runner = ProjectionRunner([flaky, after], decoder, Sink(journal), "dead", then=forward)

    asyncio.run(runner.handle_batch(TOPIC, 0, messages(b"1", b"2", b"3")))

    assert flaky.calls == 3  # down, down, then up
    assert after.calls == 1  # nothing of the batch went past the store that was down
    assert flaky.rows == after.rows == [(0, 1), (1, 2), (2, 3)]
    assert decoder.calls == 1
    assert journal.lines == [("flaky at", 3), ("after at", 3), ("forwarded", 3)]


def test_the_one_entry_fallback_applies_nothing_twice_around_a_refusal() -> None:
    journal = Journal()
    sink = Sink(journal)
    fallback = OneAtATime(journal, refuse=frozenset({3}))
    later = OneAtATime(journal)
    runner = ProjectionRunner([fallback, later], Decoder(), sink, "dead")

    asyncio.run(runner.handle_batch(TOPIC, 0, messages(b"1", b"2", b"3", b"4")))

    assert fallback.seen == later.seen == [(0, 1), (1, 2), (2, None), (3, 4)]
    assert [r.raw for r in sink.records] == [b"3"]
    assert "projection failed: one-at-a-time refuses 3" in str(sink.records[0].reason)


def test_one_entry_is_a_batch_of_one() -> None:
    journal = Journal()
    sink = Sink(journal)
    store = Store("store", journal, refuse=frozenset({2}))
    runner = ProjectionRunner([store], Decoder(), sink, "dead")

    async def feed() -> None:
        for offset, value in enumerate([b"1", b"2", b"x", b"4"]):
            await runner.handle(TOPIC, 0, offset, value, b"key")

    asyncio.run(feed())

    assert store.rows == [(0, 1), (1, None), (2, None), (3, 4)]
    assert [r.raw for r in sink.records] == [b"2", b"x"]


def test_a_store_that_refuses_what_it_was_not_given_stops_the_runner() -> None:
    class Broken(Store):
        def apply_batch(
            self, topic: str, partition: int, entries: Sequence[BatchEntry[Entry]]
        ) -> int:
            raise PoisonEntriesError({99: "no such entry"})

    journal = Journal()
    runner = ProjectionRunner([Broken("broken", journal)], Decoder(), Sink(journal), "dead")
    with pytest.raises(PoisonEntriesError):
        asyncio.run(runner.handle_batch(TOPIC, 0, messages(b"1")))


def test_the_worker_hands_the_runner_each_partition_in_runs_of_rising_offsets() -> None:
    received = [
        Received("t", 0, 5, b"a", b"k"),
        Received("t", 1, 9, b"b", None),
        Received("t", 0, 6, b"c", b"k"),
        Received("t", 1, 10, b"d", None),
        Received("t", 0, 3, b"e", b"k"),  # a seek back (a rewind after a rebalance)
        Received("t", 0, 4, b"f", b"k"),
    ]
    assert by_partition(received) == [
        (("t", 0), [LogMessage(5, b"a", b"k"), LogMessage(6, b"c", b"k")]),
        (("t", 0), [LogMessage(3, b"e", b"k"), LogMessage(4, b"f", b"k")]),
        (("t", 1), [LogMessage(9, b"b", None), LogMessage(10, b"d", None)]),
    ]


def test_what_arrived_before_a_re_keying_entry_is_handed_over_before_it() -> None:
    """Her registration, his, then the relationship that puts him in her family (partition 0)
    and his next event: his registration is forwarded before the relationship is applied, his
    next event after it — as when the worker took one entry at a time (ADR 0010)."""
    kinds = [b"PERSON_REGISTERED", b"PERSON_REGISTERED", b"RELATIONSHIP_RECORDED", None]
    assert [may_rekey_others(kind) for kind in kinds] == [False, False, True, True]
    received = [
        Received("t", 0, 0, b"her", None),
        Received("t", 1, 0, b"his", None),
        Received("t", 0, 1, b"related", None, cut=True),
        Received("t", 1, 1, b"his next", None),
        Received("t", 0, 2, b"hers next", None),
    ]
    assert by_partition(received) == [
        (("t", 0), [LogMessage(0, b"her")]),
        (("t", 1), [LogMessage(0, b"his")]),
        (("t", 0), [LogMessage(1, b"related"), LogMessage(2, b"hers next")]),
        (("t", 1), [LogMessage(1, b"his next")]),
    ]


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
