"""HL7 v2: parse + map + Avro encode on one core vs bare ``hl7.parse`` of the same messages,
and acknowledged messages/s over MLLP into the real broker with the ACK p50/p99: one connection,
then 16 at once (issue 19's figure: concurrent senders must not wait behind one another), each
message a batch of its own, then in group commits (ADR 0028), then group commits in
:data:`PROCESSES` listener processes sharing the port (ADR 0042), in the same run; with each
16-sender figure the CPU per acknowledged message (``/proc``) of the listeners, the broker, the
load generator and the rest of the machine, and the cores each used meanwhile: a loaded
machine's rates hide the first, and the others say whether the listener is what was measured
(ADR 0046). The senders are :mod:`benchmarks.mllp_senders`' (processes of their own, blocks
framed before the clock starts); the threads of one process with python-hl7's client, the
generator before ADR 0046, run once beside them."""

from __future__ import annotations

import asyncio
import cProfile
import multiprocessing
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import hl7

from benchmarks.harness import rate, report
from benchmarks.mllp_senders import Watch, send_framed, send_threads
from benchmarks.profiled_worker import ProfilingExecutor, write
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
PROCESSES = 2  # listener processes on one port, the last mode


def messages() -> list[bytes]:
    samples = [(GOLDEN / f"{name}.input.hl7").read_bytes() for name in ACCEPTED]
    return [samples[i % len(samples)].replace(b"MFT0", f"B{i:06d}".encode(), 1) for i in range(N)]


def run(profile: Path | None = None) -> None:
    """``profile``: the group-commit listener of the 16-sender run under cProfile, its stats
    written there (``benchmarks.profiled_worker.write``): for the shares, not the rate."""
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
    _over_mllp(raws, profile)


