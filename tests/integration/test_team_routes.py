"""The team routes in-process: real stores (SQLite), the real gate, disclosures to the real broker.

The worker's two stages are played by applying each event to the person index, then to the team
store, as the worker does; the e2e test runs the same story through the real processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import open_key_store
from hub.http.app import create_api
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.team.store import TeamStore
from tests.builders import HOME_START, NHS_NUMBER, SALFORD_COUNCIL, T0
from tests.conftest import build_settings
from tests.support.net import free_port
from tests.team_builders import BABY_NHS, baby_born, family_story

NOW = T0 + timedelta(days=30)
TOPIC = "family-events"


def reader(user: str, organisation: str, role: str) -> dict[str, str]:
    """The same credentials as ``tests.e2e.conftest.reader`` (one place to change)."""
    from tests.e2e.conftest import reader as e2e_reader

    return e2e_reader(user, organisation, role)


SOCIAL_WORKER = reader("sw-7", SALFORD_COUNCIL, "SOCIAL_WORKER")
MIDWIFE = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")
HOME_START_WORKER = reader("hs-3", HOME_START, "KEY_WORKER")
NOBODY = reader("nobody", "R0A", "GP")
HOME_START_DSL = reader("homestart-salford-dsl", HOME_START, "DESIGNATED_SAFEGUARDING_LEAD")


def _client(settings: Settings, publisher: KafkaPublisher) -> Iterator[TestClient]:
    engine = make_engine(settings.resolved_database_url())
    store = MissedAppointmentStore(engine)
    store.create_schema()
    identity, team = IdentityStore(engine), TeamStore(engine)
    identity.create_schema()
    team.create_schema()
    for offset, event in enumerate([*family_story(NOW), baby_born()]):
        identity.apply("case-events", 0, offset, event)
        team.apply(TOPIC, 0, offset, event)
    app = create_api(
        settings,
        sink=CaseEventSink(publisher, settings, open_key_store(settings)),
        store=store,
        clock=lambda: NOW,
    )
    from tests.e2e.conftest import register_readers

    try:
        with TestClient(app) as client:
            register_readers(
                settings.resolved_database_url(), outsiders=True
            )  # the headers' clients
            yield client
    finally:
        publisher.close()


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    settings = make_settings()
    yield from _client(settings, KafkaPublisher(settings.bootstrap_servers()))


@pytest.fixture(scope="module")
def report_client(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One client for the module's read-only checks: asking for a report changes nothing the
    next asker's answer depends on, so ten cases need not build ten hubs."""
    settings = build_settings(kafka_bootstrap, state_dir=tmp_path_factory.mktemp("reports"))
    yield from _client(settings, KafkaPublisher(settings.bootstrap_servers()))


def family_key(client: TestClient) -> str:
    response = client.get(f"/people/{NHS_NUMBER}/team", headers=SOCIAL_WORKER)
    assert response.status_code == 200, response.text
    key: str = response.json()["family_key"]
    return key


def test_the_family_view_per_reader(client: TestClient) -> None:
    key = family_key(client)
    seen = client.get(f"/families/{key}/team", headers=SOCIAL_WORKER).json()
    assert [p["plan_type"] for p in seen["active_plans"]] == ["CHILD_PROTECTION"]
    assert seen["lead_practitioner"]["practitioner_id"] == "lp-1"
    # the unborn child became the born baby (same hub person, now a CHILD)
    members = {m["relationship"]: m["person_id"] for m in seen["members"]}
    assert set(members) == {"ANCHOR", "CHILD"}
    assert seen["pregnancies"][0]["unborn_person_id"] == members["CHILD"]
    assert [a["appointment_id"] for a in seen["missed_appointments"]] == ["APT-16W"]
    assert [a["appointment_id"] for a in seen["upcoming_appointments"]] == ["APT-20W"]
    assert seen["births"] == [
        {"person_id": members["CHILD"], "birth_date": "2026-09-18", "organisation_code": "R0A"}
    ]
    midwife = client.get(f"/families/{key}/team", headers=MIDWIFE).json()
    assert midwife["active_plans"] == []  # a CP plan classed SAFEGUARDING: not her role
    assert midwife["pregnancies"][0]["expected_delivery_date"] == "2026-09-20"


