"""The live pipeline end to end, beside what bounds it, all on one topic in one run (issue 19).

``python -m benchmarks pipeline [--events N] [--json] [--profile OUT]`` (default N = 8,000: a
thousand families, ``benchmarks/pipeline_workload.py``) publishes the workload through the hub's
own sink (sealed with each subject's key, as connectors publish) to a fresh case-event topic on
the local broker, then measures, one after another on that topic:

B
    a bare confluent-kafka consume from offset 0 (partitions assigned, batches of 1,000; best of
    five): what reading the log costs, the baseline of every ratio;
decode
    the same read, each entry opened as the worker opens it (``CaseEventLog.decode``: the key
    store's query, AES-GCM, the codec; best of three);
confluent no-op / Faust no-op / Faust batch no-op
    a consumer-group member that only acknowledges each event: a confluent-kafka ``poll()``
    loop storing each offset, a Faust worker (a process of its own) whose one agent iterates
    ``stream.events()`` as the hub's agents do, and the same taking ``stream.take_events()``
    batches, as a batching worker would;
pipeline
    the real worker (``hub worker`` as a child process, SQLite store, every projection: the
    person index forwarding to the family topic, then alerts, team, sharing facts, the key
    store), from its first applied entry until every projection's stored position
    (``positions_of``) is at the end of its topic (``benchmarks/pipeline_live.py``, which also
    holds what the stages share);
the same stages in a confluent-kafka loop
    the worker's two stages, the same runners, fed by a confluent-kafka group loop instead of
    Faust (``benchmarks/kafka_loop_worker.py``, ADR 0005's proposal), on a copy of the store
    taken before the worker ran and a family topic of its own: what the runtime change would
    buy, measured beside the worker it would replace;
replay
    ``hub replay`` of the missed-appointment alerts from the family topic the worker wrote,
    rebuild and swap, once (it is long).

Rates are timed from the first entry in hand to the last one handled: connecting, joining a
group and the worker's start are left out (the last two are printed apart), so a small N still
measures the per-entry cost. The replay is the exception: its whole wall time, setup and swap
included, as in ``benchmarks/replay.py``. Each rate is printed with its ratio to B; ``--json``
prints one object instead (``*_per_s`` and ``*_ratio``, and ``unfinished`` naming any stage that
ran out of time with how far it got). A stage that does not finish within
``HUB_BENCH_PIPELINE_TIMEOUT_S`` (default N / 20 s, at least 120 s) says "did not finish: X of
Y" and the run goes on. ``--profile OUT`` runs the worker under cProfile instead
(``benchmarks/profiled_worker.py``): slower, for where the time goes, not for the rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final, TextIO

from confluent_kafka import TopicPartition

from benchmarks.harness import report
from benchmarks.pipeline_live import (
    KAFKA_LOOP,
    POLL_S,
    Stage,
    alive,
    child,
    copy_store,
    live_pipeline,
    loop_settings,
    reader,
    say,
)
from benchmarks.pipeline_workload import families_for, steps
from hub.bootstrap import build_hub
from hub.erasure.keystore import open_key_store
from hub.erasure.log import CaseEventLog
from hub.kafka.admin import ensure_topics
from hub.kafka.local import temporary_broker
from hub.processes.replay import replay
from hub.projections.replay import Progress
from hub.settings import Settings, default_state_dir

DEFAULT_EVENTS: Final = 8_000
REPLAYED: Final = "missed_appointment_alerts"
PUBLISH_CONCURRENCY: Final = 1_000  # in flight at once, as a connector's batch


def timeout_for(events: int) -> float:
    configured = os.environ.get("HUB_BENCH_PIPELINE_TIMEOUT_S")
    return float(configured) if configured else max(120.0, events / 20)


NAMES: Final = {
    "decode": "decode: key store + AES-GCM + codec",
    "confluent_noop": "confluent-kafka group loop, ack only",
    "faust_noop": "Faust agent, ack only",
    "faust_batch_noop": "Faust agent, take_events(), ack only",
    "pipeline": "live worker, every projection",
    "kafka_loop_pipeline": "stages in a confluent-kafka loop",
    "replay": "hub replay alerts, rebuild + swap",
}


def run(
    events: int = DEFAULT_EVENTS, *, as_json: bool = False, profile: Path | None = None
) -> None:
    if events < 2:
        sys.exit("pipeline: --events must be at least 2")
    with ExitStack() as stack:
        # HUB_BENCH_WORK_DIR keeps the worker's log and the store for a look afterwards.
        kept = os.environ.get("HUB_BENCH_WORK_DIR")
        work = Path(kept) if kept else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or (
            stack.enter_context(temporary_broker(default_state_dir(), work)).bootstrap_servers
        )
        settings = bench_settings(servers, work)
        figures = measure(settings, events, work, profile)
    show(figures, sys.stderr if as_json else sys.stdout)
    if as_json:
        print(json.dumps(figures), flush=True)


def bench_settings(servers: str, work: Path, **more: object) -> Settings:
    """Settings for one run on ``servers``: a state directory under ``work``, topics and groups
    of its own (a fresh suffix), and ``more``; the directory made and the topics created."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.model_validate(
        {
            "kafka_bootstrap_servers": servers,
            "state_dir": work / f"state-{suffix}",
            "case_events_topic": f"bench.case-events.{suffix}",
            "family_events_topic": f"bench.family-events.{suffix}",
            "quarantine_topic": f"bench.quarantine.{suffix}",
            "dead_letter_topic": f"bench.dead-letter.{suffix}",
            "disclosures_topic": f"bench.disclosures.{suffix}",
            "worker_group": f"bench-projections-{suffix}",
            # The workload reports every no-show itself; a sweep that inferred some from
            # bookings the worker has not yet seen the outcome of (how many depends on its
            # speed) would add entries to the log under measurement.
            "alert_grace_minutes": 24 * 60,
            **more,
        }
    )
    settings.state_dir.mkdir(parents=True)
    ensure_topics(settings)
    return settings


