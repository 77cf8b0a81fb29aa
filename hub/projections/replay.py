"""Rebuilding a projection from the start of the log and swapping it in (``hub replay``).

The shell around :mod:`hub.projections.generations` (ADR 0015), given the projection stores by
its caller (:mod:`hub.processes.replay` takes them from the composition root). A fresh consumer
(its own group id, no offset commits, partitions assigned explicitly from offset 0) reads the
family topic (ADR 0010) outside Faust, :data:`BATCH` entries at a time; each batch is decoded in
one key-store round (``CaseEventLog.decode_many``, ADR 0025) and each partition's part of it is
applied in one transaction with its log position (:func:`hub.projections.batch.apply_batch`,
which falls back to one entry at a time for a store without a batch apply) into a ``__rebuild``
generation of the projection's tables. It reads at least to the high watermarks seen at the
start and on until it has applied everything the live projection has; then, on PostgreSQL,
:func:`~hub.projections.generations.analyze` gathers the fresh tables' statistics (ADR 0054) and
:func:`~hub.projections.generations.swap` renames the generations in one transaction. If the
live worker applied more entries in between, the swap changes nothing, the rebuild reads on and
tries again. The live projection keeps serving throughout. The projections it can rebuild, and
how, are the registry's (:func:`hub.projections.registry.rebuildable`).

While it builds, the rebuild's own transactions are not flushed to disk one by one
(:class:`Durability`): the fresh tables serve no one until the swap, and the swap's commit,
which is, makes everything before it durable too (ADR 0015, "Issue 19").
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from hub.collector import fewer_collections
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import LogEntry
from hub.kafka.codec import DecodeError
from hub.kafka.errors import while_passing
from hub.projections.batch import (
    ApplyOne,
    BatchApply,
    BatchEntry,
    PoisonEntriesError,
    apply_batch,
)
from hub.projections.generations import REBUILD, analyze, generation_metadata, prepare, swap
from hub.projections.registry import (
    PROJECTIONS,
    ProjectionSpec,
    ProjectionStore,
    Rebuild,
    Stores,
    derived_tables,
    rebuildable,
)
from hub.storage.positions import positions_of
from hub.storage.schema import create_tables

log = logging.getLogger(__name__)

BATCH: Final = 5000  # entries asked of the consumer at a time; each partition's part one commit
SWAP_ATTEMPTS: Final = 50
PROGRESS_EVERY_S: Final = 2.0


class ReplayError(Exception):
    """A replay that cannot start or finish; the message says why, for the command line."""


def replayable(name: str, projections: Sequence[ProjectionSpec[Any]] = PROJECTIONS) -> Rebuild:
    """How to rebuild the projection called ``name`` (one of the registry's with a
    :class:`~hub.projections.registry.Rebuild`), or a :class:`ReplayError` naming the known
    ones."""
    known = rebuildable(projections)
    try:
        return known[name]
    except KeyError:
        names = ", ".join(sorted(known))
        raise ReplayError(f"unknown projection {name!r}; known projections: {names}") from None


@dataclass(frozen=True)
class Progress:
    """How far a replay has come: told to the caller every few seconds and at each stage."""

    stage: str  # "rebuilding", "caught up" (about to swap), "swapped"
    applied: int  # log entries applied to the fresh generation
    elapsed_s: float
    total: int = 0  # the offsets to read, at least: the start's high watermarks, summed

    @property
    def rate(self) -> float:
        return self.applied / self.elapsed_s if self.elapsed_s > 0 else 0.0


def describe(step: Progress) -> str:
    """One line of progress for a person watching a long rebuild."""
    return (
        f"{step.stage:<10} {step.applied:>12,} entries applied (of {step.total:,}) "
        f"in {step.elapsed_s:8.1f} s ({step.rate:,.0f}/s)"
    )


def needed(
    start: Mapping[int, int], live: Mapping[tuple[str, int], int], topic: str
) -> dict[int, int]:
    """Per partition, the consumer position to reach: the start's high watermark, or further
    where the live projection has already applied more."""
    return {
        partition: max(high, live.get((topic, partition), 0)) for partition, high in start.items()
    }


def reached(position: Mapping[int, int], target: Mapping[int, int]) -> bool:
    return all(position.get(partition, 0) >= offset for partition, offset in target.items())


def by_partition(
    messages: Sequence[Message], decoded: Sequence[LogEntry | DecodeError | None]
) -> dict[int, list[BatchEntry[LogEntry]]]:
    """A consumed batch split per partition, each part in log order; an entry that did not
    decode is ``None`` (only its position moves: the live worker dead-letters it)."""
    parts: dict[int, list[BatchEntry[LogEntry]]] = {}
    for message, entry in zip(messages, decoded, strict=True):
        parts.setdefault(message.partition() or 0, []).append(
            BatchEntry(
                message.offset() or 0,
                None if isinstance(entry, DecodeError) else entry,
                message.key(),
            )
        )
    return parts


def without(
    entries: Sequence[BatchEntry[LogEntry]], refused: Mapping[int, str]
) -> list[BatchEntry[LogEntry]]:
    """``entries`` with the refused ones' entries taken out (``None``: only the position moves)."""
    return [
        BatchEntry(item.offset, None, item.key) if item.offset in refused else item
        for item in entries
    ]


