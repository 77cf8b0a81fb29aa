"""The outcomes routes in-process: the real outcomes store (SQLite), the aggregate disclosure
recorded on the real broker before the answer, programme managers only."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent
from hub.http.app import create_api
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.outcomes.store import OutcomesStore
from hub.payloads import PersonIdentifier
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.storage.positions import BatchEntry
from tests.builders import SALFORD_COUNCIL
from tests.support.topics import disclosures_read, read_topic
from tests.unit.test_outcomes_fold import SF, baby_events, mother_year

NOW = datetime(2027, 10, 1, 12, tzinfo=UTC)


def reader(user: str, organisation: str, role: str) -> dict[str, str]:
    from tests.e2e.conftest import reader as e2e_reader

    return e2e_reader(user, organisation, role)


MANAGER = reader("pm-1", SALFORD_COUNCIL, "PROGRAMME_MANAGER")
MIDWIFE = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")


def families(count: int) -> list[CaseEvent]:
    """``count`` copies of the one-family story, each mother and baby under their own ids."""
    events = []
    for n in range(count):
        mum = PersonIdentifier(system="urn:test:mother", value=f"M{n}")
        baby = PersonIdentifier(system="urn:test:baby", value=f"B{n}")
        for event in mother_year():
            events.append(event.model_copy(update={"subject": (mum,)}))
        for event in baby_events(date(2026, 9, 20) if n % 3 == 0 else None):
            payload = event.payload
            if hasattr(payload, "mother"):
                payload = payload.model_copy(update={"mother": (mum,)})
            events.append(event.model_copy(update={"subject": (baby,), "payload": payload}))
    return events


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings()
    engine = make_engine(settings.resolved_database_url())
    store = OutcomesStore(engine)
    store.create_schema()
    store.apply_batch(
        "family-events", 0, [BatchEntry(i, e, None) for i, e in enumerate(families(12))]
    )
    publisher = KafkaPublisher(settings.bootstrap_servers())
    app = create_api(
        settings,
        sink=CaseEventSink(publisher, settings, open_key_store(settings)),
        clock=lambda: NOW,
    )
    from tests.e2e.conftest import register_readers

    try:
        with TestClient(app) as client:
            register_readers(settings.resolved_database_url(), outsiders=True)
            yield client, settings
    finally:
        publisher.close()


def test_the_programme_manager_reads_the_figures_and_it_is_recorded(
    api: tuple[TestClient, Settings],
) -> None:
    client, settings = api
    answer = client.get("/outcomes/report", params={"programme": SF}, headers=MANAGER)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    funnel = next(t for t in body["tables"] if t["key"] == "funnel")
    assert funnel["columns"][:2] == ["Referred", "Accepted"]
    [row] = funnel["rows"]
    assert [c["text"] for c in row["cells"][:2]] == ["12", "12"]
    babies = next(t for t in body["tables"] if t["key"] == "babies_by_pathway")
    at_14_days = next(r for r in babies["rows"] if r["labels"] == ["B", "14 days"])
    # 8 at home and 4 looked after: 4 is below the threshold, so it and its complement go
    assert [c["text"] for c in at_14_days["cells"]] == ["c", "0", "c", "0", "12"]
    assert all(c["value"] is None for c in at_14_days["cells"] if c["text"] == "c")

    as_csv = client.get("/outcomes/report.csv", params={"programme": SF}, headers=MANAGER)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {"table": "funnel", "row": "2026-27 Q1 / B / 355", "column": "Referred"}.items() <= next(
        line for line in lines if line["table"] == "funnel" and line["column"] == "Referred"
    ).items()
    assert not any(line["figure"] == "4" for line in lines if line["table"].startswith("babies"))

    codec = disclosures_read(settings)
    records = [
        codec.decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.disclosures_topic, expect=2)
    ]
    assert [d.subject_key for d in records] == [f"aggregate:outcomes/{SF}"] * 2
    assert all(d.aggregate is not None and d.aggregate.hidden > 0 for d in records)
    assert {d.recipient_role for d in records} == {"PROGRAMME_MANAGER"}


def test_only_a_programme_manager_and_only_a_known_programme(
    api: tuple[TestClient, Settings],
) -> None:
    client, _ = api
    refused = client.get("/outcomes/report", params={"programme": SF}, headers=MIDWIFE)
    assert refused.status_code == 403
    assert "PROGRAMME_MANAGER" in refused.text
    unknown = client.get("/outcomes/report", params={"programme": "Nope"}, headers=MANAGER)
    assert unknown.status_code == 404
    assert SF in unknown.text  # names the programmes it does know
    assert client.get("/outcomes/report", params={"programme": SF}).status_code == 401


def test_as_of_counts_only_the_ages_reached(api: tuple[TestClient, Settings]) -> None:
    client, _ = api
    early = (date(2026, 9, 14) + timedelta(days=20)).isoformat()
    body = client.get(
        "/outcomes/report", params={"programme": SF, "as_of": early}, headers=MANAGER
    ).json()
    babies = next(t for t in body["tables"] if t["key"] == "babies_by_pathway")
    assert [r["labels"] for r in babies["rows"]] == [["B", "14 days"]]