def measure(settings: Settings, events: int, work: Path, profile: Path | None) -> dict[str, Any]:
    """Every figure of the run: ``*_per_s``, ``*_ratio`` (to B) and ``unfinished`` (the stages
    that ran out of time, with how far each got)."""
    timeout = timeout_for(events)
    say(
        f"pipeline: {events:,} events, {families_for(events):,} families, broker "
        f"{settings.bootstrap_servers()}, {settings.topic_partitions} partitions"
    )
    published = produce(settings, events)
    topic = settings.case_events_topic
    # A few thousand entries are read in milliseconds, so B is the noisiest figure: best of five.
    bare = best(lambda: read_log(settings, topic, events), repeats=5)
    opener = CaseEventLog(open_key_store(settings), topic, settings.schema_registry_url)
    # The store as the worker finds it (the subjects' keys, nothing applied), for the same
    # stages under the other runtime: the case-events are read again into a family topic of
    # their own.
    before = copy_store(settings.state_dir, work / f"{settings.state_dir.name}-before-worker")
    stages = {
        "decode": Stage(best(lambda: read_log(settings, topic, events, opener.decode))),
        "confluent_noop": confluent_noop(settings, events, timeout),
        "faust_noop": faust_noop(settings, events, work, timeout, "each"),
        "faust_batch_noop": faust_noop(settings, events, work, timeout, "batch"),
        "pipeline": live_pipeline(settings, events, work, timeout, profile),
        "kafka_loop_pipeline": live_pipeline(
            loop_settings(settings, before), events, work, timeout, None, KAFKA_LOOP
        ),
        "replay": rebuild(settings, events, timeout),
    }
    figures: dict[str, Any] = {
        "events": events,
        "families": families_for(events),
        "publish_per_s": published,
        "bare_consume_per_s": bare,
    }
    for key, stage in stages.items():
        figures[f"{key}_per_s"] = stage.per_s
        figures[f"{key}_ratio"] = stage.per_s / bare
    figures["unfinished"] = {key: stage.short_of for key, stage in stages.items() if stage.short_of}
    return figures


def show(figures: dict[str, Any], out: TextIO) -> None:
    bare = figures["bare_consume_per_s"]
    print(
        f"pipeline: {figures['events']:,} sealed case-events ({figures['families']:,} families) "
        f"published through the sink at {figures['publish_per_s']:,.0f} /s",
        file=out,
        flush=True,
    )
    print(f"{'pipeline: bare confluent-kafka consume (B)':<46} {bare:>12,.0f} /s", file=out)
    for key, name in NAMES.items():
        report(f"pipeline: {name}", figures[f"{key}_per_s"], "B", bare, to=out)
        if key in figures["unfinished"]:
            print(f"pipeline: {key} did not finish: {figures['unfinished'][key]}", file=out)


def produce(settings: Settings, events: int) -> float:
    """Publish the workload through the hub's sink (every write path's); events per second."""
    hub = build_hub(settings, client_id="bench-pipeline")

    async def publish() -> None:
        for step in steps(events):
            for at in range(0, len(step), PUBLISH_CONCURRENCY):
                batch = step[at : at + PUBLISH_CONCURRENCY]
                await asyncio.gather(*(hub.sink.publish(event) for event in batch))

    start = time.perf_counter()
    try:
        asyncio.run(publish())
    finally:
        hub.close()
    return events / (time.perf_counter() - start)


