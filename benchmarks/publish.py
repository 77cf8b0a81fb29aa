"""Durable publishing into a real broker vs a bare confluent-kafka producer, same run."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

from confluent_kafka import Producer

from benchmarks.harness import rate, report
from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import ensure_topics
from hub.kafka.local import temporary_broker
from hub.kafka.publisher import KafkaPublisher, producer_config
from hub.settings import Settings, default_state_dir
from tests.builders import missed

N = 5_000


def run() -> None:
    with ExitStack() as stack:
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            servers = stack.enter_context(
                temporary_broker(default_state_dir(), work)
            ).bootstrap_servers
        suffix = uuid.uuid4().hex[:8]
        settings = Settings.model_validate(
            {
                "kafka_bootstrap_servers": servers,
                "case_events_topic": f"bench.{suffix}",
                "quarantine_topic": f"bench-q.{suffix}",
                "dead_letter_topic": f"bench-d.{suffix}",
            }
        )
        ensure_topics(settings)
        events = [missed(f"APT-{i}") for i in range(N)]
        payloads = [(str(i).encode(), os.urandom(140)) for i in range(N)]

        bare = Producer(producer_config(servers, client_id="bench-bare", timeout_s=30))

        def bare_produce() -> int:
            for key, value in payloads:
                bare.produce(settings.case_events_topic, value=value, key=key)
                bare.poll(0)
            bare.flush(60)
            return N

        publisher = KafkaPublisher(servers, client_id="bench-hub")
        sink = CaseEventSink(publisher, settings, open_key_store(settings))

        async def concurrent() -> int:
            await asyncio.gather(*(sink.publish(e) for e in events))
            return N

        async def one_at_a_time() -> int:
            for event in events[:500]:
                await sink.publish(event)
            return 500

        baseline = rate(bare_produce)
        report(
            "publish: sink, 5,000 concurrent awaited acks",
            rate(lambda: asyncio.run(concurrent())),
            "bare produce+flush",
            baseline,
        )
        report(
            "publish: sink, one awaited ack at a time",
            rate(lambda: asyncio.run(one_at_a_time())),
            "bare produce+flush",
            baseline,
        )
        publisher.close()
