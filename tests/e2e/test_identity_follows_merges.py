"""Identity through the real worker: a merge on the log makes a person's views follow it, and a
demographic near-match waits for a person's decision (published back to the log as a merge)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import httpx

from hub.erasure.keystore import open_key_store
from hub.events import EventType
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.payloads import PersonIdentifier, PersonMerged, PersonRegistered
from hub.settings import Settings
from tests.builders import NHS_NUMBER, event, missed
from tests.e2e.conftest import reader, worker_ready_with_midwife
from tests.support.processes import eventually

MRN = PersonIdentifier(system="https://mft.nhs.uk/Id/mrn", value="M123")
COUNCIL = PersonIdentifier(system="urn:council:355:person", value="P77")
SOCIAL_WORKER = reader("sw-7", "355", "SOCIAL_WORKER")
AMY = PersonRegistered(
    given_name="Amy", family_name="Example", birth_date=date(1999, 4, 1), postcode="M5 4WT"
)


def test_alerts_follow_a_merge_and_reviews_resolve_through_the_api(
    hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = hub
    log = tmp_path / "worker.log"
    worker_ready_with_midwife(settings, base, log)
    mrn_only = missed("APT-MRN").model_copy(update={"subject": (MRN,)})
    council_record = event(EventType.PERSON_REGISTERED, AMY, record_id="council-1").model_copy(
        update={"subject": (COUNCIL,)}
    )
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        sink.publish_sync(event(EventType.PERSON_REGISTERED, AMY, record_id="pas-1"))
        sink.publish_sync(mrn_only)
        sink.publish_sync(council_record)

        def alerts_for(key: str) -> list[dict[str, Any]]:
            response = httpx.get(f"{base}/people/{key}/alerts", headers=SOCIAL_WORKER)
            assert response.status_code == 200, response.text
            found: list[dict[str, Any]] = response.json()
            return found

        mrn_key = f"{MRN.system}|{MRN.value}"
        eventually(lambda: len(alerts_for(mrn_key)) == 1, timeout_s=30, what="MRN alert", log=log)
        assert alerts_for(NHS_NUMBER) == []
        sink.publish_sync(
            event(EventType.PERSON_MERGED, PersonMerged(merged=(MRN,)), record_id="a40-1")
        )
        eventually(
            lambda: len(alerts_for(NHS_NUMBER)) == 1,
            timeout_s=30,
            what="the merged record's alert under the NHS number",
            log=log,
        )
    finally:
        publisher.close()

    def reviews() -> list[dict[str, Any]]:
        response = httpx.get(f"{base}/identity/reviews", headers=SOCIAL_WORKER)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    eventually(lambda: len(reviews()) == 1, timeout_s=30, what="a review task", log=log)
    [review] = reviews()
    charity = reader("hs-3", "VCS-HOMESTART-SALFORD", "KEY_WORKER")
    assert httpx.get(f"{base}/identity/reviews", headers=charity).status_code == 403
    decided = httpx.post(
        f"{base}/identity/reviews/{review['review_id']}",
        headers=SOCIAL_WORKER,
        json={"decision": "LINK"},
        timeout=30,
    )
    assert decided.status_code == 202, decided.text
    assert decided.json()["event_type"] == "PERSON_MERGED"
    assert reviews() == []
    council_key = f"{COUNCIL.system}|{COUNCIL.value}"
    eventually(
        lambda: (
            len(httpx.get(f"{base}/people/{council_key}/alerts", headers=SOCIAL_WORKER).json()) == 1
        ),
        timeout_s=30,
        what="the council record linked to the mother (the MRN alert follows)",
        log=log,
    )
    # Who has seen data about her: the report follows the merge to the MRN record's reads.
    guardian = reader("cg-1", "R0A", "CALDICOTT_GUARDIAN")
    report = httpx.get(f"{base}/people/{NHS_NUMBER}/disclosures", headers=guardian, timeout=30)
    assert report.status_code == 200, report.text
    assert mrn_key in {entry["subject_key"] for entry in report.json()["disclosures"]}
