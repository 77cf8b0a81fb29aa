"""Missed appointment → alert visible in the API: p50 / p99 latency, idle and under load.

Real processes on a real broker: the hub's worker and API as child processes (SQLite store), a
registered midwife client reading ``GET /people/{key}/alerts``. A probe publishes one
``APPOINTMENT_MISSED`` for a mother whose midwife is already assigned and polls the API (every
10 ms) until the alert is there; the latency is from the publish call to the first response
that shows it. The baseline is the same probe on the idle hub, in the same run; the load is a
background stream of case-events (bookings in the future, attendances, registrations and key
worker assignments for other families) offered at ``HUB_BENCH_RATE`` (default 1,000/s).

The worker's lag at the end is printed too, and each loaded probe's latency in the order taken:
a p99 measured while the lag keeps growing would only say how long the run was, so read them
together.

``HUB_BENCH_PROBES`` (default 60) probes are taken per phase, the loaded phase ending after
``HUB_BENCH_LOAD_SECONDS`` (default 60); a probe not answered within 120 s ends it and counts
as 120 s; ``HUB_BENCH_WORK_DIR`` keeps the
processes' logs and the store in a directory of your choice.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import httpx

from hub.auth.store import ClientStore
from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent, utc_now
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import ensure_topics
from hub.kafka.local import temporary_broker
from hub.kafka.publisher import KafkaPublisher
from hub.nhs_number import valid_nhs_numbers
from hub.settings import Settings, default_state_dir
from hub.storage.engine import make_engine
from hub.vocabulary import PractitionerRole
from tests.builders import assigned, attended, booked, missed, registered
from tests.support.net import free_port
from tests.support.processes import eventually, hub_process

MIDWIFE = "mw-bench"
RATE = float(os.environ.get("HUB_BENCH_RATE", "1000"))
PROBES = int(os.environ.get("HUB_BENCH_PROBES", "60"))
LOAD_SECONDS = float(os.environ.get("HUB_BENCH_LOAD_SECONDS", "60"))
PROBE_TIMEOUT_S = 120.0


class Background(threading.Thread):
    """Offers case-events at ``rate`` per second until stopped; counts what Kafka acknowledged."""

    def __init__(self, settings: Settings, rate: float) -> None:
        super().__init__(daemon=True)
        self._settings, self._rate = settings, rate
        self._stop_event = threading.Event()
        self.sent = 0
        self.elapsed = 0.0

    def stop(self) -> None:
        self._stop_event.set()
        self.join(120)

    def _events(self) -> Iterator[CaseEvent]:
        future = utc_now() + timedelta(days=30)  # bookings that no timer will find due
        for i, number in enumerate(valid_nhs_numbers(500_000_000)):
            kind = i % 4
            if kind == 0:
                yield registered(nhs_number=number)
            elif kind == 1:
                yield assigned(f"kw-{i % 97}", PractitionerRole.KEY_WORKER, nhs_number=number)
            elif kind == 2:
                yield booked(f"BG-{i}", start=future, nhs_number=number)
            else:
                yield attended(f"BG-{i - 1}", nhs_number=number)

    def run(self) -> None:
        asyncio.run(self._offer())

    async def _offer(self) -> None:
        publisher = KafkaPublisher(self._settings.bootstrap_servers(), client_id="bench-load")
        sink = CaseEventSink(publisher, self._settings, open_key_store(self._settings))
        events = self._events()
        tick = 0.05
        per_tick = max(1, round(self._rate * tick))
        start = time.monotonic()
        try:
            while not self._stop_event.is_set():
                batch = [next(events) for _ in range(per_tick)]
                # One key-store batch and one round of acks per tick (publish_many), as a
                # connector publishes: a publish per event sealed each new person's key in its own
                # transaction, which held the generator near 135 events/s.
                await sink.publish_many(batch)
                self.sent += len(batch)
                ahead = start + self.sent / self._rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            self.elapsed = time.monotonic() - start
            publisher.close()


def probe(
    sink: CaseEventSink,
    api: httpx.Client,
    number: str,
    appointment: str,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> float:
    """Seconds from publishing a no-show to the API showing its alert to the midwife."""
    start = time.perf_counter()
    sink.publish_sync(missed(appointment, nhs_number=number))
    deadline = start + timeout_s
    while time.perf_counter() < deadline:
        response = api.get(f"/people/{number}/alerts")
        if response.status_code == 200 and any(
            alert["appointment"]["appointment_id"] == appointment for alert in response.json()
        ):
            return time.perf_counter() - start
        time.sleep(0.01)
    raise TimeoutError(
        f"no alert for {appointment} within {timeout_s:.0f} s (counted as "
        f"{timeout_s:.0f} s); the API last said {response.status_code}"
    )


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return 0


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(name: str, samples: list[float]) -> tuple[float, float]:
    p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
    print(
        f"{name:<46} p50 {p50 * 1000:8.0f} ms   p99 {p99 * 1000:8.0f} ms   "
        f"mean {statistics.fmean(samples) * 1000:6.0f} ms   n={len(samples)}",
        flush=True,
    )
    return p50, p99


def in_order(samples: list[float]) -> str:
    """Each probe's latency in milliseconds, in the order taken: whether a high p99 is a stall
    (one late probe among quick ones) or a backlog building through the load (a rising
    series) shows in the order, not in the percentiles."""
    return " ".join(f"{sample * 1000:.0f}" for sample in samples)


def run() -> None:
    with ExitStack() as stack:
        # HUB_BENCH_WORK_DIR keeps the processes' logs and the store for a look afterwards.
        kept = os.environ.get("HUB_BENCH_WORK_DIR")
        work = Path(kept) if kept else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or (
            stack.enter_context(temporary_broker(default_state_dir(), work)).bootstrap_servers
        )
        settings = Settings.model_validate(
            {
                "kafka_bootstrap_servers": servers,
                "state_dir": work / "state",
                "api_port": free_port(),
            }
        )
        settings.state_dir.mkdir(parents=True)
        ensure_topics(settings)
        base = f"http://127.0.0.1:{settings.api_port}"
        clients = ClientStore(make_engine(settings.resolved_database_url()))
        clients.create_schema()
        key = clients.register("R0A", "COMMUNITY_MIDWIFE", MIDWIFE).api_key
        stack.enter_context(hub_process("api", settings, work))
        stack.enter_context(hub_process("worker", settings, work))
        eventually(
            lambda: _status(f"{base}/health") == 200,
            timeout_s=120,
            what="/health 200",
            log=work / "worker.log",
        )
        api = stack.enter_context(
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        )
        publisher = KafkaPublisher(servers, client_id="bench-probe")
        stack.callback(publisher.close)
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        mothers = valid_nhs_numbers(100_000_000)
        # Each probe's mother has her midwife assigned beforehand, as in practice.
        pool = [next(mothers) for _ in range(2 * PROBES + 5)]
        for number in pool:
            sink.publish_sync(assigned(MIDWIFE, nhs_number=number))
        probe(sink, api, pool[-1], "WARM-UP")  # waits until the worker has caught up

        idle = [probe(sink, api, pool[i], f"IDLE-{i}") for i in range(PROBES)]
        background = Background(settings, RATE)
        background.start()
        time.sleep(5)  # let the load settle before measuring under it
        loaded: list[float] = []
        load_ends = time.monotonic() + LOAD_SECONDS
        try:
            for i in range(PROBES):
                if time.monotonic() > load_ends:
                    break
                loaded.append(probe(sink, api, pool[PROBES + i], f"LOAD-{i}"))
                time.sleep(0.2)
        except TimeoutError as late:  # the worker fell too far behind: say so, keep the figures
            print(f"under load: {late}", flush=True)
            loaded.append(PROBE_TIMEOUT_S)
        background.stop()
        offered = background.sent / background.elapsed if background.elapsed else 0.0

        print(f"alert latency: worker + API processes, SQLite store, broker {servers}")
        idle_p50, idle_p99 = summary("no-show → alert in API, idle hub (baseline)", idle)
        p50, p99 = summary(f"no-show → alert in API, under {RATE:,.0f} ev/s offered", loaded)
        print(f"{'under load, each probe in order (ms)':<46} {in_order(loaded)}", flush=True)
        print(
            f"{'':<46} ratio to idle: p50 {p50 / idle_p50:5.1f}x   p99 {p99 / idle_p99:5.1f}x",
            flush=True,
        )
        print(
            f"{'background load achieved (acknowledged)':<46} {offered:12,.0f} /s "
            f"({background.sent:,} events in {background.elapsed:.1f} s)",
            flush=True,
        )
        caught_up = time.perf_counter()
        probe(sink, api, pool[-2], "DRAIN", timeout_s=1800)
        drained = time.perf_counter() - caught_up
        print(f"{'worker backlog drained after the load':<46} {drained:12.1f} s", flush=True)
