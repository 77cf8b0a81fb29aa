"""Projection rebuild rate (``hub replay``) against a bare consume of the same topic, same run.

``python -m benchmarks replay --events 1000000`` (the default; issue 19's figure). N sealed
case-events for N / 50 synthetic families (register, assign a midwife, then cycles of book,
miss, acknowledge, close) are sealed by the hub's own log in batches (``encode_many``: one
key-store round each, ADR 0025) and produced to a fresh family topic. Then, for each database —
a SQLite file, and a throwaway PostgreSQL server run with fsync and synchronous commit on, as in
production (skipped when PostgreSQL is not installed, or with ``HUB_BENCH_REPLAY_POSTGRES=0``) —
(1) B: a bare confluent-kafka consumer reads the topic from offset 0 to its end (best of three,
just before the rebuild, so both share the machine's state), (2) ``replay`` rebuilds the
missed-appointment alerts projection from it into fresh tables and swaps them in. The replay's
rate is entries applied over its whole wall time, setup and swap included.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.harness import rate, report
from hub.alerts.fold import alert_id_for
from hub.erasure.keystore import open_key_store
from hub.erasure.log import CaseEventLog
from hub.events import CaseEvent
from hub.kafka.admin import ensure_topics
from hub.kafka.local import temporary_broker
from hub.kafka.publisher import producer_config
from hub.nhs_number import valid_nhs_numbers
from hub.processes.replay import replay
from hub.projections.replay import Progress, describe
from hub.settings import Settings, default_state_dir
from tests.builders import TRUST, acknowledged, assigned, booked, closed, missed, registered
from tests.support.postgres import postgres_bin, postgres_server

EVENTS_PER_FAMILY = 50
PROJECTION = "missed_appointment_alerts"
SEAL_BATCH = 5000
PROGRESS_EVERY_S = 10.0


def family_events(family: int, subject: str, count: int) -> Iterator[CaseEvent]:
    """``count`` events of one family: registration, a midwife, then book/miss/ack/close."""
    yield registered(f"Given{family}", "Example", nhs_number=subject)
    yield assigned(f"mw-{family % 200}", nhs_number=subject)
    for i in range(count - 2):
        appointment = f"APT-{family}-{i // 4}"
        alert = alert_id_for(TRUST, appointment)
        step = i % 4
        if step == 0:
            yield booked(appointment, nhs_number=subject)
        elif step == 1:
            yield missed(appointment, nhs_number=subject)
        elif step == 2:
            yield acknowledged(alert, by=f"mw-{family % 200}", nhs_number=subject)
        else:
            yield closed(alert, by=f"mw-{family % 200}", nhs_number=subject)


def workload(events: int) -> Iterator[tuple[bytes, CaseEvent]]:
    """``events`` events of ``events / 50`` families, each with its family key."""
    people = valid_nhs_numbers(100_000_000)
    families = max(1, events // EVENTS_PER_FAMILY)
    produced = 0
    for family in range(families):
        count = EVENTS_PER_FAMILY if family < families - 1 else events - produced
        key = f"family-{family}".encode()
        for event in family_events(family, next(people), count):
            yield key, event
        produced += count


def produce(settings: Settings, events: int) -> int:
    """Seal and produce the workload; how many entries went onto the topic."""
    keys = open_key_store(settings)
    keys.create_schema()
    log = CaseEventLog(keys, settings.family_events_topic)
    producer = Producer(
        producer_config(settings.bootstrap_servers(), client_id="bench-replay", timeout_s=120)
    )
    produced, start = 0, time.perf_counter()
    chunk: list[tuple[bytes, CaseEvent]] = []

    def send() -> None:
        nonlocal produced
        for (key, _), sealed in zip(chunk, log.encode_many([e for _, e in chunk]), strict=True):
            if isinstance(sealed, Exception):
                raise sealed
            while True:
                try:
                    producer.produce(settings.family_events_topic, value=sealed[1], key=key)
                    break
                except BufferError:
                    producer.poll(0.5)
            producer.poll(0)
            produced += 1
        chunk.clear()

    for item in workload(events):
        chunk.append(item)
        if len(chunk) == SEAL_BATCH:
            send()
    send()
    producer.flush(300)
    keys.engine.dispose()
    wall = time.perf_counter() - start
    print(f"replay: sealed and produced {produced:,} events in {wall:,.1f} s", flush=True)
    return produced


def bare_consume(settings: Settings, events: int) -> int:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers(),
            "group.id": f"bench-bare-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    partitions = range(settings.topic_partitions)
    consumer.assign([TopicPartition(settings.family_events_topic, p, 0) for p in partitions])
    read = 0
    try:
        while read < events:
            for message in consumer.consume(num_messages=5000, timeout=1.0):
                if message.error() is None:
                    read += 1
    finally:
        consumer.close()
    return read


def rebuild(settings: Settings, events: int, database: str) -> None:
    """B, then the rebuild into ``settings``' database, reported side by side."""
    baseline = rate(lambda: bare_consume(settings, events))

    def progress(step: Progress) -> None:
        print(f"replay: {database}: {describe(step)}", file=sys.stderr, flush=True)

    start = time.perf_counter()
    done = replay(settings, PROJECTION, progress=progress, progress_every_s=PROGRESS_EVERY_S)
    wall = time.perf_counter() - start
    report(
        f"replay: {PROJECTION}, {done.applied:,} events, {database}",
        done.applied / wall,
        "bare consume",
        baseline,
    )
    print(
        f"replay: {database}: {wall:,.1f} s for {done.applied:,} events; "
        f"ratio to bare consume {done.applied / wall / baseline:.3%}",
        flush=True,
    )


def with_postgres() -> bool:
    if os.environ.get("HUB_BENCH_REPLAY_POSTGRES", "1") == "0":
        return False
    try:
        postgres_bin()
    except RuntimeError as error:
        print(f"replay: PostgreSQL skipped: {error}", flush=True)
        return False
    return True


def run(events: int = 1_000_000) -> None:
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            servers = stack.enter_context(
                temporary_broker(default_state_dir(), work)
            ).bootstrap_servers
        suffix = uuid.uuid4().hex[:8]

        def settings_for(database_url: str) -> Settings:
            return Settings.model_validate(
                {
                    "kafka_bootstrap_servers": servers,
                    "state_dir": work,  # the key store's file, shared by both rebuilds
                    "database_url": database_url,
                    "case_events_topic": f"bench.case.{suffix}",
                    "family_events_topic": f"bench.family.{suffix}",
                    "quarantine_topic": f"bench-q.{suffix}",
                    "dead_letter_topic": f"bench-d.{suffix}",
                    "disclosures_topic": f"bench-x.{suffix}",
                }
            )

        settings = settings_for(f"sqlite:///{work / 'bench.sqlite3'}")
        ensure_topics(settings)
        produced = produce(settings, events)
        rebuild(settings, produced, "SQLite")
        if with_postgres():
            server = stack.enter_context(postgres_server(durable=True))
            rebuild(settings_for(server.url), produced, "PostgreSQL")