def replay_with(
    stores: Stores,
    name: str,
    *,
    progress: Callable[[Progress], None] = lambda _: None,
    timeout_s: float = 10.0,
    progress_every_s: float = PROGRESS_EVERY_S,
    batch: int = BATCH,
) -> Progress:
    """Rebuild projection ``name`` on ``stores``' database into fresh tables and swap them in,
    reading ``batch`` entries at a time; the final progress."""
    rebuild = replayable(name)
    settings, engine = stores.settings, stores.alerts.engine
    topic = settings.family_events_topic
    trouble: list[KafkaError] = []
    consumer = _consumer(settings.bootstrap_servers(), trouble.append)
    try:
        start = _partitions(consumer, topic, settings.bootstrap_servers(), timeout_s)
        trouble.clear()  # the broker answered: what went before is over
        # The live generation, should the worker not have made it (not refusing stale tables:
        # the swap replaces them whatever their shape).
        create_tables(engine, *derived_tables())
        fresh_name = name + REBUILD
        fresh, store = rebuild.build(stores, generation_metadata(), REBUILD)
        prepare(engine, fresh_name, fresh)
        stores.keys.create_schema()
        codec = CaseEventLog(stores.keys, topic, settings.schema_registry_url)
        consumer.assign([TopicPartition(topic, partition, 0) for partition in start])
        began = time.monotonic()
        position = dict.fromkeys(start, 0)
        applied, told, attempts = 0, began, 0
        total = sum(start.values())

        def now(stage: str) -> Progress:
            return Progress(stage, applied, time.monotonic() - began, total)

        with Durability(engine) as durability, fewer_collections():
            while True:
                messages = consumer.consume(num_messages=batch, timeout=0.2)
                if messages:
                    _apply_batch(store, codec, messages)
                    for message in messages:
                        position[message.partition() or 0] = (message.offset() or 0) + 1
                    applied += len(messages)
                    if time.monotonic() - told >= progress_every_s:
                        progress(now("rebuilding"))
                        told = time.monotonic()
                if len(messages) == batch:
                    continue  # more is surely waiting: no need to look at the live positions
                _give_up_on(trouble, settings.bootstrap_servers(), bool(messages))
                for assigned in consumer.position(
                    [TopicPartition(topic, partition) for partition in start]
                ):
                    if assigned.offset >= 0:  # past transaction markers, which are no messages
                        position[assigned.partition] = max(
                            position[assigned.partition], assigned.offset
                        )
                with engine.connect() as connection:
                    live = positions_of(connection, name)
                target = needed(start, live, topic)
                total = max(total, sum(target.values()))
                if not reached(position, target):
                    continue
                progress(now("caught up"))
                if not attempts:
                    analyze(engine, fresh)  # once: a catch-up adds little to what was counted
                with durability.strict():
                    lagging = swap(engine, name, rebuild.live, fresh_name, fresh)
                if not lagging:
                    break
                attempts += 1
                if attempts >= SWAP_ATTEMPTS:
                    raise ReplayError(
                        f"gave up after {attempts} swaps: the live projection kept applying "
                        f"entries faster than the replay caught up (partitions {lagging})"
                    )
                log.info("live projection moved on %s; catching up before swapping", lagging)
        done = now("swapped")
        progress(done)
        return done
    finally:
        consumer.close()


class Durability:
    """The rebuild's transactions on its own engine, not flushed to disk one by one; the swap's
    flushed (ADR 0015, "Issue 19").

    SQLite (WAL): ``synchronous=NORMAL`` per build transaction, no fsync at a commit, but the
    WAL synced before each checkpoint, so a crash of the machine loses at most the last batches
    and never corrupts the file the live tables share; ``synchronous=FULL`` for the swap, whose
    synced commit makes every earlier frame of the WAL durable with it. The level is restored
    when a connection goes back to the pool. PostgreSQL: ``SET LOCAL synchronous_commit = off``
    per build transaction (no WAL flush awaited; never inconsistent), ``on`` for the swap, whose
    flush covers all the WAL before it. Only transactions begun on ``engine`` while the rebuild
    builds are relaxed: the live hub's engines are others.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._postgres = engine.dialect.name == "postgresql"
        self.relaxed = True

    def __enter__(self) -> Durability:
        event.listen(self._engine, "begin", self._begin)
        if self._sqlite:
            event.listen(self._engine.pool, "checkin", _restore)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine, "begin", self._begin)
        if self._sqlite:
            event.remove(self._engine.pool, "checkin", _restore)

    @contextmanager
    def strict(self) -> Iterator[None]:
        """Transactions begun in this block are flushed to disk at their commit."""
        self.relaxed = False
        try:
            yield
        finally:
            self.relaxed = True

    def _begin(self, connection: Connection) -> None:
        if self._sqlite:
            level = "NORMAL" if self.relaxed else "FULL"
            connection.exec_driver_sql(f"PRAGMA synchronous={level}")
            connection.info[_SYNCHRONOUS] = True  # restored at checkin
        elif self._postgres:
            flush = "off" if self.relaxed else "on"
            connection.exec_driver_sql(f"SET LOCAL synchronous_commit = {flush}")


_SYNCHRONOUS: Final = "hub.replay.synchronous"


def _restore(dbapi_connection: Any, record: Any) -> None:
    """A connection back in the pool gets SQLite's default level again (FULL)."""
    if record.info.pop(_SYNCHRONOUS, False) and dbapi_connection is not None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


