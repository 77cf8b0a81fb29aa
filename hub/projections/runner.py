"""The shell around the projection fold: decode, dead-letter, apply with retries — a batch at a
time (issue 19).

Kept apart from Faust so the same loop body runs under any runtime (ADR 0005): the Faust agent
in ``hub/processes/worker.py`` only feeds it a batch cut into parts, each one partition's
``(offset, bytes, key)`` in order.

A batch costs one thread hop to decode (one batch of the key store, ADR 0025, for all its
parts), one to apply it — with no ``then`` hook (the family topic), every step over all the
parts, one transaction per step where the store applies parts (ADR 0036); the person index's
batch in one transaction with its routing (ADR 0027); else one hop per part — one round of
broker acknowledgements for its dead letters and one for the ``then`` hook (the person index's
forward): not one of each per entry. :meth:`ProjectionRunner.handle`
is a batch of one and :meth:`~ProjectionRunner.handle_batch` a batch of one part, so there is
one path.

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
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from hub.kafka.codec import DecodeError
from hub.projections.batch import (
    BatchApply,
    BatchEntry,
    PartsApply,
    PoisonEntriesError,
    apply_batch,
)
from hub.projections.ports import (
    Applied,
    BatchDecoder,
    DeadLetters,
    Decoder,
    LogMessage,
    R,
    StagedThen,
    Step,
    Then,
    batch_step,
)
from hub.quarantine import quarantine_record

log = logging.getLogger(__name__)


class ProjectionRunner(Generic[R]):
    """Feeds each batch of one topic's partition to the projections built from it, in order."""

    def __init__(
        self,
        projections: Sequence[Step[R]],
        codec: Decoder[R],
        sink: DeadLetters,
        dead_letter_topic: str,
        then: Then[R] | StagedThen[R, Any] | None = None,
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
        await self.handle_parts(topic, [(partition, messages)])

    async def handle_parts(
        self, topic: str, parts: Sequence[tuple[int, Sequence[LogMessage]]]
    ) -> None:
        """:meth:`handle_batch` for a batch the runtime cut into parts (each one partition's
        entries in offset order; a partition may have several), applied part after part in the
        order given: decoded in one hop (one key batch, one erasure epoch), each part's steps
        applied, and its ``then`` run, before the next part's. A :class:`StagedThen` sends each
        part's share as soon as it is routed and its acknowledgements are awaited together at
        the end: one round of acks for the whole batch. Returns once all of it is durable."""
        parts = [(partition, messages) for partition, messages in parts if messages]
        if not parts:
            return
        decoded = await self._decode([m.value for _, messages in parts for m in messages])
        outcomes: list[Sequence[R | DecodeError | None]] = []
        start = 0
        for _, messages in parts:
            outcomes.append(decoded[start : start + len(messages)])
            start += len(messages)
        then, steps = self._then, self._steps
        if len(steps) == 1 and isinstance(steps[0], PartsApply) and isinstance(then, StagedThen):
            await self._handle_at_once(steps[0], then, topic, parts, outcomes)
            return
        if then is None:
            await self._handle_stepwise(topic, parts, outcomes)
            return
        acks: list[Awaitable[object]] = []
        try:
            for (partition, messages), outcome in zip(parts, outcomes, strict=True):
                acknowledged = await self._handle_part(topic, partition, messages, outcome)
                if acknowledged is not None:
                    acks.append(acknowledged)
        finally:
            # What was handed to the broker is waited for even when a later part failed, so no
            # send outlives the batch; the first failure is raised once all have settled.
            settled = await asyncio.gather(*acks, return_exceptions=True)
        for result in settled:
            if isinstance(result, BaseException):
                raise result

    async def _handle_at_once(
        self,
        step: PartsApply[R],
        then: StagedThen[R, Any],
        topic: str,
        parts: Sequence[tuple[int, Sequence[LogMessage]]],
        decoded: Sequence[Sequence[R | DecodeError | None]],
    ) -> None:
        """Every part through ``step`` in one transaction (the person index: the parts' order
        kept, each part routed in the transaction right after it is applied); each part's
        share then sent, and the acknowledgements awaited together. Refusals as in
        :meth:`_apply`: dead-lettered, then the whole batch again with them as ``None``."""
        values, entries = await self._entries_of(topic, parts, decoded)
        routed: dict[int, Any] = {}

        def after(index: int, connection: Connection) -> None:
            applied = _applied(entries[index], values[index])
            if applied:
                routed[index] = then.route_in(connection, applied)

        while True:
            batch = [(partition, part) for (partition, _), part in zip(parts, entries, strict=True)]
            try:
                async for attempt in self._retrying():
                    with attempt:
                        routed.clear()
                        await asyncio.to_thread(step.apply_parts, topic, batch, after)
                break
            except PoisonEntriesError as error:
                entries[:] = await self._refuse(topic, parts, entries, values, error)
        acks: list[Awaitable[object]] = []
        try:
            for index in sorted(routed):
                acks.append(await then.send(routed[index]))
        finally:  # what was handed over is waited for even when a later send failed
            settled = await asyncio.gather(*acks, return_exceptions=True)
        for result in settled:
            if isinstance(result, BaseException):
                raise result

    async def _entries_of(
        self,
        topic: str,
        parts: Sequence[tuple[int, Sequence[LogMessage]]],
        decoded: Sequence[Sequence[R | DecodeError | None]],
    ) -> tuple[list[dict[int, bytes]], list[list[BatchEntry[R]]]]:
        """Each part's raw values by offset and its entries, those that did not decode
        dead-lettered first and passed on as ``None`` (the handlers of a batch of parts)."""
        values = [{message.offset: message.value for message in messages} for _, messages in parts]
        entries: list[list[BatchEntry[R]]] = []
        for (partition, messages), outcome, part_values in zip(parts, decoded, values, strict=True):
            undecodable = [
                (message.offset, str(result))
                for message, result in zip(messages, outcome, strict=True)
                if isinstance(result, DecodeError)
            ]
            await self._dead_letter(topic, partition, part_values, undecodable)
            entries.append(
                [
                    BatchEntry(
                        message.offset,
                        None if isinstance(result, DecodeError) else result,
                        message.key,
                    )
                    for message, result in zip(messages, outcome, strict=True)
                ]
            )
        return values, entries

    async def _handle_stepwise(
        self,
        topic: str,
        parts: Sequence[tuple[int, Sequence[LogMessage]]],
        decoded: Sequence[Sequence[R | DecodeError | None]],
    ) -> None:
        """Every part through each step before the next step (no ``then`` hook: nothing waits
        on a part alone, the family topic): in one thread hop, a step that applies parts
        (:class:`PartsApply`) taking them all in one transaction, any other step each part in
        turn. So a batch of three partitions costs a transaction per store, not one per store
        per partition. Refusals as in :meth:`_apply`: dead-lettered, ``None`` for that step and
        every later one; a store that is down retried from the step (and part) that failed."""
        values, entries = await self._entries_of(topic, parts, decoded)
        partitions = [partition for partition, _ in parts]
        progress = _Across(0, 0, [list(part) for part in entries], entries)
        while True:
            try:
                async for attempt in self._retrying():
                    with attempt:
                        await asyncio.to_thread(self._run_across, topic, partitions, progress)
                return
            except PoisonEntriesError as error:
                step = self._steps[progress.step]
                at_once = isinstance(step, PartsApply)
                if not at_once:  # the one-part apply that refused names no partition
                    error.partition = partitions[progress.part]
                kept = await self._refuse(topic, parts, progress.entries, values, error)
                if at_once:  # it wrote nothing: every part again
                    progress.pending = [list(part) for part in kept]
                else:  # the part that refused goes on from the refused entry (see _apply)
                    index = progress.part
                    first = (
                        0
                        if isinstance(step, BatchApply)
                        else _index_of(kept[index], min(error.reasons))
                    )
                    progress.pending[index] = kept[index][first:]
                progress.entries = kept

    def _run_across(self, topic: str, partitions: Sequence[int], progress: _Across[R]) -> None:
        """The steps from ``progress.step`` on, each over every part, moving ``progress`` past
        each part and step it applied."""
        while progress.step < len(self._steps):
            step = self._steps[progress.step]
            if isinstance(step, PartsApply):
                step.apply_parts(topic, list(zip(partitions, progress.pending, strict=True)))
            else:
                while progress.part < len(partitions):
                    index = progress.part
                    apply_batch(step, topic, partitions[index], progress.pending[index])
                    progress.pending[index] = []
                    progress.part += 1
            progress.step += 1
            progress.part = 0
            progress.pending = [list(part) for part in progress.entries]

    async def _refuse(
        self,
        topic: str,
        parts: Sequence[tuple[int, Sequence[LogMessage]]],
        entries: list[list[BatchEntry[R]]],
        values: Sequence[dict[int, bytes]],
        error: PoisonEntriesError,
    ) -> list[list[BatchEntry[R]]]:
        """Dead-letter what ``error`` refused (in its partition's parts) and return the parts
        with those entries as ``None``; re-raise a refusal of nothing the batch holds."""
        refused_any = False
        kept: list[list[BatchEntry[R]]] = []
        for (partition, _), part, part_values in zip(parts, entries, values, strict=True):
            mine = (error.partition is None and len(parts) == 1) or error.partition == partition
            refused = {
                item.offset: error.reasons[item.offset]
                for item in part
                if mine and item.offset in error.reasons and item.entry is not None
            }
            if refused:
                refused_any = True
                await self._dead_letter(
                    topic,
                    partition,
                    part_values,
                    [(offset, f"projection failed: {why}") for offset, why in refused.items()],
                )
            kept.append(
                [BatchEntry(i.offset, None, i.key) if i.offset in refused else i for i in part]
            )
        if not refused_any:  # a refusal of nothing this step was given: a broken store
            raise error
        return kept

    async def _handle_part(
        self,
        topic: str,
        partition: int,
        messages: Sequence[LogMessage],
        decoded: Sequence[R | DecodeError | None],
    ) -> Awaitable[object] | None:
        """One part: its refusals dead-lettered, every step applied, its ``then`` run; what
        awaits its sends' acknowledgements, if the hook is staged."""
        values = {message.offset: message.value for message in messages}
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
        entries = await self._apply(topic, partition, entries, values)
        then = self._then
        if then is None:
            return None
        applied = [
            Applied(item.entry, item.key, values[item.offset])
            for item in entries
            if item.entry is not None
        ]
        if not applied:
            return None
        # Forwarding reads the person index (SQL) before it publishes: retried like an apply, or
        # a database restart would stop the worker (tests/faults).
        if isinstance(then, StagedThen):
            return await then.send(await self._route(then, applied))
        async for attempt in self._retrying():
            with attempt:
                await then(applied)
        return None

    @staticmethod
    def _retrying() -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(OperationalError),
            wait=wait_exponential_jitter(multiplier=0.2, max=10),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )

    async def _route(self, then: StagedThen[R, Any], applied: Sequence[Applied[R]]) -> Any:
        async for attempt in self._retrying():
            with attempt:
                return await asyncio.to_thread(then.route, applied)
        raise AssertionError("unreachable: tenacity re-raises the last error")

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
        topic: str,
        partition: int,
        entries: list[BatchEntry[R]],
        values: dict[int, bytes],
    ) -> list[BatchEntry[R]]:
        """Apply ``entries`` through every step, in order, in one thread hop (retrying a store
        that is down from the step it failed in); what a step refuses is dead-lettered and
        applied as ``None`` by it and every later step. The entries as the steps saw them."""
        progress = _Progress(0, entries, entries)
        while True:
            try:
                async for attempt in self._retrying():
                    with attempt:
                        await asyncio.to_thread(self._run_steps, topic, partition, progress)
                return progress.entries
            except PoisonEntriesError as error:
                step = self._steps[progress.step]
                refused = {
                    item.offset: error.reasons[item.offset]
                    for item in progress.entries
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
                progress.entries = [
                    BatchEntry(item.offset, None, item.key) if item.offset in refused else item
                    for item in progress.entries
                ]
                # A store that batches wrote nothing: all again. The one-entry fallback applied
                # the entries before the refused one (their positions moved): on from it.
                first = (
                    0 if isinstance(step, BatchApply) else _index_of(progress.entries, min(refused))
                )
                progress.pending = progress.entries[first:]

    def _run_steps(self, topic: str, partition: int, progress: _Progress[R]) -> None:
        """The steps from ``progress.step`` on (the first of them given ``progress.pending``,
        the rest every entry), moving ``progress`` past each step it applied, so that a retry
        or the pass after a refusal goes on from where this stopped."""
        while progress.step < len(self._steps):
            apply_batch(self._steps[progress.step], topic, partition, progress.pending)
            progress.step += 1
            progress.pending = progress.entries

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


@dataclass(slots=True)
class _Progress(Generic[R]):
    """How far one part has gone through the steps: the step to apply next, what it is still to
    apply, and the entries as every later step is to see them."""

    step: int
    pending: list[BatchEntry[R]]
    entries: list[BatchEntry[R]]


@dataclass(slots=True)
class _Across(Generic[R]):
    """How far a batch's parts have gone through the steps (:meth:`ProjectionRunner.
    _handle_stepwise`): the step to apply next, the part it is at (a step applying one part at
    a time), what each part is still to apply, and each part's entries as later steps see them."""

    step: int
    part: int
    pending: list[list[BatchEntry[R]]]
    entries: list[list[BatchEntry[R]]]


def _applied(entries: Sequence[BatchEntry[R]], values: dict[int, bytes]) -> list[Applied[R]]:
    return [
        Applied(item.entry, item.key, values[item.offset])
        for item in entries
        if item.entry is not None
    ]


def _index_of(entries: Sequence[BatchEntry[R]], offset: int) -> int:
    return next(i for i, item in enumerate(entries) if item.offset == offset)
