"""Group commit: the events of messages arriving on different connections at nearly the same
moment are sealed and published as one batch, and each sender is answered from its own share.

A message channel (the MLLP listener) answers every message once its events are durably in
Kafka. Published one message at a time, each message pays a thread hop, an erasure-epoch read
(ADR 0025) and a round of acknowledgements of its own, and that per-message overhead, not the
broker, is what bounds a listener with many senders (docs/benchmarks.md). :class:`GroupCommit`
lets concurrent callers share it (ADR 0028):

* a caller's events join the *open group*; the group is closed — handed to one
  :meth:`~hub.ingest.sink.CaseEventSink.publish_many` — when it holds ``max_events``, or once
  the event loop has finished what was ready when the group opened if no other group is being
  published (one sender alone waits for no one), else ``window_s`` after it opened;
* groups in flight do not wait for one another: a group held up by the key store or the broker
  holds up only its own members, never the next group (a slow sender stays a slow sender);
* each caller gets exactly what ``publish_many`` says of its own events, in their places —
  a :class:`~hub.kafka.publisher.Delivery`, or the refusal of that event alone — only after the
  broker confirmed *every* record of the group. When the broker did not confirm some record,
  ``publish_many`` raises :class:`~hub.kafka.publisher.PublishError` and every member of the
  group gets it: nobody is told "accepted" unless the whole group is durable, and each sender
  resends (ids are deterministic, so records written before the failure are absorbed).

Order: a group is published in the order its members joined; a connection that waits for each
answer before its next message has at most one message in any group, so its order is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from hub.events import CaseEvent
from hub.ingest.sink import Published
from hub.kafka.publisher import PublishError

Publish = Callable[[Sequence[CaseEvent]], Awaitable[list[Published]]]


@dataclass(frozen=True, slots=True)
class _Member:
    events: tuple[CaseEvent, ...]
    answer: asyncio.Future[list[Published]]


class GroupCommit:
    """Coalesce concurrent ``publish_many`` calls on one event loop into groups."""

    def __init__(self, publish: Publish, *, window_s: float, max_events: int) -> None:
        if window_s < 0 or max_events < 1:
            raise ValueError("a group commit needs window_s >= 0 and max_events >= 1")
        self._publish = publish
        self._window_s = window_s
        self._max_events = max_events
        self._open: list[_Member] = []
        self._open_events = 0
        self._closing: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._publishing = 0  # groups whose batch is not yet answered
        self.groups = 0  # published so far, and the messages they carried: what grouping did
        self.members = 0

    @property
    def in_flight(self) -> int:
        """Groups being published now (their members not yet answered)."""
        return self._publishing

    async def publish_many(self, events: Sequence[CaseEvent]) -> list[Published]:
        """What :meth:`~hub.ingest.sink.CaseEventSink.publish_many` answers for ``events``,
        published in a group with whatever other callers sent meanwhile."""
        if not events:
            return []
        loop = asyncio.get_running_loop()
        member = _Member(tuple(events), loop.create_future())
        if self._open and self._open_events + len(member.events) > self._max_events:
            self._close()
        self._open.append(member)
        self._open_events += len(member.events)
        if self._open_events >= self._max_events:
            self._close()
        elif self._closing is None:
            delay = self._window_s if self._publishing else 0.0
            self._closing = loop.call_later(delay, self._close)
        return await member.answer

    async def aclose(self) -> None:
        """Publish the open group now and wait for every group in flight."""
        if self._open:
            self._close()
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _close(self) -> None:
        if self._closing is not None:
            self._closing.cancel()
            self._closing = None
        group, self._open, self._open_events = self._open, [], 0
        if not group:
            return
        members = [m for m in group if not m.answer.done()]  # a caller gone before: skip it
        if not members:
            return
        self._publishing += 1
        self.groups += 1
        self.members += len(members)
        task = asyncio.get_running_loop().create_task(self._commit(members))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _commit(self, members: list[_Member]) -> None:
        try:
            outcomes = await self._publish([e for m in members for e in m.events])
        except PublishError as error:
            self._publishing -= 1
            for member in members:  # a refusal of its own each: the same text, the same cause
                refusal = PublishError(str(error))
                refusal.__cause__ = error
                _settle(member, exception=refusal)
            return
        except asyncio.CancelledError:
            self._publishing -= 1
            for member in members:
                member.answer.cancel()
            raise
        except Exception as error:  # a bug: every waiting caller sees it, none is left hanging
            self._publishing -= 1
            for member in members:
                _settle(member, exception=error)
            return
        # Counted out before anyone is answered: a sender's next message must not wait for
        # the window because of its own group.
        self._publishing -= 1
        at = 0
        for member in members:
            _settle(member, result=outcomes[at : at + len(member.events)])
            at += len(member.events)


def _settle(
    member: _Member,
    *,
    result: list[Published] | None = None,
    exception: BaseException | None = None,
) -> None:
    if member.answer.done():  # its caller stopped waiting (a closed connection)
        return
    if exception is not None:
        member.answer.set_exception(exception)
    else:
        assert result is not None
        member.answer.set_result(result)