def _give_up_on(trouble: list[KafkaError], servers: str, progressing: bool) -> None:
    """Stop, swapping nothing, once the broker is lost (rather than wait forever for entries)."""
    if progressing:
        trouble.clear()
        return
    for error in trouble:
        if error.fatal() or error.code() == KafkaError._ALL_BROKERS_DOWN:
            raise ReplayError(f"lost Kafka at {servers}: {error.str()}; nothing was swapped")


def _consumer(servers: str, on_error: Callable[[KafkaError], None]) -> Consumer:
    """A consumer of its own: a throwaway group id, never committing an offset."""
    return Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"hub-replay-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            # Connection trouble surfaces as a ReplayError from the first request; librdkafka's
            # own retries would only repeat it on stderr many times a second.
            "log_level": 0,
            "error_cb": on_error,
        }
    )


def _partitions(consumer: Consumer, topic: str, servers: str, timeout_s: float) -> dict[int, int]:
    """Each partition of ``topic`` with its high watermark; refuses a log that lost its start.
    A refusal that passes by itself (a leader being elected after a broker restarted) is asked
    again for up to ``timeout_s``."""
    asking = while_passing(timeout_s)
    try:
        cluster = asking(consumer.list_topics, topic, timeout=timeout_s)
    except KafkaException as error:
        raise ReplayError(f"cannot reach Kafka at {servers}: {error.args[0].str()}") from None
    found = cluster.topics.get(topic)
    refused = None if found is None else found.error
    unknown = refused is not None and refused.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    if found is None or not found.partitions or unknown:
        raise ReplayError(f"topic {topic} does not exist on {servers}: nothing to replay from")
    if refused is not None:
        raise ReplayError(f"cannot read topic {topic} on {servers}: {refused.str()}")
    start: dict[int, int] = {}
    for partition in sorted(found.partitions):
        try:
            low, high = asking(
                consumer.get_watermark_offsets, TopicPartition(topic, partition), timeout=timeout_s
            )
        except KafkaException as error:
            raise ReplayError(f"cannot read {topic}[{partition}]: {error.args[0].str()}") from None
        if low > 0:
            raise ReplayError(
                f"{topic}[{partition}] no longer starts at offset 0 (it starts at {low}): "
                "a rebuild would miss the entries already deleted"
            )
        start[partition] = high
    return start


_RETRYING = Retrying(
    retry=retry_if_exception_type(OperationalError),  # the store busy or briefly away
    wait=wait_exponential(multiplier=0.1, max=5),
    stop=stop_after_attempt(20),
    reraise=True,
)


def _apply_batch(
    store: ProjectionStore[LogEntry], codec: CaseEventLog, messages: Sequence[Message]
) -> None:
    """One consumed batch as the live runner applies it, each partition's part in one
    transaction (:func:`apply_part`)."""
    for message in messages:
        if message.error() is not None:
            raise ReplayError(f"reading the log failed: {message.error()}")
    values = [message.value() or b"" for message in messages]
    for attempt in _RETRYING.copy():
        with attempt:
            decoded = codec.decode_many(values)
    step = store if isinstance(store, BatchApply) else store.apply
    topic = messages[0].topic() or ""
    for partition, entries in by_partition(messages, decoded).items():
        apply_part(step, topic, partition, entries)


def apply_part(
    step: BatchApply[LogEntry] | ApplyOne[LogEntry],
    topic: str,
    partition: int,
    entries: Sequence[BatchEntry[LogEntry]],
) -> None:
    """One partition's part of a batch, retried while the store is busy or away. Entries the
    fold refuses move only the position, as in the live runner; the rebuild dead-letters
    nothing (the live worker has dead-lettered them already, or will: a second dead letter per
    replay would only bury the first)."""
    for attempt in _RETRYING.copy():
        with attempt:
            while True:
                try:
                    apply_batch(step, topic, partition, entries)
                    return
                except PoisonEntriesError as refused:
                    log.warning(
                        "rebuild: %s[%d] entries refused, applied as nothing: %s",
                        topic,
                        partition,
                        refused.reasons,
                    )
                    entries = without(entries, refused.reasons)
