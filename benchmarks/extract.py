"""A large SSDA903 extract through the connector runtime into the real broker, against bare CSV
reading + producing the same rows, in the same run; peak memory of each.

``python -m benchmarks extract`` (``HUB_BENCH_ROWS``, default 1,000,000). Each phase runs in a
child process so its peak resident memory is its own. Rows are synthetic episodes: one child
per 10 rows, the first starting a period of care (one event), so the runtime's work per row —
read, map, cursor lookup and commit, seal with the child's key, publish and await acks — is
measured, not just the events.
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from queue import Empty
from typing import BinaryIO

from confluent_kafka import Producer

from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.cursors import CursorStore
from hub.connectors.runtime import run_extract
from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import ensure_topics
from hub.kafka.local import temporary_broker
from hub.kafka.publisher import KafkaPublisher, producer_config
from hub.settings import Settings, default_state_dir
from hub.storage.engine import make_engine

HEADER = (
    "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
)


def write_extract(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write(HEADER + "\n")
        for i in range(rows):
            child, episode = divmod(i, 10)
            day = 1 + episode
            reason = "S" if episode == 0 else "P"
            out.write(
                f"{700000 + child},{day:02d}/01/2024,{reason},C2,N1,U1,PR1,{day + 1:02d}/01/2024,"
                f"X1,,M1 1AA,M2 2BB,SC{child % 1000}\n"
            )


def bare(path: str, settings: Settings, queue: multiprocessing.Queue[tuple[float, int]]) -> None:
    producer = Producer(producer_config(settings.bootstrap_servers(), client_id="b", timeout_s=60))
    start = time.perf_counter()
    with open(path, newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        rows = 0
        for row in reader:
            while True:
                try:
                    producer.produce(
                        settings.case_events_topic + ".bare",
                        ",".join(row).encode(),
                        key=row[0].encode(),
                    )
                    break
                except BufferError:  # local queue full: let deliveries drain it
                    producer.poll(0.1)
            producer.poll(0)
            rows += 1
    producer.flush(120)
    queue.put((rows / (time.perf_counter() - start), _peak_mib()))


def hub_run(path: str, settings: Settings, queue: multiprocessing.Queue[tuple[float, int]]) -> None:
    connector = SSDA903Episodes()
    config = connector.config(connector.example_config)
    engine = make_engine(settings.resolved_database_url())
    cursors = CursorStore(engine)
    cursors.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers(), client_id="bench-extract")
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    start = time.perf_counter()

    async def go(stream: BinaryIO) -> int:
        report = await run_extract(
            connector,
            config,
            connector.read(stream, "bench.csv"),
            extract="bench",
            input_name="bench.csv",
            sink=sink,
            cursors=cursors,
        )
        return report.records

    with open(path, "rb") as stream:
        rows = asyncio.run(go(stream))
    queue.put((rows / (time.perf_counter() - start), _peak_mib()))
    publisher.close()


def _peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _in_child(target: Callable[..., None], *args: object) -> tuple[float, int]:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[tuple[float, int]] = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"{target.__name__} failed (exit {process.exitcode})") from None
    process.join()
    return result


def run(rows: int | None = None) -> None:
    rows = rows or int(os.environ.get("HUB_BENCH_ROWS", "1000000"))
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = (
            os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            or stack.enter_context(
                temporary_broker(default_state_dir(), work / "kafka")
            ).bootstrap_servers
        )
        suffix = uuid.uuid4().hex[:8]
        settings = Settings.model_validate(
            {
                "kafka_bootstrap_servers": servers,
                "state_dir": work,
                "case_events_topic": f"bench.{suffix}",
                "quarantine_topic": f"bench-q.{suffix}",
                "dead_letter_topic": f"bench-d.{suffix}",
            }
        )
        ensure_topics(settings)
        path = work / "episodes.csv"
        write_extract(path, rows)
        size = path.stat().st_size / 2**20
        print(f"extract: {rows:,} rows ({size:,.0f} MiB), {rows // 10:,} children", flush=True)
        baseline, baseline_peak = _in_child(bare, str(path), settings)
        measured, peak = _in_child(hub_run, str(path), settings)
        print(
            f"{'extract: connector runtime into Kafka':<46} {measured:>12,.0f} rows/s   "
            f"baseline bare csv+produce: {baseline:>10,.0f} rows/s   "
            f"ratio {measured / baseline:6.1%}",
            flush=True,
        )
        print(f"extract: peak RSS {peak:,} MiB (bare {baseline_peak:,} MiB)", flush=True)
        rerun, _ = _in_child(hub_run, str(path), settings)
        print(f"{'extract: the same file again (all unchanged)':<46} {rerun:>12,.0f} rows/s")
