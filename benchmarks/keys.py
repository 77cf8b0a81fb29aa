"""Sealing and opening case-events with the subject-key cache vs without, same run (ADR 0025).

``HUB_BENCH_KEY_EVENTS`` events (default 5,000) about one tenth as many people, sealed into
a fresh key store (SQLite; PostgreSQL too with ``HUB_BENCH_KEYS_POSTGRES=1``, a throwaway
server as the tests start) as connectors would (the first event about each person makes their
key), then opened by another key store object with a cold cache, as a worker just started
would. Three ways, each best of three (interleaved), each run on a fresh key store:

* **no cache** (the baseline, as before ADR 0025 but for one `UNION ALL` query per sealed event
  where there were two): a key-store read per sealed event (and an insert for a new person),
  a query and an unwrap per opened one;
* **cache, one event at a time** (a request, an HL7 message): the erasure epoch read per call;
* **cache, batches** of ``BATCH`` (the worker's runner, a sink's batch, a replay):
  ``encode_many``/``decode_many`` — one epoch read per batch, the batch's new people's keys made
  in one insert, a cold batch's secrets read in one query.

And the batches against the event codec alone (no key, no AES-GCM): what is left to gain.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.harness import report
from hub.erasure.key_cache import NO_CACHE, CachePolicy
from hub.erasure.keystore import SubjectKeyStore, key_metadata
from hub.erasure.log import CaseEventLog
from hub.events import CaseEvent
from hub.kafka.codec import case_event_codec
from hub.payloads import PersonIdentifier
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek
from tests.builders import missed
from tests.support.postgres import temporary_postgres

BATCH = 500
KEK = LocalKek.generate()

Seal = Callable[[CaseEventLog, Sequence[CaseEvent]], list[bytes]]
Open = Callable[[CaseEventLog, Sequence[bytes]], int]


def workload(events: int) -> list[CaseEvent]:
    """``events`` missed appointments, ten per person, people interleaved as on a topic."""
    people = max(1, events // 10)
    return [
        missed(f"APT-{i}").model_copy(
            update={"subject": (PersonIdentifier(system="urn:bench", value=str(i % people)),)}
        )
        for i in range(events)
    ]


def seal_each(log: CaseEventLog, events: Sequence[CaseEvent]) -> list[bytes]:
    return [log.encode(event)[1] for event in events]


def open_each(log: CaseEventLog, values: Sequence[bytes]) -> int:
    for value in values:
        log.decode(value)
    return len(values)


def seal_batches(log: CaseEventLog, events: Sequence[CaseEvent]) -> list[bytes]:
    values: list[bytes] = []
    for start in range(0, len(events), BATCH):
        for sealed in log.encode_many(events[start : start + BATCH]):
            assert not isinstance(sealed, Exception)
            values.append(sealed[1])
    return values


def open_batches(log: CaseEventLog, values: Sequence[bytes]) -> int:
    for start in range(0, len(values), BATCH):
        log.decode_many(values[start : start + BATCH])
    return len(values)


Mode = tuple[CachePolicy, Seal, Open]
MODES: dict[str, Mode] = {
    "no cache": (NO_CACHE, seal_each, open_each),
    "each": (CachePolicy(), seal_each, open_each),
    "batches": (CachePolicy(), seal_batches, open_batches),
}


def once(events: Sequence[CaseEvent], mode: Mode, url: str) -> tuple[float, float]:
    """Seal and open rates (events/s) of one run on a fresh key store at ``url``."""
    policy, seal, open_ = mode
    engine = make_engine(url)
    try:
        key_metadata.drop_all(engine)
        sealer = SubjectKeyStore(engine, KEK, cache=policy)
        opener = SubjectKeyStore(engine, KEK, cache=policy)  # another process's cache
        sealer.create_schema()
        opener.create_schema()
        start = time.perf_counter()
        values = seal(CaseEventLog(sealer, "bench"), events)
        sealed_at = time.perf_counter()
        opened = open_(CaseEventLog(opener, "bench"), values)
        done = time.perf_counter()
    finally:
        engine.dispose()
    return len(values) / (sealed_at - start), opened / (done - sealed_at)


def codec_rate(events: Sequence[CaseEvent]) -> float:
    """Encode + decode through the event codec alone: the ceiling once keys cost nothing."""
    codec = case_event_codec("bench")
    start = time.perf_counter()
    for event in events:
        codec.decode(codec.encode(event))
    return len(events) / (time.perf_counter() - start)


def run() -> None:
    events = workload(int(os.environ.get("HUB_BENCH_KEY_EVENTS", "5000")))
    with tempfile.TemporaryDirectory() as directory:
        suite(events, "SQLite", f"sqlite:///{Path(directory) / 'keys.sqlite3'}")
        if os.environ.get("HUB_BENCH_KEYS_POSTGRES"):
            with temporary_postgres(Path(directory) / "postgres") as url:
                suite(events, "PostgreSQL", url)


def suite(events: Sequence[CaseEvent], name: str, url: str) -> None:
    print(f"keys: {len(events):,} events, {len(events) // 10:,} people, {name} key store")
    best = {mode: (0.0, 0.0) for mode in MODES}
    ceiling = 0.0
    for _ in range(3):  # the modes interleaved, so a busy moment does not favour one of them
        for mode, how in MODES.items():
            seal_rate, open_rate = once(events, how, url)
            best[mode] = (max(best[mode][0], seal_rate), max(best[mode][1], open_rate))
        ceiling = max(ceiling, codec_rate(events))
    base_seal, base_open = best["no cache"]
    for mode, label in [
        ("each", f"keys ({name}): cache, one event at a time"),
        ("batches", f"keys ({name}): cache, batches of {BATCH}"),
    ]:
        seal_rate, open_rate = best[mode]
        report(f"{label}, seal", seal_rate, "no cache", base_seal)
        report(f"{label}, open", open_rate, "no cache", base_open)
        both = _both(seal_rate, open_rate)
        report(f"{label}, seal+open", both, "no cache", _both(base_seal, base_open))
    report(
        f"keys ({name}): batches, seal+open",
        _both(*best["batches"]),
        "codec encode+decode",
        ceiling,
    )


def _both(seal_rate: float, open_rate: float) -> float:
    """Events sealed and opened per second, one after the other."""
    return 1 / (1 / seal_rate + 1 / open_rate)
