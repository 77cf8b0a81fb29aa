"""Connectors publish a batch at a time and await its acknowledgements together (issue 19).

Against the real broker and key store: an upload is answered only once every event of its rows
is in Kafka, with the ids its mapping gives them; an event too large for any record refuses its
row alone; an extract the broker stops taking mid-batch resumes without losing or inventing an
event; and two MLLP connections do not wait for one another while each keeps its order.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path

import hl7
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from fastapi.testclient import TestClient
from hl7.client import MLLPClient
from sqlalchemy import Column, MetaData, String, Table, insert

from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.cursors import CursorStore
from hub.connectors.outcomes import Mapped, translate
from hub.connectors.runtime import PUBLISH_BATCH, ExtractReport, run_extract
from hub.connectors.sdk import Record, read_view
from hub.connectors.voluntary.activity import VoluntaryActivity
from hub.erasure.keystore import open_key_store
from hub.events import deterministic_event_id, utc_now
from hub.http.app import create_api
from hub.ingest.record_limits import joined
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import admin
from hub.kafka.publisher import KafkaPublisher, PublishError
from hub.nhs_number import valid_nhs_numbers
from hub.settings import Settings
from hub.storage.engine import make_engine
from tests.builders import HOME_START
from tests.e2e.conftest import reader, register_readers
from tests.support.topics import quarantine_read, read_case_events, read_topic

pytestmark = pytest.mark.kafka

CHARITY_SYSTEM = reader("homestart-system", HOME_START, "PARTNER_SYSTEM")
ACTIVITY_HEADER = (
    "record_id,event,occurred_on,nhs_number,programme,worker_id,session_id,session_start"
)
EPISODES = SSDA903Episodes()
EPISODES_CONFIG = EPISODES.config(EPISODES.example_config)
EPISODE_COLUMNS = [
    *("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC"),
    *("REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"),
]
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hl7v2"
GOLDEN_S26 = GOLDEN / "siu-s26-noshow-start-in-ais.input.hl7"


def _high_watermarks(settings: Settings) -> int:
    """The records in the case-event topic now: the sum of its partitions' high watermarks."""
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers(), "group.id": "hw"})
    try:
        topic = consumer.list_topics(settings.case_events_topic, timeout=10).topics
        partitions = topic[settings.case_events_topic].partitions
        return sum(
            consumer.get_watermark_offsets(
                TopicPartition(settings.case_events_topic, p), timeout=10
            )[1]
            for p in partitions
        )
    finally:
        consumer.close()


def _activity_rows(people: int, sessions: int) -> bytes:
    numbers = valid_nhs_numbers(900_000_000)
    lines = [ACTIVITY_HEADER]
    for person in range(people):
        nhs_number = next(numbers)
        for session in range(sessions):
            day = f"2026-01-{session + 1:02d}"
            lines.append(
                f"HS-{person}-{session},session_attended,,{nhs_number},Baby and Me,HS-W-3,"
                f"GRP-{day},{day}T10:00:00"
            )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def upload_client(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, TestClient]]:
    partners = tmp_path / "partners"
    partners.mkdir()
    (partners / "homestart.toml").write_text(
        f'organisation_code = "{HOME_START}"\nconnector = "voluntary-activity"\n'
        f'[config]\nsystem = "homestart-lamplight"\norganisation_code = "{HOME_START}"\n'
        'programme = "Baby and Me"\n'
    )
    settings = make_settings(partners_dir=partners)
    with TestClient(create_api(settings)) as client:
        register_readers(settings.resolved_database_url())
        yield settings, client


