"""FHIR Patient / Encounter updates and Bundles over HTTP, against the real broker."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hub.settings import Settings
from tests.e2e.conftest import reader, sender, worker_ready_with_midwife
from tests.support.processes import eventually
from tests.support.topics import quarantine_read, read_case_events, read_topic

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "fhir_resources"
HEADERS = {"Content-Type": "application/fhir+json", "X-Source-Organisation": "R0A", **sender()}


def _post(url: str, case: str, method: str = "POST") -> httpx.Response:
    body = (GOLDEN / f"{case}.input.json").read_bytes()
    return httpx.request(method, url, content=body, headers=HEADERS, timeout=30)


def test_resources_create_and_update(hub: tuple[Settings, str]) -> None:
    settings, base = hub
    assert _post(f"{base}/fhir/Patient", "uk-core-patient").status_code == 201
    updated = _post(f"{base}/fhir/Patient/amy-example", "uk-core-patient", "PUT")
    assert updated.status_code == 200
    assert updated.headers["Location"].startswith("/fhir/Patient/amy-example/_history/")
    assert _post(f"{base}/fhir/Encounter", "uk-core-encounter-finished").status_code == 201
    wrong_id = _post(f"{base}/fhir/Patient/someone-else", "uk-core-patient", "PUT")
    assert wrong_id.status_code == 422
    assert wrong_id.json()["issue"][0]["expression"] == ["Patient.id"]
    assert httpx.post(f"{base}/fhir/Observation", content=b"{}", headers=HEADERS).status_code == 422
    events = read_case_events(settings, expect=3)
    assert [e.event_type.value for e in events].count("PERSON_REGISTERED") == 2
    assert events[0].event_id == events[1].event_id  # the same content, sent twice


def test_a_transaction_is_all_or_nothing(hub: tuple[Settings, str]) -> None:
    settings, base = hub
    bad = _post(f"{base}/fhir", "bundle-transaction-one-bad")
    assert bad.status_code == 422
    assert bad.json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.status"]
    good = _post(f"{base}/fhir", "bundle-transaction-ok")
    assert good.status_code == 200
    assert good.json()["type"] == "transaction-response"
    assert [e["response"]["status"] for e in good.json()["entry"]] == ["201 Created"] * 2
    for entry in good.json()["entry"]:  # each with the id and version written, as FHIR asks
        location, etag = entry["response"]["location"], entry["response"]["etag"]
        assert location.split("/_history/")[1] == etag.removeprefix('W/"').removesuffix('"')
    events = read_topic(settings.bootstrap_servers(), settings.case_events_topic, expect=2)
    assert len(events) == 2  # nothing from the refused transaction
    [refused] = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=1)
    record = quarantine_read(settings).decode(refused.value() or b"")
    assert record.raw == (GOLDEN / "bundle-transaction-one-bad.input.json").read_bytes()


def test_a_batch_answers_per_entry(hub: tuple[Settings, str]) -> None:
    settings, base = hub
    response = _post(f"{base}/fhir", "bundle-batch-one-bad")
    assert response.status_code == 200
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "201 Created"]
    assert len(read_topic(settings.bootstrap_servers(), settings.case_events_topic, expect=2)) == 2
    assert len(read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=1)) == 1


def test_a_subscription_notification_raises_the_alert(
    hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = hub
    worker_ready_with_midwife(settings, base, tmp_path / "worker.log")
    assert _post(f"{base}/fhir", "bundle-subscription-notification").status_code == 200

    def alert_count() -> int:
        alerts: list[object] = httpx.get(
            f"{base}/practitioners/mw-1/alerts", headers=reader()
        ).json()["alerts"]
        return len(alerts)

    eventually(
        lambda: alert_count() == 1, timeout_s=30, what="the alert", log=tmp_path / "worker.log"
    )
