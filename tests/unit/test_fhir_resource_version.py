"""The id and version a FHIR write is answered with (``Location`` / ``ETag``), as a table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.fhir.bundle import resource_to_events
from hub.http.fhir import resource_version

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
BOOKED: dict[str, Any] = json.loads(
    (GOLDEN / "fhir_appointment" / "uk-core-booked.input.json").read_text()
)
WITHOUT_ID = {k: v for k, v in BOOKED.items() if k != "id"}


def version(resource: dict[str, Any], organisation: str = "R0A") -> tuple[str, str]:
    *_, event = resource_to_events(resource, organisation_code=organisation, recorded_at=NOW)
    written = resource_version(resource["resourceType"], resource, event, organisation)
    assert written.location == f"/fhir/Appointment/{written.id}/_history/{written.version_id}"
    assert written.etag == f'W/"{written.version_id}"'
    assert written.version_id == str(event.event_id)
    return written.id, written.version_id


def test_the_resources_own_id_is_kept() -> None:
    assert version(BOOKED)[0] == "mft-apt-000123"


@pytest.mark.parametrize(
    ("other", "same_id", "same_version"),
    [
        (WITHOUT_ID, True, True),  # sent again
        ({**WITHOUT_ID, "status": "noshow"}, True, False),  # changed: a new version
        (
            {
                **WITHOUT_ID,
                "identifier": [{"system": "https://mft.nhs.uk/Id/appointment", "value": "9"}],
            },
            False,
            False,
        ),  # another appointment
    ],
)
def test_without_an_id_the_hub_derives_one_from_the_record(
    other: dict[str, Any], same_id: bool, same_version: bool
) -> None:
    first_id, first_version = version(WITHOUT_ID)
    other_id, other_version = version(other)
    assert (first_id == other_id, first_version == other_version) == (same_id, same_version)


def test_two_organisations_ids_differ() -> None:
    assert version(WITHOUT_ID, "R0A")[0] != version(WITHOUT_ID, "RM3")[0]
