"""Extract runs against the real broker and the cursor on SQLite and PostgreSQL: re-running
publishes nothing, a changed row publishes only its new facts, a vanished row is reported, a
bad row is quarantined with its place, and a crashed run resumes without losing anything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.cursors import CursorStore
from hub.connectors.runtime import ExtractReport, Sink, run_extract
from hub.connectors.sdk import InputError
from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent
from hub.ingest.sink import CaseEventSink, Published
from hub.kafka.publisher import Delivery, KafkaPublisher
from hub.quarantine import QuarantineRecord
from hub.settings import Settings
from tests.support.topics import quarantine_read, read_case_events, read_topic

HEADER = (
    "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,"
    "HOME_POST,PL_POST,URN\n"
)
ROWS = [
    "200001,01/04/2024,S,C2,N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1\n",
    "200002,02/04/2024,S,C2,N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1\n",
    "200003,03/04/2024,S,V2,N2,U1,PR1,04/05/2024,E11,,M1 1AA,M2 2BB,SC1\n",
    "200004,04/04/2024,S,C2,N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1\n",
    "200005,05/04/2024,S,C2,N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1\n",
    "200006,06/04/2024,S,C2,N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1\n",
]
CONNECTOR = SSDA903Episodes()
CONFIG = CONNECTOR.config(CONNECTOR.example_config)


def run(path: Path, sink: Sink, cursors: CursorStore, *, batch_size: int = 1000) -> ExtractReport:
    async def go() -> ExtractReport:
        with path.open("rb") as stream:
            return await run_extract(
                CONNECTOR,
                CONFIG,
                CONNECTOR.read(stream, path.name),
                extract="lac",
                input_name=path.name,
                sink=sink,
                cursors=cursors,
                batch_size=batch_size,
                attempts=1,
            )

    return asyncio.run(go())


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    settings: Settings = make_settings()
    return settings


@pytest.fixture
def sink(settings: Settings) -> Iterator[CaseEventSink]:
    publisher = KafkaPublisher(settings.bootstrap_servers())
    yield CaseEventSink(publisher, settings, open_key_store(settings))
    publisher.close()


@pytest.fixture
def cursors(sql_engine: Engine) -> CursorStore:
    return CursorStore(sql_engine)


@pytest.mark.kafka
def test_rerun_change_and_disappearance(
    tmp_path: Path, settings: Settings, sink: CaseEventSink, cursors: CursorStore
) -> None:
    extract = tmp_path / "episodes.csv"
    extract.write_text(HEADER + "".join(ROWS))
    first = run(extract, sink, cursors)
    # 6 starts, 1 end, and that end's adoption (E11) is also a permanence event (ADR 0031)
    assert (first.records, first.published, first.refused) == (6, 8, 0)

    again = run(extract, sink, cursors)
    assert (again.published, again.unchanged, again.disappeared) == (0, 6, [])

    changed = ROWS[0].replace(",,,,M1", ",30/06/2024,E4A,,M1")  # the first period of care ends
    extract.write_text(HEADER + changed + "".join(ROWS[1:5]))  # and 200006 is gone
    third = run(extract, sink, cursors)
    assert (third.published, third.changed, third.unchanged) == (1, 1, 4)
    assert third.disappeared == ["200006|06/04/2024"]
    assert run(extract, sink, cursors).disappeared == []  # reported once

    events = read_case_events(settings, expect=9)
    assert len(events) == 9
    assert [
        e.payload.model_dump(mode="json", exclude_none=True)  # England's: no jurisdiction
        for e in events
        if e.source_record_id == "200001|01/04/2024" and e.event_type == "PLAN_ENDED"
    ] == [
        {
            "plan_id": "200001:LAC",
            "plan_type": "LOOKED_AFTER",
            "ended_on": "2024-06-30",
            "reason": "E4A",
        }
    ]


@pytest.mark.kafka
def test_a_bad_row_is_quarantined_with_its_place_and_the_rest_proceed(
    tmp_path: Path, settings: Settings, sink: CaseEventSink, cursors: CursorStore
) -> None:
    bad = "200009,31/02/2024,S,C2,N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1\n"
    extract = tmp_path / "episodes.csv"
    extract.write_text(HEADER + ROWS[0] + bad + ROWS[1])
    report = run(extract, sink, cursors)
    assert (report.published, report.refused) == (2, 1)
    assert report.refusals[0].describe() == (
        "episodes.csv:3 DECOM: '31/02/2024' is not a date (expected DD/MM/YYYY or YYYY-MM-DD)"
    )
    [message] = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=1)
    record = quarantine_read(settings).decode(message.value() or b"")
    assert isinstance(record, QuarantineRecord)
    assert record.raw == bad.encode()
    assert "episodes.csv:3" in record.reason
    assert [(e.location, e.message) for e in record.errors] == [
        ("DECOM", "'31/02/2024' is not a date (expected DD/MM/YYYY or YYYY-MM-DD)")
    ]
    assert len(read_case_events(settings, expect=2)) == 2


class CrashError(Exception):
    pass


class CrashingSink:
    """The real sink, until the ``crash_at``-th event: then the process "dies"."""

    def __init__(self, sink: CaseEventSink, crash_at: int) -> None:
        self._sink, self._left = sink, crash_at

    async def publish_many(self, events: Sequence[CaseEvent]) -> list[Published]:
        """The events before the ``crash_at``-th are written, then the process "dies"."""
        written = await self._sink.publish_many(events[: max(self._left, 0)])
        self._left -= len(events)
        if self._left < 0:
            raise CrashError  # not a PublishError: nothing retries a dead process
        return written

    async def quarantine(self, record: QuarantineRecord) -> Delivery:
        return await self._sink.quarantine(record)


@pytest.mark.kafka
def test_a_crashed_run_resumes_where_it_stopped(
    tmp_path: Path, settings: Settings, sink: CaseEventSink, cursors: CursorStore
) -> None:
    extract = tmp_path / "episodes.csv"
    extract.write_text(HEADER + "".join(ROWS))
    with pytest.raises(CrashError):
        run(extract, CrashingSink(sink, crash_at=4), cursors, batch_size=2)
    resumed = run(extract, sink, cursors, batch_size=2)
    # Batch 1 (rows 1-2) was committed; batch 2 was in flight when the process died.
    assert resumed.unchanged == 2
    assert resumed.disappeared == []
    events = read_case_events(settings, expect=8)  # 7 as above, and the adoption's permanence
    assert {e.source_record_id for e in events} == {row[:17].replace(",", "|") for row in ROWS}
    assert len({e.event_id for e in events}) == 8  # nothing lost
    assert len(events) - 8 <= 2  # duplicates only from the batch in flight (same ids)


@pytest.mark.kafka
def test_input_unreadable_further_on_stops_the_run_after_the_batches_before_it(
    tmp_path: Path, sink: CaseEventSink, cursors: CursorStore
) -> None:
    """The next batch is read while the one before it is published: bytes that are not UTF-8
    far into the file (past the reader's first chunks) stop the run, but only once the batches
    before them have published and committed."""
    rows = [f"{300000 + i},01/04/2024,P,C2,N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1\n" for i in range(500)]
    extract = tmp_path / "episodes.csv"
    extract.write_bytes((HEADER + "".join(rows)).encode() + b"\xff\xfe,bad\n")
    with pytest.raises(InputError, match="not readable CSV"):
        run(extract, sink, cursors, batch_size=100)
    extract.write_text(HEADER + "".join(rows[:100]))
    again = run(extract, sink, cursors, batch_size=100)
    assert (again.records, again.unchanged) == (100, 100)  # the first batch was committed
