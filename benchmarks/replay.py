"""Projection rebuild rate (``hub replay``) against a bare consume of the same topic, same run.

``python -m benchmarks replay [--events N]`` (default 1,000,000). N sealed case-events for
N / 50 synthetic families (register, assign a midwife, then cycles of book, miss, acknowledge,
close) are produced to a fresh family topic; then (1) a bare confluent-kafka consumer reads the
topic from offset 0 to its end (best of three), (2) ``replay`` rebuilds the missed-appointment
alerts projection from it into fresh SQLite tables and swaps them in (once: it is long). The
replay's rate is entries applied over its whole wall time, setup and swap included.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from benchmarks.harness import rate, report
from hub.alerts.fold import alert_id_for
from hub.erasure.keystore import SubjectKeyStore, open_key_store
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import SubjectKey
from hub.events import CaseEvent
from hub.kafka.admin import ensure_topics
from hub.kafka.local import temporary_broker
from hub.kafka.publisher import producer_config
from hub.nhs_number import valid_nhs_numbers
from hub.processes.replay import replay
from hub.projections.replay import Progress
from hub.settings import Settings, default_state_dir
from hub.storage.engine import make_engine
from tests.builders import TRUST, acknowledged, assigned, booked, closed, missed, registered

EVENTS_PER_FAMILY = 50
PROJECTION = "missed_appointment_alerts"


def nhs_number(n: int) -> str:
    """The n-th valid NHS number from 100000000x (those whose check digit would be 10 skipped)."""
    return next(itertools.islice(valid_nhs_numbers(100_000_000), n, None))


def family_events(family: int, count: int) -> Iterator[CaseEvent]:
    """``count`` events of one family: registration, a midwife, then book/miss/ack/close."""
    subject = nhs_number(family)
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


class CachedKeys:
    """The producer side only: a key store whose subject keys are read once (the benchmark
    measures the replay, not sealing; ADR 0009 explains why the hub itself does not cache)."""

    def __init__(self, store: SubjectKeyStore) -> None:
        self._store = store
        self._keys: dict[str, SubjectKey] = {}

    def key_for(self, subject: str) -> SubjectKey:
        if subject not in self._keys:
            self._keys[subject] = self._store.key_for(subject)
        return self._keys[subject]

    def secret_of(self, key_id: str) -> bytes | None:
        return self._store.secret_of(key_id)

    def subjects_of(self, key_id: str) -> tuple[str, ...]:
        return self._store.subjects_of(key_id)


def produce(settings: Settings, events: int) -> None:
    engine = make_engine(settings.resolved_database_url())
    keys = open_key_store(settings)
    keys.create_schema()
    log = CaseEventLog(CachedKeys(keys), settings.family_events_topic)
    producer = Producer(
        producer_config(settings.bootstrap_servers(), client_id="bench-replay", timeout_s=120)
    )
    families = max(1, events // EVENTS_PER_FAMILY)
    produced, start = 0, time.perf_counter()
    for family in range(families):
        count = EVENTS_PER_FAMILY if family < families - 1 else events - produced
        for event in family_events(family, count):
            _, value = log.encode(event)
            while True:
                try:
                    producer.produce(
                        settings.family_events_topic, value=value, key=f"family-{family}".encode()
                    )
                    break
                except BufferError:
                    producer.poll(0.5)
            producer.poll(0)
            produced += 1
    producer.flush(300)
    engine.dispose()
    print(f"replay: produced {produced:,} events in {time.perf_counter() - start:,.1f} s")


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
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                if message.error() is None:
                    read += 1
    finally:
        consumer.close()
    return read


def run(events: int = 1_000_000) -> None:
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            servers = stack.enter_context(
                temporary_broker(default_state_dir(), work)
            ).bootstrap_servers
        suffix = uuid.uuid4().hex[:8]
        settings = Settings.model_validate(
            {
                "kafka_bootstrap_servers": servers,
                "state_dir": work,
                "database_url": f"sqlite:///{work / 'bench.sqlite3'}",
                "case_events_topic": f"bench.case.{suffix}",
                "family_events_topic": f"bench.family.{suffix}",
                "quarantine_topic": f"bench-q.{suffix}",
                "dead_letter_topic": f"bench-d.{suffix}",
                "disclosures_topic": f"bench-x.{suffix}",
            }
        )
        ensure_topics(settings)
        produce(settings, events)
        baseline = rate(lambda: bare_consume(settings, events))

        def progress(step: Progress) -> None:
            print(f"replay: {step.stage:<10} {step.applied:>10,} ({step.rate:,.0f}/s)", flush=True)

        start = time.perf_counter()
        done = replay(settings, PROJECTION, progress=progress)
        wall = time.perf_counter() - start
        report(
            f"replay: {PROJECTION}, {done.applied:,} events, SQLite",
            done.applied / wall,
            "bare consume",
            baseline,
        )
        print(
            f"replay: {wall:,.0f} s for {done.applied:,} events; "
            f"ratio to bare consume {done.applied / wall / baseline:.3%}",
            flush=True,
        )
