"""The domain story's sharing half, through the real API and worker on the real broker.

A missed appointment; Home-Start sees nothing until the mother consents; the statutory partners
see it on public task; she withdraws consent for Home-Start and the very next read excludes it;
a safeguarding override widens sharing only as stated; the safeguarding lead sees the override;
every read is in the disclosure log, which a Caldicott guardian can report on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from tests.builders import HOME_START, NHS_NUMBER, SALFORD_COUNCIL, missed
from tests.e2e.conftest import reader, worker_ready_with_midwife
from tests.support.processes import eventually
from tests.support.topics import disclosures_read, read_topic

HOME_START_WORKER = reader("hs-3", HOME_START, "KEY_WORKER")
SOCIAL_WORKER = reader("sw-7", SALFORD_COUNCIL, "SOCIAL_WORKER")
PROGRAMME_MIDWIFE = reader("mw-1", "R0A", "PROGRAMME_MIDWIFE")
COUNCIL_DSL = reader(
    "salford-csc-designated-officer", SALFORD_COUNCIL, "DESIGNATED_SAFEGUARDING_LEAD"
)
CALDICOTT = reader("r0a-caldicott", "R0A", "CALDICOTT_GUARDIAN")
MOTHER = {"nhs_number": NHS_NUMBER}


def test_consent_withdrawal_override_and_the_disclosure_log(
    hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = hub
    log = tmp_path / "worker.log"
    worker_ready_with_midwife(settings, base, log)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        CaseEventSink(publisher, settings, open_key_store(settings)).publish_sync(missed("APT-16W"))
    finally:
        publisher.close()

    def alerts(headers: dict[str, str]) -> list[dict[str, Any]]:
        response = httpx.get(f"{base}/people/{NHS_NUMBER}/alerts", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    def post(path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        response = httpx.post(f"{base}{path}", headers=headers, json=body, timeout=30)
        assert response.status_code == 202, response.text

    eventually(lambda: len(alerts(SOCIAL_WORKER)) == 1, timeout_s=30, what="the alert", log=log)
    assert httpx.get(f"{base}/people/{NHS_NUMBER}/alerts", timeout=10).status_code == 401
    assert alerts(HOME_START_WORKER) == []  # no consent yet

    post(
        "/sharing/consents",
        PROGRAMME_MIDWIFE,
        {
            "subject": MOTHER,
            "consent_id": "sf-consent-1",
            "recipients": [HOME_START],
            "categories": ["APPOINTMENTS", "DEMOGRAPHICS"],
            "method": "WRITTEN",
        },
    )
    [seen] = alerts(HOME_START_WORKER)  # at once: the API folded the acknowledged consent
    assert seen["person"]["nhs_number"] == NHS_NUMBER

    post("/sharing/withdrawals", PROGRAMME_MIDWIFE, {"subject": MOTHER, "recipients": [HOME_START]})
    assert alerts(HOME_START_WORKER) == []  # the very next read
    assert len(alerts(SOCIAL_WORKER)) == 1  # statutory partners keep theirs

    expiry = datetime.now(UTC) + timedelta(days=7)
    post(
        "/sharing/overrides",
        SOCIAL_WORKER,
        {
            "subject": MOTHER,
            "override_id": "ovr-1",
            "reason_code": "PRE_BIRTH_CONCERN",
            "recipients": [HOME_START],
            "categories": ["APPOINTMENTS"],
            "expires_at": expiry.isoformat(),
        },
    )
    [seen] = alerts(HOME_START_WORKER)
    assert seen["person"] is None  # the override names appointments only, not demographics
    refused = httpx.post(
        f"{base}/sharing/overrides",
        headers=HOME_START_WORKER,
        json={
            "subject": MOTHER,
            "reason_code": "PRE_BIRTH_CONCERN",
            "recipients": [HOME_START],
            "categories": ["MENTAL_HEALTH"],
            "expires_at": expiry.isoformat(),
        },
        timeout=10,
    )
    assert refused.status_code == 403  # a charity cannot widen its own access

    overrides = httpx.get(f"{base}/safeguarding/overrides", headers=COUNCIL_DSL, timeout=10)
    assert [o["override_id"] for o in overrides.json()] == ["ovr-1"]
    assert httpx.get(f"{base}/safeguarding/overrides", headers=SOCIAL_WORKER).status_code == 403

    def report() -> dict[str, Any]:
        response = httpx.get(f"{base}/people/{NHS_NUMBER}/disclosures", headers=CALDICOTT)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    eventually(
        lambda: (
            {"CONSENT", "SAFEGUARDING"}
            <= {
                item["basis"]
                for d in report()["disclosures"]
                if d["recipient_organisation"] == HOME_START
                for item in d["items"]
            }
        ),
        timeout_s=30,
        what="Home-Start's disclosures in the log",
        log=log,
    )
    summary = {row["organisation"]: row["categories"] for row in report()["summary"]}
    assert summary[HOME_START] == ["APPOINTMENTS", "DEMOGRAPHICS"]
    assert "APPOINTMENTS" in summary[SALFORD_COUNCIL]
    # Home-Start's refused reads are on record too, with the reason.
    withheld = [
        w
        for d in report()["disclosures"]
        if d["recipient_organisation"] == HOME_START
        for w in d["withheld"]
    ]
    assert any("withdrawn" in w["reason"] for w in withheld)

    codec = disclosures_read(settings)
    on_topic = [
        codec.decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.disclosures_topic, expect=8)
    ]
    assert {d.channel for d in on_topic} >= {"API", "NOTIFICATION", "EXPORT"}
