"""The shell around the projection fold: decode, dead-letter, apply with retries.

Kept apart from Faust so the same loop body runs under any runtime (ADR 0005): the Faust agent
in ``hub/processes/worker.py`` only feeds it ``(topic, partition, offset, bytes)``.

Failure policy, so that no event is lost:

* bytes that do not decode, or an event the fold rejects, go to the dead-letter topic with the
  reason (awaited: durably written) before the position moves past them;
* a store that is down is retried with backoff, holding the partition rather than skipping
  events — when decoding (the key store) as when applying — until the worker's watchdog
  (``HUB_WORKER_STALL_SECONDS``, ADR 0018) ends a wait that lasts too long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from hub.ingest.sink import CaseEventSink
from hub.kafka.codec import DecodeError
from hub.quarantine import quarantine_record

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)
R_co = TypeVar("R_co", bound=BaseModel, covariant=True)


class Decoder(Protocol[R_co]):
    """Bytes of one topic to a record; None for an entry to step over (its key was destroyed)."""

    def decode(self, data: bytes) -> R_co | None: ...


R_contra = TypeVar("R_contra", bound=BaseModel, contravariant=True)


class Projection(Protocol[R_contra]):
    """A store's apply: one log entry with its position (``None``: only move the position) and
    its Kafka key (the family id on the family topic, ADR 0010)."""

    def __call__(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: R_contra | None,
        key: bytes | None = None,
        /,
    ) -> bool: ...


# What to do with an entry once every projection has applied it (e.g. forward it, ADR 0010):
# given the entry, its Kafka key and its bytes; awaited before the offset may be committed.
Then = Callable[[R, bytes | None, bytes], Awaitable[None]]


class ProjectionRunner(Generic[R]):
    """Feeds each entry of one topic to the projections built from it, in order."""

    def __init__(
        self,
        projections: Sequence[Projection[R]],
        codec: Decoder[R],
        sink: CaseEventSink,
        dead_letter_topic: str,
        then: Then[R] | None = None,
    ) -> None:
        self._projections = projections
        self._then = then
        self._codec = codec
        self._sink = sink
        self._dead_letter_topic = dead_letter_topic

    async def handle(
        self, topic: str, partition: int, offset: int, value: bytes, key: bytes | None = None
    ) -> None:
        event: R | None
        try:
            event = await self._decode(value)
        except DecodeError as error:
            await self._dead_letter(topic, partition, offset, value, str(error))
            event = None
        try:
            await self._apply(topic, partition, offset, event, key)
        except ValueError as error:  # the fold refused the event: a poison event
            await self._dead_letter(topic, partition, offset, value, f"projection failed: {error}")
            await self._apply(topic, partition, offset, None, key)
            return
        if event is not None and self._then is not None:
            # Forwarding reads the person index (SQL) before it publishes: retried like an
            # apply, or a database restart would stop the worker (tests/faults).
            async for attempt in self._retrying():
                with attempt:
                    await self._then(event, key, value)

    @staticmethod
    def _retrying() -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(OperationalError),
            wait=wait_exponential_jitter(multiplier=0.2, max=10),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )

    async def _decode(self, value: bytes) -> R | None:
        """Decoding reads the key store (ADR 0009): SQL, so off the event loop and retried like
        an apply — an escaping OperationalError would crash the Faust agent (issue 7)."""
        async for attempt in self._retrying():
            with attempt:
                return await asyncio.to_thread(self._codec.decode, value)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _apply(
        self, topic: str, partition: int, offset: int, event: R | None, key: bytes | None
    ) -> None:
        for projection in self._projections:
            async for attempt in self._retrying():
                with attempt:
                    await asyncio.to_thread(projection, topic, partition, offset, event, key)

    async def _dead_letter(
        self, topic: str, partition: int, offset: int, value: bytes, reason: str
    ) -> None:
        log.error("dead-lettering %s[%d]@%d: %s", topic, partition, offset, reason)
        record = quarantine_record(
            value,
            channel="case-event-stream",
            reason=f"{topic}[{partition}]@{offset}: {reason}",
            errors=[(f"{topic}[{partition}]@{offset}", reason)],
        )
        await self._sink.dead_letter(record, self._dead_letter_topic)