def test_a_reader_with_no_basis_gets_404_like_an_unknown_family(client: TestClient) -> None:
    key = family_key(client)
    for path in (f"/families/{key}/team", f"/people/{NHS_NUMBER}/team"):
        response = client.get(path, headers=HOME_START_WORKER)
        assert response.status_code == 404, response.text
    assert client.get("/families/no-such-family/team", headers=SOCIAL_WORKER).status_code == 404
    assert client.get("/people/0000000000/team", headers=SOCIAL_WORKER).status_code == 404
    assert client.get(f"/families/{key}/team").status_code == 401


def test_consent_opens_the_view_for_home_start(client: TestClient) -> None:
    key = family_key(client)
    consent = client.post(
        "/sharing/consents",
        headers=MIDWIFE,
        json={
            "subject": {"nhs_number": NHS_NUMBER},
            "recipients": [HOME_START],
            "categories": ["APPOINTMENTS", "DEMOGRAPHICS"],
            "method": "VERBAL",
        },
    )
    assert consent.status_code == 202, consent.text
    seen = client.get(f"/families/{key}/team", headers=HOME_START_WORKER)
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert [a["appointment_id"] for a in body["missed_appointments"]] == ["APT-16W"]
    assert body["practitioners"] == []
    assert body["active_plans"] == []


def test_the_baby_is_in_the_family_once_born(client: TestClient) -> None:
    baby = client.get(f"/people/{BABY_NHS}/team", headers=SOCIAL_WORKER).json()
    assert baby["family_key"] == family_key(client)


def test_a_caseload_is_read_by_its_practitioner_or_governance(client: TestClient) -> None:
    mine = client.get("/practitioners/mw-1/caseload", headers=MIDWIFE)
    assert mine.status_code == 200, mine.text
    [entry] = mine.json()["families"]
    assert entry["family_key"] == family_key(client)
    assert entry["roles"] == ["COMMUNITY_MIDWIFE"]
    assert entry["missed_appointments"] == 1
    assert entry["expected_delivery_dates"] == ["2026-09-20"]
    assert entry["lead_practitioner"]["practitioner_id"] == "lp-1"
    assert client.get("/practitioners/lp-1/caseload", headers=MIDWIFE).status_code == 403
    # a charity's safeguarding lead may ask, but has no basis to see this family
    other = client.get("/practitioners/mw-1/caseload", headers=HOME_START_DSL)
    assert other.status_code == 200, other.text
    assert other.json()["families"] == []
    assert client.get("/practitioners/nobody/caseload", headers=NOBODY).json()["families"] == []


def test_no_data_when_the_disclosure_cannot_be_recorded(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    dead = KafkaPublisher(f"127.0.0.1:{free_port()}", timeout_s=2, extra_config={"log_level": 0})
    for client in _client(settings, dead):
        response = client.get(f"/people/{NHS_NUMBER}/team", headers=SOCIAL_WORKER)
        assert response.status_code == 503
        assert "family_key" not in response.text
        assert client.get("/practitioners/mw-1/caseload", headers=MIDWIFE).status_code == 503


UNKNOWN = "0000000000"
R0A_CALDICOTT = reader("r0a-caldicott", "R0A", "CALDICOTT_GUARDIAN")


@pytest.mark.parametrize(
    ("headers", "person", "status"),
    [
        # Not a governance role: refused for who the reader is, the same for every person, so
        # the answer says nothing about this one (README, "Who may read what").
        *[
            (who, person, 403)
            for who in (
                SOCIAL_WORKER,
                MIDWIFE,
                HOME_START_WORKER,
                reader("hs-dpo", HOME_START, "DATA_PROTECTION_OFFICER"),  # erases; reads no log
            )
            for person in (NHS_NUMBER, UNKNOWN)
        ],
        # A governance role: her report if her organisation is involved (R0A holds the
        # mother's records), else 404, as for a person the hub does not know.
        (R0A_CALDICOTT, NHS_NUMBER, 200),
        (R0A_CALDICOTT, UNKNOWN, 404),
        (HOME_START_DSL, NHS_NUMBER, 404),
        (HOME_START_DSL, UNKNOWN, 404),
    ],
)
def test_the_disclosure_report_refuses_by_role_then_hides_by_involvement(
    report_client: TestClient, headers: dict[str, str], person: str, status: int
) -> None:
    answer = report_client.get(f"/people/{person}/disclosures", headers=headers)
    assert answer.status_code == status
