"""HL7 v2: parse + map + Avro encode on one core vs bare ``hl7.parse`` of the same messages,
and acknowledged messages/s over MLLP into the real broker with the ACK p99: one connection, then
16 at once (issue 19's figure: concurrent senders must not wait behind one another)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from multiprocessing.synchronize import Event as EventType
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
SENDERS = 16


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
    _over_mllp(raws, sources)


def _over_mllp(raws: list[bytes], sources: object) -> None:
    """The listener in a process of its own (as ``hub mllp`` runs), senders in this one: one
    connection, then :data:`SENDERS` connections at once, each waiting for every ACK before its
    next message, as an interface engine does. Every reply must be ``AA``."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            broker = stack.enter_context(temporary_broker(default_state_dir(), work / "kafka"))
            servers = broker.bootstrap_servers
        suffix = uuid.uuid4().hex[:8]
        settings = Settings.model_validate(
            {
                "kafka_bootstrap_servers": servers,
                "state_dir": work,
                "case_events_topic": f"bench-hl7.{suffix}",
                "quarantine_topic": f"bench-hl7-q.{suffix}",
                "dead_letter_topic": f"bench-d.{suffix}",
            }
        )
        ensure_topics(settings)
        context = multiprocessing.get_context("spawn")
        ports: multiprocessing.Queue[int] = context.Queue()
        stop = context.Event()
        listener = context.Process(target=_listen, args=(settings, ports, stop))
        listener.start()
        try:
            port = ports.get(timeout=60)
            _send(port, raws[:SENDERS])  # warm: keys made, connections to the broker open

            def bare_parse() -> int:
                for raw in raws:
                    hl7.parse(raw.decode("latin-1"))
                return len(raws)

            parse_rate = rate(bare_parse)
            one, one_p99 = _send(port, raws[:2000])
            report("mllp: AA messages into Kafka (1 conn)", one, "bare hl7.parse", parse_rate)
            many, many_p99 = _send(port, raws, senders=SENDERS)
            name = f"mllp: AA messages into Kafka ({SENDERS} conns)"
            report(name, many, "bare hl7.parse", parse_rate)
            print(f"mllp: ACK p99 1 conn {one_p99:.1f} ms, {SENDERS} conns {many_p99:.1f} ms")
        finally:
            stop.set()
            listener.join(30)


def _listen(settings: Settings, ports: multiprocessing.Queue[int], stop: EventType) -> None:
    """The listener's process: its own event loop, sink and key store, until ``stop``."""

    async def main() -> None:
        publisher = KafkaPublisher(settings.bootstrap_servers(), client_id="bench-mllp")
        listener = MllpListener(
            CaseEventSink(publisher, settings, open_key_store(settings)),
            load_sources(),
            "127.0.0.1",
            0,
            max_per_address=SENDERS + 1,
        )
        await listener.start()
        ports.put(listener.port)
        # Waited for on a thread of its own: the default executor's threads are the sink's.
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        waiter = threading.Thread(
            target=lambda: (stop.wait(), loop.call_soon_threadsafe(stopped.set))
        )
        waiter.start()
        await stopped.wait()
        await listener.stop()
        publisher.close()

    asyncio.run(main())


def _send(port: int, raws: list[bytes], *, senders: int = 1) -> tuple[float, float]:
    """Send ``raws`` over ``senders`` connections at once (each its share, in order); the
    acknowledged messages per second and the ACK p99 in milliseconds."""
    latencies: list[list[float]] = [[] for _ in range(senders)]

    def sender(n: int) -> None:
        with MLLPClient("127.0.0.1", port) as client:
            for raw in raws[n::senders]:
                sent = time.perf_counter()
                reply = client.send_message(raw)
                latencies[n].append(time.perf_counter() - sent)
                text = reply.decode("latin-1") if isinstance(reply, bytes) else reply
                code = str(hl7.parse(text).segment("MSA")(1))
                if code != "AA":
                    raise RuntimeError(f"the listener answered {code}: {text}")

    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(sender, range(senders)))
    elapsed = time.perf_counter() - start
    every = sorted(latency for own in latencies for latency in own)
    p99 = every[min(len(every) - 1, int(len(every) * 0.99))] * 1000
    return len(raws) / elapsed, p99
