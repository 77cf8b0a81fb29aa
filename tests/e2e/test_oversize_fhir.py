"""A FHIR resource too large for one Kafka record: 422 with an OperationOutcome on every send,
never 503, and the body kept in quarantine in parts (issue 17, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hub.record_limits import joined
from hub.settings import Settings
from tests.e2e.conftest import sender
from tests.support.topics import quarantine_read, read_topic

pytestmark = pytest.mark.kafka

APPOINTMENT = Path(__file__).resolve().parents[1] / "golden" / "fhir_appointment"


def test_an_appointment_with_a_2_mb_description_is_refused_for_good_and_kept(
    hub: tuple[Settings, str],
) -> None:
    settings, base = hub
    resource = json.loads((APPOINTMENT / "uk-core-noshow.input.json").read_text())
    resource["description"] = "D" * (2 * 1024 * 1024)
    raw = json.dumps(resource).encode()
    headers = {"Content-Type": "application/fhir+json", **sender()}
    for _ in range(2):
        answer = httpx.post(f"{base}/fhir/Appointment", content=raw, headers=headers, timeout=60)
        assert answer.status_code == 422, answer.text
        [issue] = answer.json()["issue"]
        assert "at most 1,000,000 bytes" in issue["diagnostics"]
    messages = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=10)
    codec = quarantine_read(settings)
    parts = {p.quarantine_id: p for p in (codec.decode(m.value() or b"") for m in messages)}
    assert joined(list(parts.values())) == raw
    assert read_topic(settings.bootstrap_servers(), settings.case_events_topic, expect=1) == []
