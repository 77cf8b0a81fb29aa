"""A FHIR resource too large for one Kafka record: 422 with an OperationOutcome on every send,
never 503, and the body kept in quarantine in parts (issue 17, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hub.ingest.record_limits import joined
from hub.settings import Settings
from tests.e2e.conftest import sender
from tests.support.topics import quarantine_read, written

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
    messages = written(settings.bootstrap_servers(), settings.quarantine_topic)
    codec = quarantine_read(settings)
    parts = {p.quarantine_id: p for p in (codec.decode(m.value() or b"") for m in messages)}
    assert joined(list(parts.values())) == raw
    assert written(settings.bootstrap_servers(), settings.case_events_topic) == []


RESOURCES = Path(__file__).resolve().parents[1] / "golden" / "fhir_resources"


def _bundle_with_a_2_mb_entry(bundle_type: str) -> bytes:
    """The golden Patient + Appointment Bundle, its Appointment carrying a 2 MB description."""
    bundle = json.loads((RESOURCES / "bundle-transaction-ok.input.json").read_text())
    bundle["type"] = bundle_type
    if bundle_type == "batch":
        for entry in bundle["entry"]:
            entry.setdefault(
                "request", {"method": "POST", "url": entry["resource"]["resourceType"]}
            )
    [appointment] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment"]
    appointment["resource"]["description"] = "D" * (2 * 1024 * 1024)
    return json.dumps(bundle).encode()


def test_a_transaction_with_an_entry_too_large_is_refused_whole_for_good(
    hub: tuple[Settings, str],
) -> None:
    settings, base = hub
    headers = {"Content-Type": "application/fhir+json", **sender()}
    raw = _bundle_with_a_2_mb_entry("transaction")
    for _ in range(2):  # a resend is refused the same way, never "send again later"
        answer = httpx.post(f"{base}/fhir", content=raw, headers=headers, timeout=60)
        assert answer.status_code == 422, answer.text
        assert "at most 1,000,000 bytes" in answer.json()["issue"][0]["diagnostics"]
    assert written(settings.bootstrap_servers(), settings.case_events_topic) == []
    messages = written(settings.bootstrap_servers(), settings.quarantine_topic)
    codec = quarantine_read(settings)
    parts = [codec.decode(m.value() or b"") for m in messages]
    assert joined(parts[: len(parts) // 2]) == raw  # each refusal kept the whole Bundle


def test_a_batch_refuses_only_the_entry_too_large_and_keeps_it(
    hub: tuple[Settings, str],
) -> None:
    settings, base = hub
    headers = {"Content-Type": "application/fhir+json", **sender()}
    answer = httpx.post(
        f"{base}/fhir", content=_bundle_with_a_2_mb_entry("batch"), headers=headers, timeout=60
    )
    assert answer.status_code == 200, answer.text
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity"]
    assert len(written(settings.bootstrap_servers(), settings.case_events_topic)) == 1
    assert written(settings.bootstrap_servers(), settings.quarantine_topic)
