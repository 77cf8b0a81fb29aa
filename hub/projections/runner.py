"""The shell around the projection fold: decode, dead-letter, apply with retries — a batch at a
time (issue 19).

Kept apart from Faust so the same loop body runs under any runtime (ADR 0005): the Faust agent
in ``hub/processes/worker.py`` only feeds it one partition's ``(offset, bytes, key)`` in order.

A batch costs one thread hop to decode (one batch of the key store, ADR 0025), one per step to
apply (one transaction where the store batches, :mod:`hub.projections.batch`) and one round of
broker acknowledgements for its dead letters and one for the ``then`` hook (the person index's
forward): not one of each per entry. :meth:`ProjectionRunner.handle` is a batch of one, so there
is one path.

Failure policy, so that no event is lost:

* bytes that do not decode, or an event a fold refuses (:class:`PoisonEntriesError`), go to the
  dead-letter topic with the reason (awaited: durably written) before any position moves past
  them; a refused entry is ``None`` (only the position moves) for that step and every later
  one, and the rest of the batch is applied;
* a store that is down is retried with backoff, holding the partition rather than skipping
  events — when decoding (the key store) as when applying — until the worker's watchdog
  (``HUB_WORKER_STALL_SECONDS``, ADR 0018) ends a wait that lasts too long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from hub.kafka.codec import DecodeError
from hub.projections.batch import ApplyOne, BatchApply, BatchEntry, PoisonEntriesError, apply_batch
from hub.quarantine import QuarantineRecord, quarantine_record

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)
R_co = TypeVar("R_co", bound=BaseModel, covariant=True)
R_contra = TypeVar("R_contra", bound=BaseModel, contravariant=True)


class DeadLetters(Protocol):
    """Where refused entries go (:class:`hub.ingest.sink.CaseEventSink`): returns once the
    broker confirmed the write."""

    async def dead_letter(self, record: QuarantineRecord, topic: str) -> object: ...


class Decoder(Protocol[R_co]):
    """Bytes of one topic to a record; None for an entry to step over (its key was destroyed)."""

    def decode(self, data: bytes) -> R_co | None: ...


@runtime_checkable
class BatchDecoder(Protocol[R_co]):
    """A decoder that decodes a batch at once (one batch of the key store): each value's record,
    None, or its :class:`DecodeError`, in place."""

    def decode(self, data: bytes) -> R_co | None: ...

    def decode_many(self, values: Sequence[bytes]) -> Sequence[R_co | DecodeError | None]: ...


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


@runtime_checkable
class StoreStep(Protocol[R_contra]):
    """A store with a one-entry ``apply`` method (and, once it batches, ``apply_batch``): what
    the registry hands the runner, so a store's ``apply_batch`` is found."""

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: R_contra | None,
        key: bytes | None = None,
        /,
    ) -> bool: ...


# One step of a runner: a store that batches, a store with only ``apply``, or an apply itself.
Step = BatchApply[R] | StoreStep[R] | Projection[R]


class LogMessage(NamedTuple):
    """One entry of a partition as the runtime read it."""

    offset: int
    value: bytes
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Applied(Generic[R]):
    """An entry every step applied: what the ``then`` hook is given (its Kafka key, its bytes)."""

    entry: R
    key: bytes | None
    value: bytes


# What to do with a batch's entries once every projection has applied them (the person index
# forwards them, ADR 0010); awaited before the offsets may be committed.
Then = Callable[[Sequence[Applied[R]]], Awaitable[None]]


def batch_step(step: Step[R]) -> BatchApply[R] | ApplyOne[R]:
    """What :func:`hub.projections.batch.apply_batch` applies for ``step``: the store itself
    where it batches, else its one-entry apply."""
    if isinstance(step, BatchApply):
        return step
    if isinstance(step, StoreStep):
        return step.apply
    return step


