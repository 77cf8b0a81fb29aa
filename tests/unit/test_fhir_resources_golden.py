"""Golden files for FHIR Patient, Encounter and Bundles (``tests/golden/fhir_resources``).

Regenerate after a deliberate mapping change with ``HUB_UPDATE_GOLDEN=1 pytest tests/unit``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.fhir.bundle import read_bundle, resource_to_events
from hub.connectors.fhir.common import load_json
from hub.connectors.sdk import RecordError
from hub.connectors.sources import SourceConfig, SourceRegistry, load_sources
from tests.support.golden import GOLDEN_SOURCES, check_golden

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "fhir_resources"
RECORDED_AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CASES = sorted(GOLDEN.glob("*.input.json"))


# The demo trust's roles (config/sources/demo-mft-maternity.toml): what R0A's resources mean.
def _source(sources: SourceRegistry, organisation: str) -> SourceConfig:
    found = sources.for_organisation(organisation)
    assert found is not None, f"no source of {organisation} configured"
    return found


DEMO_TRUST = _source(load_sources(), "R0A")
ROLES = DEMO_TRUST.practitioner_roles
# The Welsh demo health board (config/sources/demo-abuhb-maternity.toml): what 7A6's
# resources mean (``abuhb-*``).
ABUHB = _source(GOLDEN_SOURCES, "7A6")


def _event(event: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = event.model_dump(mode="json")
    return dumped


def translate(raw: bytes, source: SourceConfig = DEMO_TRUST) -> dict[str, Any]:
    organisation, systems = source.organisation_code, frozenset(source.identifier_systems.values())
    roles = source.practitioner_roles
    try:
        if load_json(raw).get("resourceType") == "Bundle":
            reading = read_bundle(
                raw,
                organisation_code=organisation,
                recorded_at=RECORDED_AT,
                roles=roles,
                identifier_systems=systems,
            )
            return {
                "bundle_type": reading.bundle_type,
                "entries": [
                    {"index": e.index, "event": _event(e.event)}
                    if e.event
                    else {"index": e.index, "issues": e.error.issues if e.error else []}
                    for e in reading.entries
                ],
            }
        events = resource_to_events(
            load_json(raw),
            organisation_code=organisation,
            recorded_at=RECORDED_AT,
            roles=roles,
            identifier_systems=systems,
        )
    except RecordError as error:
        return {"refused": {"parse_error": error.unreadable, "issues": error.issues}}
    if len(events) == 1:
        return {"event": _event(events[0])}
    return {"events": [_event(e) for e in events]}


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name.removesuffix(".input.json"))
def test_golden(case: Path) -> None:
    source = ABUHB if case.name.startswith("abuhb-") else DEMO_TRUST
    check_golden(case, translate(case.read_bytes(), source), ".input.json")


def test_a_resent_patient_is_the_same_event_and_a_changed_one_is_not() -> None:
    raw = (GOLDEN / "uk-core-patient.input.json").read_bytes()
    first = resource_to_events(load_json(raw), organisation_code="R0A", recorded_at=RECORDED_AT)[-1]
    again = resource_to_events(load_json(raw), organisation_code="R0A", recorded_at=RECORDED_AT)[-1]
    changed = load_json(raw)
    changed["address"][0]["postalCode"] = "M9 8AA"
    moved = resource_to_events(changed, organisation_code="R0A", recorded_at=RECORDED_AT)[-1]
    assert first.event_id == again.event_id != moved.event_id