def _over_mllp(raws: list[bytes], profile: Path | None) -> None:
    """The listener in a process of its own (as ``hub mllp`` runs), senders in processes of
    their own: one connection, then :data:`SENDERS` connections at once, each waiting for every
    ACK before its next message, as an interface engine does. Every reply must be ``AA``.

    In the same run: publishing each message as a batch of its own (group commit off:
    ``HUB_MLLP_GROUP_MAX_EVENTS=1``, what the listener did before ADR 0028); the default group
    commit with the threads' generator, then with the processes' one; group commit in
    :data:`PROCESSES` listener processes."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        broker_pid = None  # a broker of our own: its CPU is reported too
        if not servers:
            broker = stack.enter_context(temporary_broker(default_state_dir(), work / "kafka"))
            servers = broker.bootstrap_servers
            broker_pid = broker.pid
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

        def bare_parse() -> int:
            for raw in raws:
                hl7.parse(raw.decode("latin-1"))
            return len(raws)

        parse_rate = rate(bare_parse)
        for mode, overrides, processes, generator in (
            ("one message a batch", {"mllp_group_max_events": 1}, 1, send_framed),
            ("group commit, threads' generator", {}, 1, send_threads),
            ("group commit", {}, 1, send_framed),
            (
                f"group commit, {PROCESSES} processes",
                {"mllp_processes": PROCESSES},
                PROCESSES,
                send_framed,
            ),
        ):
            profiled = profile if mode == "group commit" else None
            with _listening(settings.model_copy(update=overrides), profiled, processes) as at:
                send_framed(at.port, raws[:SENDERS], senders=SENDERS)  # warm: keys, connections
                one = (
                    send_framed(at.port, raws[:1000], senders=1)
                    if generator is send_framed and processes == 1
                    else None
                )
                watch = Watch(at.pids + ([broker_pid] if broker_pid else []))
                many = generator(at.port, raws, senders=SENDERS, watch=watch)
                cpu, busy = watch.cpu_s, watch.busy_s
            if one is not None:
                report(f"mllp {mode}: AA/s, 1 conn", one.rate, "bare hl7.parse", parse_rate)
            report(f"mllp {mode}: AA/s, {SENDERS} conns", many.rate, "bare hl7.parse", parse_rate)
            single = f"1 conn {one.p50:.1f}/{one.p99:.1f} ms, " if one is not None else ""
            print(
                f"mllp {mode}: ACK p50/p99 {single}"
                f"{SENDERS} conns {many.p50:.1f}/{many.p99:.1f} ms",
                flush=True,
            )
            print(
                _cpu_line(
                    mode,
                    len(raws) / many.rate,
                    len(raws),
                    cpu[:processes],
                    cpu[processes:],
                    many.cpu_s,
                    busy,
                ),
                flush=True,
            )


def _cpu_line(
    mode: str,
    elapsed: float,
    messages: int,
    listeners: list[float],
    broker: list[float],
    generator: float,
    busy: float,
) -> str:
    """CPU per acknowledged message, and cores in use while the senders ran, of the
    listeners, the broker, the generator and the rest of the machine (other work)."""
    listener = sum(listeners)
    rest = busy - listener - sum(broker) - generator
    parts = [
        ("listener", listener),
        ("broker", sum(broker)),
        ("generator", generator),
        ("rest of the machine", rest),
    ]
    return f"mllp {mode}: CPU per AA, ms (cores in use) " + ", ".join(
        f"{name} {seconds / messages * 1000:.2f} ({seconds / elapsed:.2f})"
        for name, seconds in parts
        if not (name == "broker" and not broker)
    )


@dataclass(frozen=True)
class Listening:
    port: int
    pids: list[int]  # the listener processes


@contextmanager
def _listening(
    settings: Settings, profile: Path | None = None, processes: int = 1
) -> Iterator[Listening]:
    """``processes`` listener processes on ``settings``, sharing one port (SO_REUSEPORT, as
    ``HUB_MLLP_PROCESSES`` makes ``hub mllp`` bind, ADR 0042) when more than one."""
    context = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[int] = context.Queue()
    stop = context.Event()
    port = _free_port() if processes > 1 else 0
    listeners = [
        context.Process(target=_listen, args=(settings, ports, stop, profile, port))
        for _ in range(processes)
    ]
    for listener in listeners:
        listener.start()
    try:
        bound = {ports.get(timeout=60) for _ in listeners}
        assert len(bound) == 1, f"the listeners are on different ports: {bound}"
        yield Listening(bound.pop(), [listener.pid for listener in listeners if listener.pid])
    finally:
        stop.set()
        for listener in listeners:
            listener.join(30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listen(
    settings: Settings,
    ports: multiprocessing.Queue[int],
    stop: EventType,
    profile: Path | None = None,
    port: int = 0,
) -> None:
    """The listener's process: its own event loop, sink and key store, until ``stop``; with
    ``profile``, under cProfile (the loop's thread and each of its executor's threads)."""
    on_loop = cProfile.Profile(time.thread_time)
    executor = ProfilingExecutor()

    async def main() -> None:
        if profile is not None:
            asyncio.get_running_loop().set_default_executor(executor)
            on_loop.enable()
        publisher = KafkaPublisher(settings.bootstrap_servers(), client_id="bench-mllp")
        listener = MllpListener(
            CaseEventSink(publisher, settings, open_key_store(settings)),
            load_sources(),
            "127.0.0.1",
            port,
            max_per_address=SENDERS + 1,
            group_window_s=settings.mllp_group_window_ms / 1000,
            group_max_events=settings.mllp_group_max_events,
            reuse_port=settings.mllp_processes > 1,
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
        group = listener.group_commit
        print(
            f"mllp listener: {group.members:,} messages in {group.groups:,} groups "
            f"({group.members / max(group.groups, 1):.1f} a group)",
            flush=True,
        )

    asyncio.run(main())
    if profile is not None:
        on_loop.disable()
        write(profile, on_loop, executor.profiles)
        print(f"mllp listener profile: {profile} (and .txt)", flush=True)
