"""End to end on real processes: FHIR no-show over HTTP -> Kafka -> worker -> SQL -> API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hub.settings import Settings
from tests.e2e.conftest import reader, sender, worker_ready_with_midwife
from tests.support.processes import eventually
from tests.support.topics import quarantine_read, read_topic

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "fhir_appointment"


def test_a_noshow_appointment_becomes_an_alert_readable_through_the_api(
    hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = hub
    worker_ready_with_midwife(settings, base, tmp_path / "worker.log")

    def alerts() -> list[dict[str, object]]:
        found: list[dict[str, object]] = httpx.get(
            f"{base}/practitioners/mw-1/alerts", headers=reader(), timeout=10
        ).json()["alerts"]
        return found

    body = (GOLDEN / "uk-core-noshow.input.json").read_bytes()
    response = httpx.post(
        f"{base}/fhir/Appointment",
        content=body,
        headers={"Content-Type": "application/fhir+json", **sender()},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Hub-Event-Id"]
    seconds = eventually(
        lambda: len(alerts()) == 1,
        timeout_s=30,
        what="the alert in the API",
        log=tmp_path / "worker.log",
    )
    [alert] = alerts()
    assert alert["appointment"]["appointment_id"] == "https://mft.nhs.uk/Id/appointment|000123"  # type: ignore[index]
    assert alert["person"]["nhs_number"] == "9434765919"  # type: ignore[index]
    assert alert["organisation_code"] == "R0A"
    assert seconds < 30

    # Re-sending the same no-show changes nothing.
    again = httpx.post(
        f"{base}/fhir/Appointment",
        content=body,
        headers={"Content-Type": "application/fhir+json", **sender()},
        timeout=30,
    )
    assert again.headers["X-Hub-Event-Id"] == response.headers["X-Hub-Event-Id"]
    assert len(alerts()) == 1


@pytest.mark.parametrize(
    ("case", "status", "location"),
    [
        ("invalid-nhs-number", 422, "Appointment.participant[0].actor.identifier"),
        ("unparseable-start", 422, "Appointment.start"),
        ("not-json", 400, "Appointment"),
    ],
)
def test_a_malformed_appointment_gets_an_operation_outcome_and_is_quarantined(
    hub: tuple[Settings, str], case: str, status: int, location: str
) -> None:
    settings, base = hub
    raw = (GOLDEN / f"{case}.input.json").read_bytes()
    response = httpx.post(
        f"{base}/fhir/Appointment",
        content=raw,
        headers={"Content-Type": "application/fhir+json", **sender()},
        timeout=30,
    )
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [location]
    [message] = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=1)
    record = quarantine_read(settings).decode(message.value() or b"")
    assert record.raw == raw
    assert record.channel == "fhir-rest"
    assert json.dumps(location) in json.dumps([e.location for e in record.errors])
