"""Group commit (hub/ingest/group_commit.py, ADR 0028): concurrent callers' events go out as
one batch, each caller is answered with its own events' outcomes and only once the whole group
is confirmed, and a group held up does not hold up the next.

The publisher here is a stand-in for :meth:`CaseEventSink.publish_many` with its contract (each
event's outcome in its place, or :class:`PublishError` for the batch) that records each batch
and can be held, so what is grouped with what, and who waits for whom, can be seen. Against
the real broker and listener: tests/integration/test_ingest_batches.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hub.erasure.keystore import ErasureInProgressError
from hub.events import CaseEvent
from hub.ingest.group_commit import GroupCommit
from hub.ingest.sink import Published
from hub.kafka.publisher import Delivery, PublishError
from tests.builders import missed


class Broker:
    """Each batch published, its deliveries in place; ``hold`` keeps a batch waiting."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.offset = 0
        self.hold: asyncio.Event | None = None
        self.fail: str | None = None
        self.erasing: set[str] = set()

    async def publish_many(self, events: Sequence[CaseEvent]) -> list[Published]:
        self.batches.append([e.source_record_id for e in events])
        hold = self.hold
        if hold is not None:
            await hold.wait()
        if self.fail:
            raise PublishError(self.fail)
        outcomes: list[Published] = []
        for event in events:
            if event.source_record_id in self.erasing:
                outcomes.append(ErasureInProgressError("send again later", {"x"}))
                continue
            outcomes.append(Delivery("t", 0, self.offset))
            self.offset += 1
        return outcomes


Answer = BaseException | list[Published]


def events(*ids: str) -> list[CaseEvent]:
    return [missed(i) for i in ids]


def offsets(outcomes: Sequence[Published]) -> list[int | str]:
    return [o.offset if isinstance(o, Delivery) else type(o).__name__ for o in outcomes]


def test_callers_at_the_same_moment_share_one_batch_and_each_gets_its_own_outcomes() -> None:
    async def go() -> tuple[list[list[str]], list[list[int | str]]]:
        broker = Broker()
        broker.erasing = {"b2"}
        group = GroupCommit(broker.publish_many, window_s=0.05, max_events=100)
        answers = await asyncio.gather(
            group.publish_many(events("a1")),
            group.publish_many(events("b1", "b2")),
            group.publish_many(events("c1", "c2", "c3")),
        )
        return broker.batches, [offsets(a) for a in answers]

    batches, answers = asyncio.run(go())
    assert batches == [["a1", "b1", "b2", "c1", "c2", "c3"]]  # in the order they joined
    assert answers == [[0], [1, "ErasureInProgressError"], [2, 3, 4]]


def test_a_group_full_of_events_is_published_at_once_and_the_rest_wait_for_the_next() -> None:
    async def go() -> list[list[str]]:
        broker = Broker()
        group = GroupCommit(broker.publish_many, window_s=10.0, max_events=3)
        await asyncio.wait_for(
            asyncio.gather(
                group.publish_many(events("a1", "a2")),
                group.publish_many(events("b1", "b2")),  # would make 4: closes a's group first
                group.publish_many(events("c1")),  # makes 3: published at once, no 10 s wait
            ),
            timeout=5,
        )
        return broker.batches

    assert asyncio.run(go()) == [["a1", "a2"], ["b1", "b2", "c1"]]


def test_nobody_is_answered_before_the_whole_group_is_confirmed() -> None:
    async def go() -> None:
        broker = Broker()
        broker.hold = asyncio.Event()
        group = GroupCommit(broker.publish_many, window_s=0.01, max_events=100)
        a = asyncio.create_task(group.publish_many(events("a1")))
        b = asyncio.create_task(group.publish_many(events("b1")))
        await asyncio.sleep(0.1)
        assert broker.batches == [["a1", "b1"]]
        assert not a.done()
        assert not b.done()
        broker.hold.set()
        assert offsets(await a) == [0]
        assert offsets(await b) == [1]

    asyncio.run(go())


def test_a_batch_the_broker_did_not_confirm_refuses_every_member() -> None:
    async def go() -> tuple[Answer, Answer]:
        broker = Broker()
        broker.fail = "no delivery report"
        group = GroupCommit(broker.publish_many, window_s=0.01, max_events=100)
        return await asyncio.gather(
            group.publish_many(events("a1")),
            group.publish_many(events("b1")),
            return_exceptions=True,
        )

    a, b = asyncio.run(go())
    assert isinstance(a, PublishError)
    assert isinstance(b, PublishError)
    assert a is not b
    assert str(a) == str(b) == "no delivery report"


def test_a_group_held_up_does_not_hold_up_the_next() -> None:
    """A's group waits on the key store or the broker; B, arriving meanwhile, is answered."""

    async def go() -> None:
        broker = Broker()
        group = GroupCommit(broker.publish_many, window_s=0.01, max_events=100)
        held = broker.hold = asyncio.Event()
        a = asyncio.create_task(group.publish_many(events("a1")))
        await asyncio.sleep(0.05)
        assert group.in_flight == 1
        broker.hold = None  # the next batch goes through
        b = await asyncio.wait_for(group.publish_many(events("b1")), timeout=5)
        assert offsets(b) == [0]
        assert not a.done()
        held.set()
        assert offsets(await a) == [1]
        assert broker.batches == [["a1"], ["b1"]]

    asyncio.run(go())


def test_a_caller_alone_does_not_wait_for_the_window() -> None:
    async def go() -> float:
        broker = Broker()
        group = GroupCommit(broker.publish_many, window_s=5.0, max_events=100)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(3):
            await group.publish_many(events(f"a{n}"))
        return loop.time() - start

    assert asyncio.run(go()) < 1.0  # three messages, one after another: no 5 s window each


def test_closing_publishes_the_open_group_and_waits_for_every_group() -> None:
    async def go() -> tuple[list[int | str], list[int | str]]:
        broker = Broker()
        group = GroupCommit(broker.publish_many, window_s=60.0, max_events=100)
        held = broker.hold = asyncio.Event()
        first = asyncio.create_task(group.publish_many(events("a1")))
        await asyncio.sleep(0.01)  # a1 in flight, so b1's group would wait 60 s
        broker.hold = None
        second = asyncio.create_task(group.publish_many(events("b1")))
        await asyncio.sleep(0.01)
        assert not second.done()
        closing = asyncio.create_task(group.aclose())
        answer = await asyncio.wait_for(second, timeout=5)
        await asyncio.sleep(0.01)
        assert not closing.done()  # a1's group is still in flight
        held.set()
        await asyncio.wait_for(closing, timeout=5)
        return offsets(answer), offsets(first.result())

    assert asyncio.run(go()) == ([0], [1])
