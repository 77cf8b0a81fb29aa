"""Encode+decode of case-events through the hub's codec vs bare fastavro on the same datums."""

from __future__ import annotations

import io
import tempfile
from datetime import timedelta
from pathlib import Path

import fastavro

from benchmarks.harness import rate, report
from hub.alerts.fold import fold
from hub.alerts.state import Rules, empty_state
from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.log import CaseEventLog
from hub.events import CaseEvent
from hub.kafka.codec import case_event_codec, case_event_to_avro, load_schema
from hub.storage.engine import make_engine
from hub.storage.kek import LocalKek
from tests.builders import T0, assigned, missed

N = 20_000


def sample_events() -> list[CaseEvent]:
    events = [assigned("mw-1")]
    events += [missed(f"APT-{i}", at=T0 + timedelta(minutes=i)) for i in range(N - 1)]
    return events


def run() -> None:
    events = sample_events()
    codec = case_event_codec("bench")
    schema = fastavro.parse_schema(load_schema("case_event"))
    datums = [case_event_to_avro(e) for e in events]

    def bare() -> int:
        for datum in datums:
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, schema, datum)
            buffer.seek(0)
            fastavro.schemaless_reader(buffer, schema, schema, return_record_name=True)
        return len(datums)

    def hub() -> int:
        for event in events:
            codec.decode(codec.encode(event))
        return len(events)

    codec_rate = rate(hub)  # also the baseline of the sealed log below
    report(
        "codec: CaseEvent encode+decode (pydantic+framing)", codec_rate, "bare fastavro", rate(bare)
    )

    # One person's state holds a handful of alerts, not thousands: fold each event into the
    # same small state, as the worker does after loading one person from the store.
    person, _ = fold(empty_state("9434765919"), events[0], Rules())

    def folding() -> int:
        for event in events[1:]:
            fold(person, event, Rules())
        return len(events) - 1

    def decode_only() -> int:
        encoded = [codec.encode(e) for e in events[:2000]]
        for data in encoded:
            codec.decode(data)
        return len(encoded)

    report("fold: missed-appointment fold (pure)", rate(folding), "codec decode", rate(decode_only))

    # Sealing (ADR 0009): key lookup in SQLite + AES-256-GCM on top of the codec.
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'keys.sqlite3'}")
        log = CaseEventLog(SubjectKeyStore(engine, LocalKek.generate()), "bench")
        sample = events[:5000]

        def sealed() -> int:
            for event in sample:
                log.decode(log.encode(event)[1])
            return len(sample)

        report(
            "sealed log: encode+decode (key lookup + AES-GCM + codec)",
            rate(sealed),
            "codec encode+decode",
            codec_rate,
        )
        engine.dispose()
