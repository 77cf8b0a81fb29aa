"""One worker process against two, on one PostgreSQL store: does a second one add throughput?

``python -m benchmarks workers [--events N]`` (default N = 12,000: 1,500 families of
``benchmarks/pipeline_workload.py``) answers a sizing question (``docs/sizing.md``): a second
worker on one SQLite store shares its one writer, and PostgreSQL is the store for more than one.

The workload is published once, to a case-event topic of four partitions, as the backlog after
an outage. Each run reads it with a database of its own on one throwaway PostgreSQL server
(fsync and synchronous commit on, as in production), the key store as published, and a family
topic and group of its own. Its ``hub worker`` processes start together, and the run is timed as
the pipeline suite times the worker: from the first applied entry until every projection's
stored position is at its topic's end. Both processes boot in the same seconds, so the group is
usually settled before the first entry; a handover after it is in the time.

Runs in the order 1, 2, 2, 1 worker processes (the machine's drift falls on both counts); the
best of each count is printed, and two processes' rate against one's measured in the same run.
Skipped when PostgreSQL is not installed.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from benchmarks.harness import report
from benchmarks.pipeline import bench_settings, produce, timeout_for
from benchmarks.pipeline_live import Stage, copy_store, live_pipeline, say
from benchmarks.pipeline_workload import families_for
from hub.kafka.admin import ensure_topics
from hub.kafka.local import temporary_broker
from hub.settings import default_state_dir
from tests.support.postgres import fresh_database, postgres_bin, postgres_server

DEFAULT_EVENTS: Final = 12_000
PARTITIONS: Final = 4  # shared 2 and 2 by two workers
ORDER: Final = (1, 2, 2, 1)


def run(events: int = DEFAULT_EVENTS, order: tuple[int, ...] = ORDER) -> None:
    """Runs of ``order``'s counts of worker processes; the best of each count printed, and two
    against one when both ran."""
    try:
        postgres_bin()
    except RuntimeError as error:
        print(f"workers: skipped: {error}", flush=True)
        return
    timeout = timeout_for(events)
    rates: dict[int, list[Stage]] = {count: [] for count in order}
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or (
            stack.enter_context(temporary_broker(default_state_dir(), work)).bootstrap_servers
        )
        server = stack.enter_context(postgres_server(durable=True))
        say(
            f"workers: {events:,} events, {families_for(events):,} families, {PARTITIONS} "
            f"partitions, PostgreSQL, runs of {', '.join(map(str, order))} worker processes"
        )
        published = bench_settings(servers, work, topic_partitions=PARTITIONS)
        produce(published, events)
        for run_number, count in enumerate(order):
            with fresh_database(server.url, "workers") as url:
                logs = work / f"run-{run_number}"
                settings = published.model_copy(
                    update={
                        # the subjects' keys as published, the rest of the store empty
                        "state_dir": copy_store(published.state_dir, logs),
                        "database_url": SecretStr(url),
                        "family_events_topic": f"{published.family_events_topic}.{run_number}",
                        "worker_group": f"{published.worker_group}-{run_number}",
                    }
                )
                ensure_topics(settings)
                stage = live_pipeline(settings, events, logs, timeout, None, processes=count)
            say(f"workers: run {run_number + 1}, {count} process(es): {stage.per_s:,.0f} /s")
            rates[count].append(stage)
    best = {count: max(stage.per_s for stage in stages) for count, stages in rates.items()}
    for count, stages in sorted(rates.items()):
        name = f"workers: {count} worker process{'es' if count > 1 else ''}, PostgreSQL"
        if count == 1 or 1 not in best:
            print(f"{name + f' (best of {len(stages)})':<46} {best[count]:>12,.0f} /s", flush=True)
        else:
            report(name, best[count], "1 process", best[1])
        for stage in stages:
            if stage.short_of:
                print(f"workers: a run of {count} did not finish: {stage.short_of}", flush=True)
