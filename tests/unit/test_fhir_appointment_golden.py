"""Golden files: FHIR Appointment in, case-event (or the refusal) out.

Inputs are in ``tests/golden/fhir_appointment/*.input.json`` (public samples and our own; see
``tests/data/SOURCES.md``); the expected output sits beside each as ``*.expected.json``.
Regenerate after a deliberate mapping change with ``HUB_UPDATE_GOLDEN=1 pytest tests/unit``
and review the diff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.fhir.appointment import (
    STATUS_EVENTS,
    AppointmentConnector,
    appointment_to_event,
)
from hub.connectors.sdk import RecordError
from tests.support.golden import check_golden

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "fhir_appointment"
RECORDED_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CASES = sorted(GOLDEN.glob("*.input.json"))
APPOINTMENT = AppointmentConnector()


def translate(raw: bytes) -> dict[str, Any]:
    try:
        event = appointment_to_event(
            APPOINTMENT.read(raw), organisation_code="R0A", recorded_at=RECORDED_AT
        )
    except RecordError as error:
        return {"refused": {"parse_error": error.unreadable, "issues": error.issues}}
    return {"event": event.model_dump(mode="json")}


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name.removesuffix(".input.json"))
def test_golden(case: Path) -> None:
    check_golden(case, translate(case.read_bytes()), ".input.json")


def test_there_are_cases_for_every_appointment_event_type() -> None:
    produced = {translate(case.read_bytes()).get("event", {}).get("event_type") for case in CASES}
    assert {t.value for t in STATUS_EVENTS.values()} <= produced


def test_a_resent_appointment_gets_the_same_event_id() -> None:
    raw = (GOLDEN / "uk-core-noshow.input.json").read_bytes()
    first = appointment_to_event(
        APPOINTMENT.read(raw), organisation_code="R0A", recorded_at=RECORDED_AT
    )
    later = appointment_to_event(
        APPOINTMENT.read(raw),
        organisation_code="R0A",
        recorded_at=datetime(2026, 3, 3, tzinfo=UTC),
    )
    assert first.event_id == later.event_id
