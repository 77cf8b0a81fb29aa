"""The MLLP benchmark's load generator, and the CPU it and everything else on the machine
spent while it ran.

An interface engine sends a message, waits for its ACK and sends the next. The suite's
figure is the *listener's* (ADR 0042: ≥ 1,000 AA/s per listener process), so the generator
must cost far less than the listener per message, or on a 2-core machine that also runs the
broker it is the generator that is measured. The first generator (kept as
:func:`send_threads`, the before) ran its 16 senders as threads of one Python process with
python-hl7's blocking ``MLLPClient``, and parsed every ACK with ``hl7.parse``: ~1 ms of CPU a
message in the one interpreter, its threads queued on one GIL (docs/benchmarks.md, ADR 0046).

:func:`send_framed` sends blocks framed once before the clock starts, from
:data:`SENDER_PROCESSES` processes (asyncio, one connection per sender, each waiting for its
ACK before its next message), and checks each reply's MSA-1 on its bytes: every reply must
still be ``AA``, and any other is decoded and raised with its text.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType

import hl7
from hl7.client import MLLPClient

from benchmarks.harness import cpu_seconds, machine_busy_seconds

SENDER_PROCESSES = 4  # processes the senders are spread over (each an event loop)
END = b"\x1c\r"


class Watch:
    """The CPU of ``pids`` and of the whole machine from :meth:`begin` to :meth:`end`: the
    generator calls them as its clock starts and stops, outside its processes' start-up."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.cpu_s = [0.0] * len(pids)  # each pid's, over the window
        self.busy_s = 0.0  # the machine's, every core

    def begin(self) -> None:
        self.cpu_s = [-cpu_seconds([pid]) for pid in self.pids]
        self.busy_s = -machine_busy_seconds()

    def end(self) -> None:
        self.cpu_s = [
            was + cpu_seconds([pid]) for pid, was in zip(self.pids, self.cpu_s, strict=True)
        ]
        self.busy_s += machine_busy_seconds()


@dataclass(frozen=True)
class Sent:
    rate: float  # acknowledged messages per second
    p50: float  # ACK latency, milliseconds
    p99: float
    cpu_s: float  # the generator's own CPU while it sent (user + system)


def frame(raw: bytes) -> bytes:
    """One MLLP block: what an interface engine writes for ``raw``."""
    return b"\x0b" + raw + END


def accepted(reply: bytes) -> bool:
    """Whether an MLLP block (as framed) acknowledges with MSA-1 ``AA``, read from its bytes
    in the message's own field separator (MSH-1)."""
    text = reply[1:-2] if reply[:1] == b"\x0b" else reply
    separator = text[3:4]
    for segment in text.split(b"\r"):
        if segment[:3] == b"MSA":
            return segment.split(separator)[1:2] == [b"AA"]
    return False


def send_framed(port: int, raws: list[bytes], *, senders: int, watch: Watch | None = None) -> Sent:
    """``raws`` over ``senders`` connections at once (sender ``n`` sends ``raws[n::senders]``
    in order), spread over :data:`SENDER_PROCESSES` processes started and connected before
    the clock starts."""
    processes = min(SENDER_PROCESSES, senders)
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.Queue[None] = context.Queue()
    results: multiprocessing.Queue[tuple[list[float], float, float, float]] = context.Queue()
    go = context.Event()
    shares = [
        [[frame(raw) for raw in raws[n::senders]] for n in range(p, senders, processes)]
        for p in range(processes)
    ]
    workers = [
        context.Process(target=_sender_process, args=(port, share, ready, go, results))
        for share in shares
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            ready.get(timeout=120)
        if watch is not None:
            watch.begin()
        go.set()
        outcomes = [results.get(timeout=600) for _ in workers]
        if watch is not None:
            watch.end()
    finally:
        for worker in workers:
            worker.join(30)
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise RuntimeError(f"a sender process failed (exit codes {failed}): see its traceback")
    latencies = sorted(latency for own, _, _, _ in outcomes for latency in own)
    elapsed = max(end for _, _, end, _ in outcomes) - min(start for _, start, _, _ in outcomes)
    p50, p99 = _quantiles(latencies)
    return Sent(len(raws) / elapsed, p50, p99, sum(cpu for _, _, _, cpu in outcomes))


def _sender_process(
    port: int,
    share: list[list[bytes]],
    ready: multiprocessing.Queue[None],
    go: EventType,
    results: multiprocessing.Queue[tuple[list[float], float, float, float]],
) -> None:
    async def main() -> tuple[list[float], float, float, float]:
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in share]
        ready.put(None)
        await asyncio.to_thread(go.wait)
        cpu, start = time.process_time(), time.perf_counter()
        own = await asyncio.gather(
            *(
                _sender(*connection, blocks)
                for connection, blocks in zip(connections, share, strict=True)
            )
        )
        end, cpu = time.perf_counter(), time.process_time() - cpu
        return [latency for latencies in own for latency in latencies], start, end, cpu

    results.put(asyncio.run(main()))


async def _sender(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, blocks: list[bytes]
) -> list[float]:
    latencies: list[float] = []
    for block in blocks:
        sent = time.perf_counter()
        writer.write(block)
        reply = await reader.readuntil(END)
        latencies.append(time.perf_counter() - sent)
        if not accepted(reply):
            raise RuntimeError(f"the listener answered: {reply.decode('latin-1')!r}")
    writer.close()
    await writer.wait_closed()
    return latencies


def send_threads(
    port: int, raws: list[bytes], *, senders: int = 1, watch: Watch | None = None
) -> Sent:
    """The generator before ADR 0046: ``senders`` threads of this process, each python-hl7's
    blocking ``MLLPClient``, each ACK parsed with ``hl7.parse`` (kept to measure what it
    cost, and for one connection, where it is cheap enough)."""
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

    if watch is not None:
        watch.begin()
    cpu, start = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(sender, range(senders)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if watch is not None:
        watch.end()
    p50, p99 = _quantiles(sorted(latency for own in latencies for latency in own))
    return Sent(len(raws) / elapsed, p50, p99, cpu)


def _quantiles(every: list[float]) -> tuple[float, float]:
    def at(share: float) -> float:
        return every[min(len(every) - 1, int(len(every) * share))] * 1000

    return at(0.50), at(0.99)
