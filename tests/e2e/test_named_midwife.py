"""End to end on real processes: a trust names the family's midwife — over HL7 (ROL) and over
FHIR (CareTeam) — and the later no-show's alert is addressed to her and in her inbox; ending
the assignment (ROL delete, the API's unassignment) takes her off later alerts (ADR 0021)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from hl7.client import MLLPClient

from hub.settings import Settings
from tests.e2e.conftest import reader, sender
from tests.support.processes import eventually

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
HL7 = REPO / "tests" / "golden" / "hl7v2"
FHIR = REPO / "tests" / "golden" / "fhir_appointment"
MOTHER = "9434765919"
MIDWIFE = reader("MW-7", "R0A", "COMMUNITY_MIDWIFE")  # the midwife the trust names
FHIR_JSON = "application/fhir+json"


def _addressed(alert: dict[str, Any]) -> list[str]:
    """The ids of the trust's practitioners the alert is addressed to."""
    return [r["practitioner_id"] for r in alert["recipients"] if r["organisation_code"] == "R0A"]


def _alerts(base: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/people/{MOTHER}/alerts", headers=MIDWIFE, timeout=10)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def _by_appointment(base: str, suffix: str) -> dict[str, Any] | None:
    return next(
        (a for a in _alerts(base) if a["appointment"]["appointment_id"].endswith(suffix)), None
    )


def _mllp(port: int, raw: bytes, control_id: str) -> None:
    with MLLPClient("127.0.0.1", port) as client:
        ack = client.send_message(raw)
    assert f"MSA|AA|{control_id}".encode() in (ack if isinstance(ack, bytes) else ack.encode())


def test_a_rol_names_the_midwife_and_a_rol_delete_takes_her_off_later_alerts(
    running_hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = running_hub
    log = tmp_path / "worker.log"
    # The trust's ADT^A04 names her in a ROL (docs/examples), then the booking is missed.
    _mllp(
        settings.mllp_port,
        (REPO / "docs/examples/hl7/rol-named-midwife.hl7").read_bytes(),
        "MFT-EX-ROL-1",
    )
    _mllp(
        settings.mllp_port, (HL7 / "siu-s26-noshow-start-in-ais.input.hl7").read_bytes(), "MFT0006"
    )
    eventually(
        lambda: _by_appointment(base, "APT000123") is not None,
        timeout_s=60,
        what="the alert",
        log=log,
    )
    first = _by_appointment(base, "APT000123")
    assert first is not None
    assert "MW-7" in _addressed(first)
    mine = httpx.get(f"{base}/practitioners/MW-7/alerts", headers=MIDWIFE, timeout=10).json()
    assert [a["alert_id"] for a in mine["alerts"]] == [first["alert_id"]]
    inbox = httpx.get(f"{base}/inbox", headers=MIDWIFE, timeout=10)
    assert inbox.status_code == 200
    assert first["alert_id"] in inbox.text  # her inbox page lists it

    # A handover: ROL DE ends her assignment, ROL AD names Priya Banks; the next no-show.
    _mllp(
        settings.mllp_port, (HL7 / "adt-a08-rol-midwife-handover.input.hl7").read_bytes(), "MFT0202"
    )
    second_s26 = (
        (HL7 / "siu-s26-noshow-start-in-ais.input.hl7")
        .read_bytes()
        .replace(b"MFT0006", b"MFT0007")
        .replace(b"APT000123", b"APT000124")
    )
    _mllp(settings.mllp_port, second_s26, "MFT0007")
    eventually(
        lambda: _by_appointment(base, "APT000124") is not None,
        timeout_s=60,
        what="the 2nd alert",
        log=log,
    )
    second = _by_appointment(base, "APT000124")
    assert second is not None
    assert "MW-9" in _addressed(second)
    assert "MW-7" not in _addressed(second)
    assert "MW-7" in _addressed(_by_appointment(base, "APT000123") or {})  # stays told


def test_a_careteam_names_the_midwife_and_an_api_unassignment_takes_her_off_later_alerts(
    running_hub: tuple[Settings, str], tmp_path: Path
) -> None:
    _, base = running_hub
    log = tmp_path / "worker.log"
    careteam = (REPO / "docs/examples/fhir/careteam-named-midwife.json").read_bytes()
    headers = {"Content-Type": FHIR_JSON, **sender()}
    created = httpx.post(f"{base}/fhir/CareTeam", content=careteam, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    noshow = (FHIR / "uk-core-noshow.input.json").read_bytes()
    missed = httpx.post(f"{base}/fhir/Appointment", content=noshow, headers=headers, timeout=30)
    assert missed.status_code == 201, missed.text
    eventually(
        lambda: _by_appointment(base, "|000123") is not None,
        timeout_s=60,
        what="the alert",
        log=log,
    )
    first = _by_appointment(base, "|000123")
    assert first is not None
    assert "MW-7" in _addressed(first)

    # A charity cannot take her off; her own trust can, and it is on the person's trail.
    change = {
        "subject": {"nhs_number": MOTHER},
        "practitioner": {"organisation_code": "R0A", "practitioner_id": "MW-7"},
        "role": "COMMUNITY_MIDWIFE",
        "reason": "moved to the Salford team",
    }
    charity = reader("hs-3", "VCS-HOMESTART-SALFORD", "KEY_WORKER")
    refused = httpx.post(f"{base}/team/unassignments", json=change, headers=charity, timeout=30)
    assert refused.status_code == 403, refused.text
    team_lead = reader("mw-lead", "R0A", "COMMUNITY_MIDWIFE")
    done = httpx.post(f"{base}/team/unassignments", json=change, headers=team_lead, timeout=30)
    assert done.status_code == 202, done.text
    assert done.json()["event_type"] == "PRACTITIONER_UNASSIGNED"

    later = json.loads(noshow)
    later["id"], later["identifier"][0]["value"] = "mft-apt-000124", "000124"
    posted = httpx.post(f"{base}/fhir/Appointment", json=later, headers=headers, timeout=30)
    assert posted.status_code == 201, posted.text
    eventually(
        lambda: _by_appointment(base, "|000124") is not None,
        timeout_s=60,
        what="the 2nd alert",
        log=log,
    )
    second = _by_appointment(base, "|000124")
    assert second is not None
    assert "MW-7" not in _addressed(second)

    caldicott = reader("r0a-caldicott", "R0A", "CALDICOTT_GUARDIAN")

    def trail() -> list[str]:
        response = httpx.get(f"{base}/people/{MOTHER}/disclosures", headers=caldicott, timeout=10)
        if response.status_code != 200:
            return []
        return [d["reference"] for d in response.json()["disclosures"]]

    eventually(
        lambda: any("unassigned R0A/MW-7" in r for r in trail()),
        timeout_s=30,
        what="the trail",
        log=log,
    )
