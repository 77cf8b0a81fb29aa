"""The worker timed in a child process until every projection's stored position is at the end
of its topic, and what the pipeline's stages share: a stage's rate, progress on stderr, a child
process and its CPU (issue 19; ``benchmarks/pipeline.py`` runs the stages)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from confluent_kafka import Consumer, KafkaException, TopicPartition
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from benchmarks.harness import cpu_seconds, machine_busy_seconds
from hub.kafka.admin import ensure_topics
from hub.kafka.errors import passing
from hub.projections.resume import stored_projections
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.storage.positions import positions_of
from tests.support.processes import settings_env, stop

POLL_S: Final = 0.25
ROOT: Final = Path(__file__).resolve().parents[1]
HUB_WORKER: Final = ("-m", "hub", "worker")
# ADR 0005's proposal, measured: the same two stages fed by a confluent-kafka group loop.
KAFKA_LOOP: Final = ("-m", "benchmarks.kafka_loop_worker")


@dataclass(frozen=True)
class Stage:
    """One measured rate; ``short_of`` says how far a stage that ran out of time got."""

    per_s: float
    short_of: str | None = None


def say(message: str) -> None:
    """Progress, on stderr: stdout is for the figures (``--json``: one object)."""
    print(message, file=sys.stderr, flush=True)


def reader(settings: Settings, **config: object) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers(),
            "group.id": f"bench-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            **config,
        }
    )


@contextmanager
def child(
    argv: list[str], env: dict[str, str], log: Path, stop_s: float = 60
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process for the block's duration, its output in ``log``; SIGTERM at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules, no shell
            argv, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        stop(process, stop_s)


def alive(process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is not None:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{log.stem} exited with {process.returncode}:\n{tail}")


def copy_store(state_dir: Path, to: Path) -> Path:
    """The state directory's files copied to ``to``, each SQLite database through SQLite's
    backup API (a copy of the file's bytes is not a copy of the database)."""
    to.mkdir(mode=0o700)
    for path in state_dir.iterdir():
        if path.suffix == ".sqlite3":
            with (
                closing(sqlite3.connect(path)) as source,
                closing(sqlite3.connect(to / path.name)) as copy,
            ):
                source.backup(copy)
        elif path.is_file():
            shutil.copy2(path, to / path.name)
    return to


def loop_settings(settings: Settings, state_dir: Path) -> Settings:
    """``settings`` for the stages under the confluent-kafka loop: the store copied before the
    worker ran, a family topic and consumer groups of their own, the same case-events."""
    looped = settings.model_copy(
        update={
            "state_dir": state_dir,
            "family_events_topic": f"{settings.family_events_topic}.loop",
            "worker_group": f"{settings.worker_group}-loop",
        }
    )
    ensure_topics(looped)
    return looped


def live_pipeline(
    settings: Settings,
    events: int,
    work: Path,
    timeout: float,
    profile: Path | None,
    worker: tuple[str, ...] = HUB_WORKER,
    processes: int = 1,
) -> Stage:
    """``processes`` of ``worker`` (``hub worker`` unless told), started together, from the
    first applied entry until every projection is at the end."""
    if profile is not None and processes != 1:
        raise ValueError("a profile is of one worker process")
    expected = stored_projections(settings)
    engine = make_engine(settings.resolved_database_url())
    ends = reader(settings)
    stem = worker[-1].rsplit(".", 1)[-1]
    if profile is None:
        argv = [sys.executable, *worker]
    else:
        argv = [sys.executable, "-m", "benchmarks.profiled_worker", str(profile.resolve())]
    logs = [
        work / (f"{stem}.log" if processes == 1 else f"{stem}-{n}.log") for n in range(processes)
    ]
    started = time.perf_counter()
    first: float | None = None
    first_cpu = first_busy = 0.0
    try:
        with ExitStack() as running:
            children = [
                (running.enter_context(child(argv, settings_env(settings), log, stop_s=300)), log)
                for log in logs
            ]

            def cpu() -> float:
                return cpu_seconds([process.pid for process, _ in children])

            while True:
                for process, log in children:
                    alive(process, log)
                now = time.perf_counter()
                held = progress(settings, engine, ends, expected)
                if held is None:  # the store was busy, or the broker electing: ask again
                    time.sleep(POLL_S)
                    continue
                applied, done = held
                if first is None and any(applied.values()):
                    first, first_cpu, first_busy = now, cpu(), machine_busy_seconds()
                    say(
                        f"pipeline: the worker applied its first entry {now - started:.1f} s "
                        "after it started"
                    )
                if done:
                    spent, busy = cpu() - first_cpu, machine_busy_seconds() - first_busy
                    # A small workload can be applied within one poll: the span is then
                    # known only to the poll's resolution, not zero.
                    elapsed = max(now - (first or started), POLL_S)
                    say(
                        f"pipeline: every projection at the end after {now - started:.1f} s; "
                        f"the {_workers(processes)} spent {spent / events * 1e3:,.2f} ms of CPU "
                        f"per event ({spent / elapsed:.0%} of one core; the machine's cores "
                        f"{busy / elapsed:.2f} busy in all)"
                    )
                    return Stage(events / elapsed)
                if now - started > timeout:
                    through = min(applied[name] for name in expected[settings.family_events_topic])
                    index = sum(applied[name] for name in expected[settings.case_events_topic])
                    return Stage(
                        through / (now - (first or started)),
                        f"{through:,} of {events:,} events through every projection within "
                        f"{timeout:.0f} s (the person index: {index:,})",
                    )
                time.sleep(POLL_S)
    finally:
        ends.close()
        engine.dispose()


def _workers(processes: int) -> str:
    return "worker" if processes == 1 else f"{processes} workers"


def progress(
    settings: Settings, engine: Engine, ends: Consumer, expected: dict[str, list[str]]
) -> tuple[dict[str, int], bool] | None:
    """Entries each projection has applied, and whether every one is at its topic's end and
    the family topic holds every case-event (the person index stores its position before it
    forwards); None if the store was busy or has no tables yet (a fresh PostgreSQL database
    before the worker made them), or the broker's answer retriable (a partition's leader not yet
    known on a new topic)."""
    partitions = range(settings.topic_partitions)
    try:
        highs = {
            topic: [
                ends.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in partitions
            ]
            for topic in expected
        }
    except KafkaException as error:
        if passing(error):
            return None
        raise
    try:
        with engine.connect() as connection:
            stored = {
                (topic, name): positions_of(connection, name)
                for topic, names in expected.items()
                for name in names
            }
    except (OperationalError, ProgrammingError):  # busy, or (PostgreSQL) no tables made yet
        return None
    applied = {
        name: sum(held.get((topic, p), 0) for p in partitions)
        for (topic, name), held in stored.items()
    }
    at_end = all(
        held.get((topic, p), 0) >= highs[topic][p]
        for (topic, _), held in stored.items()
        for p in partitions
    )
    forwarded = sum(highs[settings.family_events_topic]) >= sum(highs[settings.case_events_topic])
    return applied, at_end and forwarded
