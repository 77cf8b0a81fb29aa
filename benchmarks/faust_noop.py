"""A Faust worker whose one agent only acknowledges: the runtime's own cost per event (ADR 0005).

``python -m benchmarks.faust_noop SERVERS TOPIC PARTITIONS EVENTS RESULT MODE``, started by the
pipeline benchmark as a process of its own (a Faust worker owns its process: signals, event
loop, exit). The app is configured as the hub's worker configures its own (``memory://`` store,
no web server, earliest offsets, commits every second). Its agent applies nothing: with MODE
``each`` it iterates ``stream.events()`` and yields per event, as the worker's agents do; with
``batch`` it takes ``stream.take_events(size, within=WITHIN)``, as a batching runner would
(issue 19), to show whether Faust's own cost per event still caps a worker that batches. When
the ``EVENTS``-th event has arrived it writes ``RESULT`` (JSON: seconds from the process start
to the first event, from the first event to the last, how many came after the first, and the
CPU seconds spent meanwhile) and runs on until it is stopped.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust
from faust.worker import Worker

BATCH = 1000
WITHIN = 0.1  # seconds: an idle hub still applies a lone event at once, near enough


def main(
    servers: str, topic_name: str, partitions: int, events: int, result: Path, mode: str
) -> None:
    started = time.perf_counter()
    app = faust.App(
        f"bench-faust-noop-{uuid.uuid4().hex[:8]}",
        broker=[f"kafka://{server.strip()}" for server in servers.split(",") if server],
        store="memory://",
        web_enabled=False,
        topic_partitions=partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        datadir=tempfile.mkdtemp(prefix="bench-faust-"),
    )
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw", internal=False)
    count, first, first_cpu, in_first = 0, 0.0, 0.0, 0
    # A tenth of a small run per batch, so that some batches come after the clock starts.
    size = max(1, min(BATCH, events // 10))

    def seen(entries: int) -> None:
        nonlocal count, first, first_cpu, in_first
        if count == 0:
            first, first_cpu, in_first = time.perf_counter(), time.process_time(), entries
        count += entries
        if count >= events and not result.exists():
            _finish(result, started, first, first_cpu, count - in_first)

    async def each(stream: Any) -> AsyncIterator[None]:
        async for _event in stream.events():
            seen(1)
            yield None

    async def batch(stream: Any) -> AsyncIterator[None]:
        async for taken in stream.take_events(size, within=WITHIN):
            seen(len(taken))
            yield None

    app.agent(topic, name="noop")(each if mode == "each" else batch)
    Worker(app, loglevel="warning").execute_from_commandline()


def _finish(result: Path, started: float, first: float, first_cpu: float, after_first: int) -> None:
    """The clock starts when the first entry (or batch) is in hand: the rate counts the
    ``after_first`` entries that came after it. The process's CPU time over the same span says
    whether the runtime was busy (its own cost) or waiting (the broker, the machine)."""
    last, cpu = time.perf_counter(), time.process_time() - first_cpu
    partial = result.with_suffix(".partial")
    partial.write_text(
        json.dumps(
            {
                "startup_s": first - started,
                "first_to_last_s": last - first,
                "after_first": after_first,
                "cpu_s": cpu,
            }
        )
    )
    partial.rename(result)  # the reader never sees half a file


if __name__ == "__main__":
    main(
        sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]), sys.argv[6]
    )
