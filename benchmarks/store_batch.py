"""A store's batch against one entry at a time, same run, same workload (issue 19, ADR 0026).

``python -m benchmarks store-batch``. ``HUB_BENCH_BATCH_EVENTS`` family-topic entries (default
20,000) about a tenth as many families, interleaved as one partition holds them: a
registration, a midwife assigned, then bookings and no-shows. Each family-topic projection
(missed-appointment alerts, team around the family, sharing facts) applies them into a fresh
database, straight into the store (no Kafka, no codec: the store's own cost):

* **one at a time** (the baseline): ``apply`` per entry, one transaction each, over the first
  ``HUB_BENCH_BATCH_BASELINE`` entries (default 2,000; it is slow);
* **batches** of ``BATCH``: ``apply_batch``, one transaction per batch, over all of them.

On SQLite with ``synchronous=FULL`` (the hub's engine) and ``NORMAL`` (what a sync per commit
costs, ADR 0026), and on PostgreSQL too with ``HUB_BENCH_POSTGRES=1`` (a throwaway server, as
the tests start).
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from benchmarks.harness import report
from hub.alerts.changes import feed
from hub.alerts.store import MissedAppointmentStore
from hub.erasure.sealing import LogEntry
from hub.nhs_number import valid_nhs_numbers
from hub.projections.registry import derived_tables
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.storage.positions import BatchEntry, positions
from hub.storage.schema import create_tables
from hub.team.store import TeamStore
from tests.builders import assigned, booked, missed, registered
from tests.support.postgres import temporary_postgres

BATCH = 500
TOPIC = "family-events"
EVENTS_PER_FAMILY = 10


def family(n: int, subject: str) -> Iterator[LogEntry]:
    yield registered(f"Given{n}", "Example", nhs_number=subject)
    yield assigned(f"mw-{n % 200}", nhs_number=subject)
    for i in range((EVENTS_PER_FAMILY - 2) // 2):
        yield booked(f"APT-{n}-{i}", nhs_number=subject)
        yield missed(f"APT-{n}-{i}", nhs_number=subject)


def workload(events: int) -> list[BatchEntry[LogEntry]]:
    """``events`` entries of ``events / 10`` families, round robin, keyed by family."""
    families = max(1, events // EVENTS_PER_FAMILY)
    numbers = itertools.islice(valid_nhs_numbers(100_000_000), families)
    stories = [
        [(entry, f"family-{n}".encode()) for entry in family(n, subject)]
        for n, subject in enumerate(numbers)
    ]
    mixed = [e for row in itertools.zip_longest(*stories) for e in row if e is not None]
    return [BatchEntry(offset, entry, key) for offset, (entry, key) in enumerate(mixed[:events])]


Store = Callable[[Engine], Any]
STORES: dict[str, Store] = {
    "alerts": MissedAppointmentStore,
    "team": TeamStore,
    "sharing facts": SharingStore,
}


def fresh(engine: Engine) -> None:
    """Every projection table, the change feed and the positions, empty."""
    tables = [*derived_tables(), feed, positions]
    create_tables(engine, *tables)
    with engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())


def one_at_a_time(store: Any, entries: Sequence[BatchEntry[LogEntry]]) -> int:
    for item in entries:
        store.apply(TOPIC, 0, item.offset, item.entry, item.key)
    return len(entries)


def in_batches(store: Any, entries: Sequence[BatchEntry[LogEntry]]) -> int:
    for start in range(0, len(entries), BATCH):
        store.apply_batch(TOPIC, 0, entries[start : start + BATCH])
    return len(entries)


def timed(work: Callable[[], int]) -> float:
    start = time.perf_counter()
    items = work()
    return items / (time.perf_counter() - start)


def measure(
    label: str, make: Callable[[], Engine], entries: Sequence[BatchEntry[LogEntry]]
) -> None:
    baseline = entries[: int(os.environ.get("HUB_BENCH_BATCH_BASELINE", "2000"))]
    for name, build in STORES.items():
        rates: dict[str, float] = {}
        for way, work, these in (("one", one_at_a_time, baseline), ("batch", in_batches, entries)):
            engine = make()
            fresh(engine)
            store = build(engine)
            rates[way] = timed(lambda: work(store, these))  # noqa: B023 (called at once)
            engine.dispose()
        report(
            f"{label} {name}, batches of {BATCH}",
            rates["batch"],
            f"one at a time ({len(baseline):,})",
            rates["one"],
        )


def synchronous(engine: Engine, level: str) -> Engine:
    """``engine`` with SQLite's ``synchronous`` set to ``level`` on every connection, after the
    hub's own pragmas."""

    @event.listens_for(engine, "connect")
    def _level(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={level}")
        cursor.close()

    return engine


def run() -> None:
    events = int(os.environ.get("HUB_BENCH_BATCH_EVENTS", "20000"))
    entries = workload(events)
    families = len(entries) // EVENTS_PER_FAMILY
    print(f"store batches: {len(entries):,} entries, {families:,} families", flush=True)
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for level in ("FULL", "NORMAL"):
            url = f"sqlite:///{folder / f'bench-{level}.sqlite3'}"
            measure(f"SQLite {level}", lambda: synchronous(make_engine(url), level), entries)  # noqa: B023
        if os.environ.get("HUB_BENCH_POSTGRES") == "1":
            url = stack.enter_context(temporary_postgres(folder / "postgres"))
            measure("PostgreSQL", lambda: make_engine(url), entries)