def test_an_upload_is_answered_once_every_event_is_in_kafka_with_its_mapped_ids(
    upload_client: tuple[Settings, TestClient],
) -> None:
    settings, client = upload_client
    body = _activity_rows(people=300, sessions=4)  # 1,200 rows: three publishing batches
    rows = body.count(b"\n") - 1
    assert rows > 2 * PUBLISH_BATCH
    headers = {**CHARITY_SYSTEM, "content-type": "text/csv", "x-filename": "january.csv"}

    answer = client.post(f"/partners/{HOME_START}/uploads", content=body, headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"records": rows, "published": rows, "refused": []}
    # Acknowledged by the broker before the answer: every record is below the high watermark
    # the moment the 200 is in hand, not merely soon after.
    assert _high_watermarks(settings) == rows
    connector = VoluntaryActivity()
    config = connector.config(
        {
            "system": "homestart-lamplight",
            "organisation_code": HOME_START,
            "programme": "Baby and Me",
        }
    )
    mapped = translate(
        connector, config, connector.read(io.BytesIO(body), "january.csv"), utc_now()
    )
    expected = {str(e.event_id) for o in mapped if isinstance(o, Mapped) for e in o.events}
    assert len(expected) == rows
    in_log = [str(e.event_id) for e in read_case_events(settings, expect=rows)]
    assert sorted(in_log) == sorted(expected)

    again = client.post(f"/partners/{HOME_START}/uploads", content=body, headers=headers)
    assert again.status_code == 200, again.text
    assert _high_watermarks(settings) == 2 * rows
    resent = [str(e.event_id) for e in read_case_events(settings, expect=2 * rows)]
    assert sorted(resent) == sorted(in_log * 2)  # the same ids: the projections absorb it


@pytest.fixture
def sink(make_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, CaseEventSink]]:
    settings = make_settings()
    publisher = KafkaPublisher(settings.bootstrap_servers(), timeout_s=5)
    yield settings, CaseEventSink(publisher, settings, open_key_store(settings))
    publisher.close()


def _episode(child: int, legal_status: str = "C2") -> dict[str, str]:
    values = f"{child},01/04/2024,S,{legal_status},N1,U1,PR1,,,,M1 1AA,M2 2BB,SC1".split(",")
    return dict(zip(EPISODE_COLUMNS, values, strict=True))


def _run(
    records: Iterable[Record], sink: CaseEventSink, cursors: CursorStore, batch: int
) -> ExtractReport:
    async def go() -> ExtractReport:
        return await run_extract(
            EPISODES,
            EPISODES_CONFIG,
            records,
            extract="lac-view",
            input_name="episodes",
            sink=sink,
            cursors=cursors,
            batch_size=batch,
            attempts=1,
        )

    return asyncio.run(go())


def test_a_row_whose_event_is_too_large_is_refused_alone(
    sink: tuple[Settings, CaseEventSink], tmp_path: Path
) -> None:
    """A database view has no CSV field limit: one row's legal status is over a megabyte."""
    settings, case_events = sink
    view = make_engine(f"sqlite:///{tmp_path / 'council.sqlite3'}")
    table = Table("episodes", MetaData(), *(Column(name, String) for name in EPISODE_COLUMNS))
    table.create(view)
    huge = "C" * 1_100_000
    with view.begin() as connection:
        connection.execute(
            insert(table), [_episode(300_000 + n, huge if n == 2 else "C2") for n in range(5)]
        )
    cursors = CursorStore(make_engine(settings.resolved_database_url()))
    cursors.create_schema()

    def extract() -> ExtractReport:
        with view.connect() as connection:
            return _run(
                read_view(connection, "episodes", EPISODES.key_columns), case_events, cursors, 500
            )

    report = extract()

    assert (report.records, report.published, report.refused) == (5, 4, 1)
    [refused] = report.refusals
    assert refused.record.location == "episodes#3"
    assert "at most 1,000,000 bytes" in refused.describe()
    events = read_case_events(settings, expect=4)
    assert sorted(e.source_record_id for e in events) == [
        f"{300_000 + n}|01/04/2024" for n in (0, 1, 3, 4)
    ]
    parts = [
        quarantine_read(settings).decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=3)
    ]
    assert "at most 1,000,000 bytes" in parts[0].errors[0].message
    assert b'"LS": "' + huge.encode() in joined(parts)  # the row as read, kept whole
    rerun = extract()  # refused again, never "unchanged"; the others are
    assert (rerun.unchanged, rerun.refused, rerun.published) == (4, 1, 0)


def _topic_takes_at_most(settings: Settings, max_bytes: int) -> None:
    resource = ConfigResource(
        ResourceType.TOPIC,
        settings.case_events_topic,
        incremental_configs=[
            ConfigEntry(
                "max.message.bytes", str(max_bytes), incremental_operation=AlterConfigOpType.SET
            )
        ],
    )
    kafka = admin(settings.bootstrap_servers())  # held until its futures are done
    for future in kafka.incremental_alter_configs([resource]).values():
        future.result(timeout=30)
    time.sleep(1)  # the broker applies a topic's config change asynchronously