class ProjectionRunner(Generic[R]):
    """Feeds each batch of one topic's partition to the projections built from it, in order."""

    def __init__(
        self,
        projections: Sequence[Step[R]],
        codec: Decoder[R],
        sink: DeadLetters,
        dead_letter_topic: str,
        then: Then[R] | None = None,
    ) -> None:
        self._steps = [batch_step(step) for step in projections]
        self._then = then
        self._codec = codec
        self._sink = sink
        self._dead_letter_topic = dead_letter_topic

    async def handle(
        self, topic: str, partition: int, offset: int, value: bytes, key: bytes | None = None
    ) -> None:
        """One entry: a batch of one."""
        await self.handle_batch(topic, partition, [LogMessage(offset, value, key)])

    async def handle_batch(
        self, topic: str, partition: int, messages: Sequence[LogMessage]
    ) -> None:
        """Decode, dead-letter, apply every step and run the ``then`` hook for ``messages`` (one
        partition's, in offset order). Returns once all of it is durable, so the runtime may
        then commit past the last of them."""
        if not messages:
            return
        values = {message.offset: message.value for message in messages}
        decoded = await self._decode([message.value for message in messages])
        undecodable = [
            (message.offset, str(outcome))
            for message, outcome in zip(messages, decoded, strict=True)
            if isinstance(outcome, DecodeError)
        ]
        await self._dead_letter(topic, partition, values, undecodable)
        entries: list[BatchEntry[R]] = [
            BatchEntry(
                message.offset,
                None if isinstance(outcome, DecodeError) else outcome,
                message.key,
            )
            for message, outcome in zip(messages, decoded, strict=True)
        ]
        for step in self._steps:
            entries = await self._apply(step, topic, partition, entries, values)
        if self._then is None:
            return
        applied = [
            Applied(item.entry, item.key, values[item.offset])
            for item in entries
            if item.entry is not None
        ]
        if not applied:
            return
        # Forwarding reads the person index (SQL) before it publishes: retried like an apply, or
        # a database restart would stop the worker (tests/faults).
        async for attempt in self._retrying():
            with attempt:
                await self._then(applied)

    @staticmethod
    def _retrying() -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(OperationalError),
            wait=wait_exponential_jitter(multiplier=0.2, max=10),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )

    async def _decode(self, values: Sequence[bytes]) -> Sequence[R | DecodeError | None]:
        """Decoding reads the key store (ADR 0009): SQL, so off the event loop, in one hop for
        the batch, and retried like an apply — an escaping OperationalError would crash the
        Faust agent (issue 7)."""
        async for attempt in self._retrying():
            with attempt:
                return await asyncio.to_thread(self._decode_all, values)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _decode_all(self, values: Sequence[bytes]) -> Sequence[R | DecodeError | None]:
        codec = self._codec
        if isinstance(codec, BatchDecoder):
            decoded: Sequence[R | DecodeError | None] = codec.decode_many(values)
            if len(decoded) != len(values):
                raise RuntimeError(f"decode_many gave {len(decoded)} for {len(values)} values")
            return decoded
        outcomes: list[R | DecodeError | None] = []
        for value in values:
            try:
                outcomes.append(codec.decode(value))
            except DecodeError as error:
                outcomes.append(error)
        return outcomes

    async def _apply(
        self,
        step: BatchApply[R] | ApplyOne[R],
        topic: str,
        partition: int,
        entries: list[BatchEntry[R]],
        values: dict[int, bytes],
    ) -> list[BatchEntry[R]]:
        """Apply ``entries`` through ``step`` (retrying a store that is down); what it refuses is
        dead-lettered and applied as ``None``. The entries as the next step is to see them."""
        pending = entries
        while True:
            try:
                async for attempt in self._retrying():
                    with attempt:
                        await asyncio.to_thread(apply_batch, step, topic, partition, pending)
                return entries
            except PoisonEntriesError as error:
                refused = {
                    item.offset: error.reasons[item.offset]
                    for item in entries
                    if item.offset in error.reasons and item.entry is not None
                }
                if not refused:  # a refusal of nothing this step was given: a broken store
                    raise
                await self._dead_letter(
                    topic,
                    partition,
                    values,
                    [
                        (offset, f"projection failed: {reason}")
                        for offset, reason in refused.items()
                    ],
                )
                entries = [
                    BatchEntry(item.offset, None, item.key) if item.offset in refused else item
                    for item in entries
                ]
                # A store that batches wrote nothing: all again. The one-entry fallback applied
                # the entries before the refused one (their positions moved): on from it.
                first = 0 if isinstance(step, BatchApply) else _index_of(entries, min(refused))
                pending = entries[first:]

    async def _dead_letter(
        self,
        topic: str,
        partition: int,
        values: dict[int, bytes],
        reasons: Sequence[tuple[int, str]],
    ) -> None:
        """Write every one of ``reasons`` to the dead-letter topic together, awaiting them all;
        the first failure is raised once every write has settled."""
        if not reasons:
            return
        for offset, reason in reasons:
            log.error("dead-lettering %s[%d]@%d: %s", topic, partition, offset, reason)
        writes = [
            self._sink.dead_letter(
                quarantine_record(
                    values[offset],
                    channel="case-event-stream",
                    reason=f"{topic}[{partition}]@{offset}: {reason}",
                    errors=[(f"{topic}[{partition}]@{offset}", reason)],
                ),
                self._dead_letter_topic,
            )
            for offset, reason in reasons
        ]
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome


def _index_of(entries: Sequence[BatchEntry[R]], offset: int) -> int:
    return next(i for i, item in enumerate(entries) if item.offset == offset)
