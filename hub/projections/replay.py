"""Rebuilding a projection from the start of the log and swapping it in (``hub replay``).

The shell around :mod:`hub.projections.generations` (ADR 0015), given the projection stores by
its caller (:mod:`hub.processes.replay` takes them from the composition root). A fresh consumer
(its own group id, no offset commits, partitions assigned explicitly from offset 0) reads the
family topic (ADR 0010) and applies every entry through the projection's own store ``apply``
into a ``__rebuild`` generation of its tables, with its own log positions. It reads at least to
the high watermarks seen at the start and on until it has applied everything the live
projection has; then :func:`~hub.projections.generations.swap` renames the generations in one
transaction. If the live worker applied more entries in between, the swap changes nothing, the
rebuild reads on and tries again. The live projection keeps serving throughout. The projections
it can rebuild, and how, are the registry's (:func:`hub.projections.registry.rebuildable`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from sqlalchemy.exc import OperationalError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import LogEntry
from hub.kafka.codec import DecodeError
from hub.projections.generations import REBUILD, generation_metadata, prepare, swap
from hub.projections.registry import (
    PROJECTIONS,
    ProjectionSpec,
    Rebuild,
    Stores,
    derived_tables,
    rebuildable,
)
from hub.projections.runner import Projection
from hub.storage.positions import positions_of
from hub.storage.schema import create_tables

log = logging.getLogger(__name__)

BATCH: Final = 1000
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

    @property
    def rate(self) -> float:
        return self.applied / self.elapsed_s if self.elapsed_s > 0 else 0.0


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


def replay_with(
    stores: Stores,
    name: str,
    *,
    progress: Callable[[Progress], None] = lambda _: None,
    timeout_s: float = 10.0,
) -> Progress:
    """Rebuild projection ``name`` on ``stores``' database into fresh tables and swap them in;
    the final progress."""
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
        apply = store.apply
        prepare(engine, fresh_name, fresh)
        stores.keys.create_schema()
        codec = CaseEventLog(stores.keys, topic, settings.schema_registry_url)
        consumer.assign([TopicPartition(topic, partition, 0) for partition in start])
        began = time.monotonic()
        position = dict.fromkeys(start, 0)
        applied, told, attempts = 0, began, 0

        def now(stage: str) -> Progress:
            return Progress(stage, applied, time.monotonic() - began)

        while True:
            messages = consumer.consume(num_messages=BATCH, timeout=0.2)
            for message in messages:
                _apply(apply, codec, message)
                position[message.partition() or 0] = (message.offset() or 0) + 1
                applied += 1
                if time.monotonic() - told >= PROGRESS_EVERY_S:
                    progress(now("rebuilding"))
                    told = time.monotonic()
            if len(messages) == BATCH:
                continue  # more is surely waiting: no need to look at the live positions yet
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
            if not reached(position, needed(start, live, topic)):
                continue
            progress(now("caught up"))
            lagging = swap(engine, name, rebuild.live, fresh_name, fresh)
            if not lagging:
                break
            attempts += 1
            if attempts >= SWAP_ATTEMPTS:
                raise ReplayError(
                    f"gave up after {attempts} swaps: the live projection kept applying entries "
                    f"faster than the replay caught up (partitions {lagging})"
                )
            log.info("live projection moved on %s; catching up before swapping", lagging)
        done = now("swapped")
        progress(done)
        return done
    finally:
        consumer.close()


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
    """Each partition of ``topic`` with its high watermark; refuses a log that lost its start."""
    try:
        cluster = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as error:
        raise ReplayError(f"cannot reach Kafka at {servers}: {error.args[0].str()}") from None
    found = cluster.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise ReplayError(f"topic {topic} does not exist on {servers}: nothing to replay from")
    start: dict[int, int] = {}
    for partition in sorted(found.partitions):
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
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


def _apply(apply: Projection[LogEntry], codec: CaseEventLog, message: Message) -> None:
    """One entry as the live runner applies it: undecodable or refused, only the position moves
    (the live worker has dead-lettered it already, or will)."""
    if message.error() is not None:
        raise ReplayError(f"reading the log failed: {message.error()}")
    topic, partition, offset = (
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
    )
    key = message.key()
    entry: LogEntry | None
    try:
        entry = codec.decode(message.value() or b"")
    except DecodeError:
        entry = None
    for attempt in _RETRYING.copy():
        with attempt:
            try:
                apply(topic, partition, offset, entry, key)
            except ValueError:
                apply(topic, partition, offset, None, key)