def read_log(
    settings: Settings, topic: str, events: int, each: Callable[[bytes], object] | None = None
) -> float:
    """Read ``topic`` from offset 0 until ``events`` entries have come, handing each to
    ``each``: entries per second from the first entry in hand to the last one handled (as the
    no-op loops are timed: connecting and the first fetch are not counted). Raises if the topic
    stops short: a baseline must not be a partial read."""
    consumer = reader(settings)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(settings.topic_partitions)])
    read, first, quiet_since = 0, 0.0, time.monotonic()
    try:
        while read < events:
            # One entry first, to start the clock; then batches, never of more than remain
            # (consume() waits out its timeout for a batch it cannot fill).
            wanted = min(1000, events - read) if read else 1
            messages = consumer.consume(num_messages=wanted, timeout=1.0)
            if messages:
                quiet_since = time.monotonic()
                first = first or time.perf_counter()
            elif time.monotonic() - quiet_since > 30:
                raise RuntimeError(f"reading {topic}: did not finish: {read:,} of {events:,}")
            for message in messages:
                if message.error() is None:
                    read += 1
                    if each is not None:
                        each(message.value() or b"")
        return (read - 1) / (time.perf_counter() - first)
    finally:
        consumer.close()


def best(measure: Callable[[], float], repeats: int = 3) -> float:
    """The best of ``repeats`` rates (the harness's rule, for measures that time themselves)."""
    return max(measure() for _ in range(repeats))


def confluent_noop(settings: Settings, events: int, timeout: float) -> Stage:
    """A group member that acknowledges each event (offsets stored, committed every second, as
    Faust commits): first event to last."""
    consumer = reader(
        settings,
        **{
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000,
            "enable.auto.offset.store": False,
        },
    )
    consumer.subscribe([settings.case_events_topic])
    count, first, first_cpu, deadline = 0, 0.0, 0.0, time.monotonic() + timeout
    try:
        while count < events and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            count += 1
            if count == 1:
                first, first_cpu = time.perf_counter(), time.process_time()
            consumer.store_offsets(message)
        last, cpu = time.perf_counter(), time.process_time() - first_cpu
    finally:
        consumer.close()
    per_s = (count - 1) / (last - first) if count > 1 else 0.0
    if count > 1:  # librdkafka's threads included: the whole client's cost
        say(f"pipeline: confluent-kafka loop: {cpu / (count - 1) * 1e6:,.1f} µs of CPU per event")
    return Stage(per_s, None if count == events else f"{count:,} of {events:,}")


def faust_noop(settings: Settings, events: int, work: Path, timeout: float, mode: str) -> Stage:
    """A Faust worker whose agent only acknowledges (``benchmarks/faust_noop.py``)."""
    result, log = work / f"faust-noop-{mode}.json", work / f"faust-noop-{mode}.log"
    argv = [
        sys.executable,
        "-m",
        "benchmarks.faust_noop",
        settings.bootstrap_servers(),
        settings.case_events_topic,
        str(settings.topic_partitions),
        str(events),
        str(result),
        mode,
    ]
    deadline = time.monotonic() + timeout
    with child(argv, dict(os.environ), log) as process:
        while not result.exists() and time.monotonic() < deadline:
            alive(process, log)
            time.sleep(POLL_S)
    if not result.exists():
        return Stage(0.0, f"no result within {timeout:.0f} s")
    done = json.loads(result.read_text())
    say(
        f"pipeline: Faust ({mode}): the first event came {done['startup_s']:.1f} s after start; "
        f"then {done['cpu_s'] / done['after_first'] * 1e6:,.0f} µs of CPU per event "
        f"({done['cpu_s'] / done['first_to_last_s']:.0%} of one core)"
    )
    return Stage(done["after_first"] / done["first_to_last_s"])


def rebuild(settings: Settings, events: int, timeout: float) -> Stage:
    """``hub replay`` of the alerts, in a thread so that a slow one can be left behind."""
    progress: list[Progress] = []
    outcome: list[tuple[Progress, float]] = []
    failure: list[BaseException] = []

    def work() -> None:
        start = time.perf_counter()
        try:
            done = replay(settings, REPLAYED, progress=progress.append)
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)
            return
        outcome.append((done, time.perf_counter() - start))

    thread = threading.Thread(target=work, name="replay", daemon=True)
    thread.start()
    thread.join(timeout)
    if failure:
        raise failure[0]
    if not outcome:
        applied = progress[-1].applied if progress else 0
        elapsed = progress[-1].elapsed_s if progress else timeout
        return Stage(applied / elapsed, f"{applied:,} of {events:,} within {timeout:.0f} s")
    done, wall = outcome[0]
    say(f"pipeline: replay applied {done.applied:,} entries in {wall:.1f} s, swap included")
    return Stage(done.applied / wall)
