"""Aneurin Bevan University Health Board's FHIR R4 Patients over HTTP against the real broker:
the board's PAS number (its Data Standards Wales identifier system, from its source file) names
a newborn before the NHS number is issued, and ``Patient.communication.language`` is kept as
the person's language; a Patient with neither identifier is refused naming the field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hub.payloads import PersonRegistered
from hub.settings import Settings
from tests.e2e.conftest import api_process, outsider
from tests.support.net import free_port
from tests.support.topics import read_case_events

pytestmark = pytest.mark.kafka

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "fhir_resources"
PAS = "https://fhir.abuhb.nhs.wales/Id/pas-identifier"


@pytest.fixture
def board_api(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, str]]:
    settings = make_settings(api_port=free_port())
    with api_process(settings, tmp_path) as base:
        yield settings, base


def test_a_newborn_by_pas_number_and_a_welsh_speaking_mother(
    board_api: tuple[Settings, str],
) -> None:
    settings, base = board_api
    headers = {
        "Content-Type": "application/fhir+json",
        **outsider(settings, "abuhb-wpas", "7A6", "PARTNER_SYSTEM"),
    }

    def post(case: str) -> httpx.Response:
        body = (GOLDEN / f"{case}.input.json").read_bytes()
        return httpx.post(f"{base}/fhir/Patient", content=body, headers=headers, timeout=30)

    assert post("abuhb-patient-newborn-before-nhs-number").status_code == 201
    assert post("abuhb-patient-welsh-preferred").status_code == 201
    refused = post("abuhb-patient-no-known-identifier")
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["expression"] == ["Patient.identifier"]

    events = read_case_events(settings, expect=2)
    assert {e.source.organisation_code for e in events} == {"7A6"}
    registered = {
        e.subject_key(): e.payload.language
        for e in events
        if isinstance(e.payload, PersonRegistered)
    }
    assert registered == {f"{PAS}|G7A600114": "cy", "9434765870": "cy"}
