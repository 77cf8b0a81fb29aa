"""A council's census form uploaded as a partner's file: the ``tabular`` connector takes an
``.xlsx`` body (its upload types), the other connectors keep to CSV (415 naming what they
take), against the real broker."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.connectors.tabular.connector import EXAMPLES
from hub.connectors.tabular.reading import XLSX_TYPE
from hub.http.app import create_api
from hub.settings import Settings
from tests.builders import HOME_START
from tests.e2e.conftest import reader, register_readers
from tests.support.topics import read_case_events

pytestmark = pytest.mark.kafka

COUNCIL = "355"  # a party to the demo agreement (the Welsh council joins with the Welsh one)
FORM = (
    Path(__file__).resolve().parents[1]
    / "golden"
    / "connectors"
    / "tabular"
    / "lac-census-episodes.input.xlsx"
)
COUNCIL_SYSTEM = reader("council-system", COUNCIL, "PARTNER_SYSTEM")
CHARITY_SYSTEM = reader("homestart-system", HOME_START, "PARTNER_SYSTEM")


def partner_file() -> str:
    """The council's partner file: the example mapping under ``[config]``, as the council's."""
    mapping = (EXAMPLES / "lac-census-episodes.toml").read_text("utf-8")
    mapping = re.sub(r"^\[(\[?)", r"[\1config.", mapping, flags=re.MULTILINE)
    mapping = mapping.replace('organisation_code = "W06000022"', f'organisation_code = "{COUNCIL}"')
    return f'organisation_code = "{COUNCIL}"\nconnector = "tabular"\n[config]\n{mapping}'


@pytest.fixture
def client(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, TestClient]]:
    partners = tmp_path / "partners"
    partners.mkdir()
    (partners / "council.toml").write_text(partner_file())
    (partners / "homestart.toml").write_text(
        f'organisation_code = "{HOME_START}"\nconnector = "voluntary-activity"\n'
        f'[config]\nsystem = "homestart-lamplight"\norganisation_code = "{HOME_START}"\n'
        'programme = "Baby and Me"\n'
    )
    settings = make_settings(partners_dir=partners)
    with TestClient(create_api(settings)) as api:
        register_readers(settings.resolved_database_url())
        yield settings, api


def test_a_census_form_uploaded_as_xlsx_is_published(
    client: tuple[Settings, TestClient],
) -> None:
    settings, api = client
    headers = {**COUNCIL_SYSTEM, "content-type": XLSX_TYPE, "x-filename": "lac-2025-26.xlsx"}
    answer = api.post(f"/partners/{COUNCIL}/uploads", content=FORM.read_bytes(), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"records": 6, "published": 6, "refused": []}
    events = read_case_events(settings, expect=6)
    assert {e.source.organisation_code for e in events} == {COUNCIL}
    assert {e.event_type.value for e in events} == {"PLAN_STARTED", "PLAN_ENDED"}


def test_a_connector_that_reads_csv_only_answers_415_naming_it(
    client: tuple[Settings, TestClient],
) -> None:
    _, api = client
    headers = {**CHARITY_SYSTEM, "content-type": XLSX_TYPE}
    answer = api.post(f"/partners/{HOME_START}/uploads", content=FORM.read_bytes(), headers=headers)
    assert answer.status_code == 415
    assert answer.json() == {"detail": "send the file as text/csv"}
    council = {**COUNCIL_SYSTEM, "content-type": "application/pdf"}
    refused = api.post(f"/partners/{COUNCIL}/uploads", content=b"%PDF", headers=council)
    assert refused.status_code == 415
    assert refused.json() == {"detail": f"send the file as text/csv or {XLSX_TYPE}"}
