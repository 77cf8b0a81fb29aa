"""The team around the family through the real worker and API on the real broker.

A mother is registered and expecting; her midwife and the council's lead practitioner are
assigned; a CP plan starts; she is accepted onto Strengthening Families; one appointment is
booked ahead and one was missed. The social worker sees all of it, her midwife sees her caseload,
a charity with no basis sees nothing (404, as for a family that does not exist), and every read
is in the disclosure log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from tests.builders import HOME_START, NHS_NUMBER, SALFORD_COUNCIL
from tests.e2e.conftest import reader
from tests.support.processes import eventually
from tests.team_builders import family_story

SOCIAL_WORKER = reader("sw-7", SALFORD_COUNCIL, "SOCIAL_WORKER")
MIDWIFE = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")
HOME_START_WORKER = reader("hs-3", HOME_START, "KEY_WORKER")
HOME_START_DSL = reader("homestart-salford-dsl", HOME_START, "DESIGNATED_SAFEGUARDING_LEAD")
CALDICOTT = reader("r0a-caldicott", "R0A", "CALDICOTT_GUARDIAN")


def test_the_team_view_and_caseload_per_reader(hub: tuple[Settings, str], tmp_path: Path) -> None:
    settings, base = hub
    log = tmp_path / "worker.log"
    eventually(
        lambda: httpx.get(f"{base}/health", timeout=10).status_code == 200,
        timeout_s=90,
        what="/health 200",
        log=log,
    )
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        for event in family_story(datetime.now(UTC)):
            sink.publish_sync(event)
    finally:
        publisher.close()

    def team(path: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(f"{base}{path}", headers=headers, timeout=30)

    def complete() -> bool:
        response = team(f"/people/{NHS_NUMBER}/team", SOCIAL_WORKER)
        if response.status_code != 200:
            return False
        body = response.json()
        return bool(body["missed_appointments"] and body["upcoming_appointments"])

    eventually(complete, timeout_s=60, what="the family's team view", log=log)
    family_key = team(f"/people/{NHS_NUMBER}/team", SOCIAL_WORKER).json()["family_key"]
    assert family_key

    seen: dict[str, Any] = team(f"/families/{family_key}/team", SOCIAL_WORKER).json()
    assert {m["relationship"] for m in seen["members"]} == {"ANCHOR", "UNBORN_CHILD"}
    assert {(p["practitioner_id"], p["role"]) for p in seen["practitioners"]} == {
        ("mw-1", "COMMUNITY_MIDWIFE"),
        ("lp-1", "LEAD_PRACTITIONER"),
    }
    assert seen["lead_practitioner"]["practitioner_id"] == "lp-1"
    assert [p["plan_type"] for p in seen["active_plans"]] == ["CHILD_PROTECTION"]
    assert [(p["programme"], p["pathway"]) for p in seen["programmes"]] == [
        ("Strengthening Families", "B")
    ]
    assert [p["expected_delivery_date"] for p in seen["pregnancies"]] == ["2026-09-20"]
    assert [a["appointment_id"] for a in seen["upcoming_appointments"]] == ["APT-20W"]
    assert [a["appointment_id"] for a in seen["missed_appointments"]] == ["APT-16W"]

    caseload = team("/practitioners/mw-1/caseload", MIDWIFE)
    assert caseload.status_code == 200, caseload.text
    [entry] = caseload.json()["families"]
    assert (entry["family_key"], entry["roles"]) == (family_key, ["COMMUNITY_MIDWIFE"])

    # A partner with no basis: the family is not confirmed to exist, the caseload is empty.
    assert team(f"/families/{family_key}/team", HOME_START_WORKER).status_code == 404
    other = team("/practitioners/mw-1/caseload", HOME_START_DSL)
    assert other.status_code == 200, other.text
    assert other.json()["families"] == []

    def disclosures() -> list[dict[str, Any]]:
        response = team(f"/people/{NHS_NUMBER}/disclosures", CALDICOTT)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["disclosures"]
        return found

    def on_record(organisation: str, path: str) -> list[dict[str, Any]]:
        return [
            d
            for d in disclosures()
            if d["recipient_organisation"] == organisation and d["reference"] == f"GET {path}"
        ]

    team_path = f"/families/{family_key}/team"
    eventually(
        lambda: bool(on_record(HOME_START, team_path) and on_record(SALFORD_COUNCIL, team_path)),
        timeout_s=30,
        what="the team reads in the disclosure log",
        log=log,
    )
    [council] = on_record(SALFORD_COUNCIL, team_path)
    assert council["family_key"] == family_key
    assert "SAFEGUARDING" in {i["category"] for i in council["items"]}
    [refused] = on_record(HOME_START, team_path)
    assert refused["items"] == []
    assert refused["withheld"]
    assert on_record("R0A", "/practitioners/mw-1/caseload")
