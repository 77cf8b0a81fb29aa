"""Sealing and opening case-events with the subject-key cache vs without, same run (ADR 0025).

``HUB_BENCH_KEY_EVENTS`` events (default 5,000) about one tenth as many people, sealed into
a fresh SQLite key store as connectors would (the first event about each person makes their
key), then opened by another key store object with a cold cache, as a worker just started
would. Three ways, each best of three (interleaved), each run on a fresh key store:

* **no cache** (the baseline, as before ADR 0025): a key-store transaction per sealed event,
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
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.log import CaseEventLog
from hub.events import CaseEvent, PersonIdentifier
from hub.kafka.codec import case_event_codec
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek
from tests.builders import missed

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


def once(events: Sequence[CaseEvent], mode: Mode) -> tuple[float, float]:
    """Seal and open rates (events/s) of one run on a fresh key store."""
    policy, seal, open_ = mode
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'keys.sqlite3'}")
        try:
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
    print(f"keys: {len(events):,} events, {len(events) // 10:,} people, SQLite key store")
    best = {name: (0.0, 0.0) for name in MODES}
    ceiling = 0.0
    for _ in range(3):  # the modes interleaved, so a busy moment does not favour one of them
        for name, mode in MODES.items():
            seal_rate, open_rate = once(events, mode)
            best[name] = (max(best[name][0], seal_rate), max(best[name][1], open_rate))
        ceiling = max(ceiling, codec_rate(events))
    base_seal, base_open = best["no cache"]
    for name, label in [
        ("each", "keys: cache, one event at a time (epoch per call)"),
        ("batches", f"keys: cache, batches of {BATCH} (epoch per batch)"),
    ]:
        seal_rate, open_rate = best[name]
        report(f"{label}, seal", seal_rate, "no cache", base_seal)
        report(f"{label}, open", open_rate, "no cache", base_open)
        both = _both(seal_rate, open_rate)
        report(f"{label}, seal+open", both, "no cache", _both(base_seal, base_open))
    report(
        "keys: batches, seal+open vs the codec alone",
        _both(*best["batches"]),
        "codec encode+decode",
        ceiling,
    )


def _both(seal_rate: float, open_rate: float) -> float:
    """Events sealed and opened per second, one after the other."""
    return 1 / (1 / seal_rate + 1 / open_rate)
