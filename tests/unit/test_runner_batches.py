"""The runner applies a batch of one partition: one decode, one apply per step, one round of
dead letters, one forward — and loses nothing (hub/projections/runner.py, issue 19).

The steps and decoder are small stand-ins (tests/support/runner_steps.py), so that the order of
what happens — dead letters before positions, retries holding the batch — can be seen in one
journal. Batches of several partitions' parts: tests/unit/test_runner_parts.py. The same runner
against Kafka and SQL: tests/integration.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from hub.identity.routing import may_rekey_others
from hub.processes.worker import Received, by_partition
from hub.projections.batch import BatchEntry, PoisonEntriesError
from hub.projections.ports import LogMessage
from hub.projections.runner import ProjectionRunner
from tests.support.runner_steps import (
    TOPIC,
    Decoder,
    Entry,
    Forward,
    Journal,
    OneAtATime,
    Sink,
    Store,
    messages,
)


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
