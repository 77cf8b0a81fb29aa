"""A Faust worker whose one agent only acknowledges: the runtime's own cost per event (ADR 0005).

``python -m benchmarks.faust_noop SERVERS TOPIC PARTITIONS EVENTS RESULT``, started by the
pipeline benchmark as a process of its own (a Faust worker owns its process: signals, event
loop, exit). The app is configured as the hub's worker configures its own (``memory://`` store,
no web server, earliest offsets, commits every second) and its agent iterates
``stream.events()`` and yields, as the worker's agents do, but applies nothing. When the
``EVENTS``-th event has arrived it writes ``RESULT`` (JSON: seconds from the process start to
the first event, and from the first event to the last) and keeps running until it is stopped.
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


def main(servers: str, topic_name: str, partitions: int, events: int, result: Path) -> None:
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
    count, first = 0, 0.0

    async def noop(stream: Any) -> AsyncIterator[None]:
        nonlocal count, first
        async for _event in stream.events():
            count += 1
            if count == 1:
                first = time.perf_counter()
            if count == events:
                _finish(result, started, first, events)
            yield None

    app.agent(topic, name="noop")(noop)
    Worker(app, loglevel="warning").execute_from_commandline()


def _finish(result: Path, started: float, first: float, events: int) -> None:
    last = time.perf_counter()
    partial = result.with_suffix(".partial")
    partial.write_text(
        json.dumps(
            {"events": events, "startup_s": first - started, "first_to_last_s": last - first}
        )
    )
    partial.rename(result)  # the reader never sees half a file


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
