"""HL7 v2: parse + map + Avro encode on one core vs bare ``hl7.parse`` of the same messages,
and acknowledged messages/s over MLLP into the real broker (one connection, AA awaited)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

import hl7
from hl7.client import MLLPClient

from benchmarks.harness import rate, report
from hub.connectors.hl7v2.listener import MllpListener
from hub.connectors.hl7v2.mapping import message_events
from hub.connectors.hl7v2.reading import parse
from hub.connectors.sources import load_sources
from hub.erasure.keystore import open_key_store
from hub.events import utc_now
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import ensure_topics
from hub.kafka.codec import case_event_codec
from hub.kafka.local import temporary_broker
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings, default_state_dir

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "hl7v2"
ACCEPTED = [
    "siu-s12-booked",
    "siu-s13-rescheduled-v251",
    "siu-s26-noshow-start-in-ais",
    "adt-a01-evn-time",
    "adt-a28-escapes-latin1",
    "adt-a40-merge",
]
N = 6_000


def messages() -> list[bytes]:
    samples = [(GOLDEN / f"{name}.input.hl7").read_bytes() for name in ACCEPTED]
    return [samples[i % len(samples)].replace(b"MFT0", f"B{i:06d}".encode(), 1) for i in range(N)]


def run() -> None:
    raws = messages()
    texts = [raw.decode("latin-1").replace("\n", "\r") for raw in raws]
    sources = load_sources()
    codec = case_event_codec("bench")
    now = utc_now()

    def bare() -> int:
        for text in texts:
            hl7.parse(text)
        return len(texts)

    def hub() -> int:
        for raw in raws:
            for event in message_events(parse(raw), sources, now):
                codec.encode(event)
        return len(raws)

    report("hl7: parse + map + Avro encode (one core)", rate(hub), "bare hl7.parse", rate(bare))
    _over_mllp(raws[:2000], sources)


def _over_mllp(raws: list[bytes], sources: object) -> None:
    with ExitStack() as stack:
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            broker = stack.enter_context(temporary_broker(default_state_dir(), work))
            servers = broker.bootstrap_servers
        suffix = uuid.uuid4().hex[:8]
        settings = Settings.model_validate(
            {
                "kafka_bootstrap_servers": servers,
                "case_events_topic": f"bench-hl7.{suffix}",
                "quarantine_topic": f"bench-hl7-q.{suffix}",
                "dead_letter_topic": f"bench-d.{suffix}",
            }
        )
        ensure_topics(settings)
        publisher = KafkaPublisher(servers, client_id="bench-mllp")
        loop = asyncio.new_event_loop()
        listener = MllpListener(
            CaseEventSink(publisher, settings, open_key_store(settings)),
            load_sources(),
            "127.0.0.1",
            0,
        )
        loop.run_until_complete(listener.start())
        import threading

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        def send_all() -> int:
            with MLLPClient("127.0.0.1", listener.port) as client:
                for raw in raws:
                    client.send_message(raw)
            return len(raws)

        def bare_parse() -> int:
            for raw in raws:
                hl7.parse(raw.decode("latin-1"))
            return len(raws)

        report(
            "mllp: acknowledged messages into Kafka (1 conn)",
            rate(send_all, repeats=1),
            "bare hl7.parse",
            rate(bare_parse),
        )
        asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        publisher.close()