def test_an_extract_the_broker_refuses_mid_batch_resumes_without_loss_or_new_ids(
    sink: tuple[Settings, CaseEventSink], tmp_path: Path
) -> None:
    settings, case_events = sink
    # Sealed events are ciphertext: compression does not shrink them below the topic's limit.
    rows = [_episode(400_000 + n, "L" * 20_000 if n == 3 else "C2") for n in range(6)]
    extract = tmp_path / "episodes.csv"
    extract.write_text(
        ",".join(EPISODE_COLUMNS) + "\n" + "".join(",".join(row.values()) + "\n" for row in rows)
    )
    cursors = CursorStore(make_engine(settings.resolved_database_url()))
    cursors.create_schema()

    def run() -> ExtractReport:
        with extract.open("rb") as stream:
            return _run(EPISODES.read(stream, extract.name), case_events, cursors, 2)

    _topic_takes_at_most(settings, 10_000)  # the fourth row's event is a record Kafka refuses
    with pytest.raises(PublishError):
        run()
    _topic_takes_at_most(settings, 2_000_000)
    resumed = run()

    # Batch 1 (rows 1-2) was confirmed and committed; batch 2 failed, so nothing of it was.
    assert resumed.unchanged == 2
    assert (resumed.published, resumed.refused, resumed.disappeared) == (4, 0, [])
    events = read_case_events(settings, expect=6)
    assert {e.source_record_id for e in events} == {f"{400_000 + n}|01/04/2024" for n in range(6)}
    assert len({e.event_id for e in events}) == 6  # nothing lost, no id but the mapped ones
    assert len(events) - 6 <= 2  # repeats only from the batch in flight (same ids)


def _s26(control_id: str, nhs_number: str) -> bytes:
    return (
        GOLDEN_S26.read_bytes()
        .replace(b"|MFT0006|", f"|{control_id}|".encode())
        .replace(b"9434765919", nhs_number.encode())
    )


def _ack(client: MLLPClient, raw: bytes) -> str:
    reply = client.send_message(raw)
    text = reply.decode("latin-1") if isinstance(reply, bytes) else reply
    return str(hl7.parse(text).segment("MSA")(1))


def test_two_mllp_connections_do_not_wait_for_each_other_and_each_keeps_its_order(
    mllp: tuple[Settings, subprocess.Popen[bytes]],
) -> None:
    """Connection A's first message is about a new person while the key store cannot take a
    new key (another writer holds it, as a slow database would): A waits, B does not."""
    settings, _ = mllp
    held, known = valid_nhs_numbers(910_000_000), "9434765919"
    blocked = next(held)
    with (
        MLLPClient("127.0.0.1", settings.mllp_port) as a,
        MLLPClient("127.0.0.1", settings.mllp_port) as b,
    ):
        assert _ack(b, _s26("B0", known)) == "AA"  # B's person has a key already
        path = settings.resolved_key_store_url().removeprefix("sqlite:///")
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # no other writer until it ends
        first: Future[str] = Future()
        threading.Thread(target=lambda: first.set_result(_ack(a, _s26("A1", blocked)))).start()
        try:
            time.sleep(0.5)  # A's message is in, waiting on the key store
            for n in range(1, 4):
                assert _ack(b, _s26(f"B{n}", known)) == "AA"
                assert not first.done()  # B was answered while A still waits
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert first.result(timeout=30) == "AA"
        assert _ack(a, _s26("A2", blocked)) == "AA"

    sent_b = [_event_id(f"B{n}") for n in range(4)]
    sent_a = [_event_id("A1"), _event_id("A2")]
    order = [str(e.event_id) for e in read_case_events(settings, expect=6)]
    assert [i for i in order if i in sent_b] == sent_b  # one person's partition, in sent order
    assert [i for i in order if i in sent_a] == sent_a


def _event_id(control_id: str) -> str:
    return str(deterministic_event_id("hl7v2", "MFT", control_id, "0"))
