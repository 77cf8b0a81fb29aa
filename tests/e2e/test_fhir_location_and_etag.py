"""FHIR create and update answer with the resource's id and version, as FHIR's REST API asks.

``Location: /fhir/{type}/{id}/_history/{vid}``, ``ETag: W/"{vid}"`` and the resource with ``id``
and ``meta.versionId``, over real HTTP against the API process: a client keeps the id to update
the resource later, even when it sent none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.settings import Settings
from tests.e2e.conftest import api_process, sender
from tests.support.net import free_port

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
HEADERS = {"Content-Type": "application/fhir+json", **sender()}
LOCATION = re.compile(r"^/fhir/(\w+)/([A-Za-z0-9\-.]{1,64})/_history/([A-Za-z0-9\-.]{1,64})$")


@pytest.fixture
def base(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[str]:
    with api_process(make_settings(api_port=free_port()), tmp_path) as url:
        yield url


def written(response: httpx.Response, status: int) -> tuple[str, str, str]:
    """(type, id, version) of a write, checking the headers and the body agree."""
    assert response.status_code == status, response.text
    match = LOCATION.match(response.headers["Location"])
    assert match, response.headers["Location"]
    resource_type, resource_id, version = match.groups()
    assert response.headers["ETag"] == f'W/"{version}"'
    assert response.headers["Last-Modified"].endswith(" GMT")
    body = response.json()
    assert (body["resourceType"], body["id"], body["meta"]["versionId"]) == match.groups()
    return resource_type, resource_id, version


def send(base: str, method: str, path: str, resource: dict[str, Any]) -> httpx.Response:
    return httpx.request(
        method, f"{base}{path}", content=json.dumps(resource), headers=HEADERS, timeout=30
    )


def test_a_resource_with_an_id_keeps_it_and_each_content_is_a_version(base: str) -> None:
    patient = json.loads((GOLDEN / "fhir_resources" / "uk-core-patient.input.json").read_text())
    _, patient_id, first = written(send(base, "POST", "/fhir/Patient", patient), 201)
    assert patient_id == patient["id"]
    # The same content again is the same version; a change is a new one, at the same id.
    assert written(send(base, "POST", "/fhir/Patient", patient), 201)[2] == first
    moved = {**patient, "address": [{"postalCode": "M5 4WT"}]}
    _, same_id, second = written(send(base, "PUT", f"/fhir/Patient/{patient_id}", moved), 200)
    assert (same_id, second != first) == (patient_id, True)


def test_a_resource_without_an_id_is_given_one_it_can_be_updated_by(base: str) -> None:
    booking = json.loads((GOLDEN / "fhir_appointment" / "uk-core-booked.input.json").read_text())
    booking.pop("id", None)
    kind, assigned, _ = written(send(base, "POST", "/fhir/Appointment", booking), 201)
    assert kind == "Appointment"
    # Derived from what identifies it, not random: sent again, the same id.
    assert written(send(base, "POST", "/fhir/Appointment", booking), 201)[1] == assigned
    missed = {**booking, "id": assigned, "status": "noshow"}
    updated = send(base, "PUT", f"/fhir/Appointment/{assigned}", missed)
    assert written(updated, 200)[1] == assigned
