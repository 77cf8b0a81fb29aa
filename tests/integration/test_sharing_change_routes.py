"""Changing who may see what, over HTTP, as the tester of issue 17 did it (ADR 0019).

The app in-process (real SQLite stores, the real gate, the real broker), with the mother's
Salford story applied: her midwife's trust (R0A) and the council hold records about her and
have practitioners assigned; Home-Start does not, until its key worker is assigned. First the
tester's three attacks, then every sharing-change route x the roles and kinds of organisation
that call it, held changes, a partner's webhook consents and identity links.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from hub.http.dependencies import running_hub
from hub.kafka.publisher import KafkaPublisher
from hub.payloads import PersonIdentifier
from hub.settings import Settings
from hub.vocabulary import PractitionerRole
from tests.builders import HOME_START, NHS_NUMBER, SALFORD_COUNCIL
from tests.e2e.conftest import in_process_outsider, reader
from tests.integration.test_team_routes import NOW, _client
from tests.team_builders import COUNCIL, HOME_START_SOURCE, mother_registered, practitioner

pytestmark = pytest.mark.kafka

OUTSIDE = "RX1"
WOMENS_AID = "VCS-WOMENSAID-MCR"
KEY_WORKER = reader("hs-3", HOME_START, "KEY_WORKER")
HOME_START_DSL = reader("homestart-salford-dsl", HOME_START, "DESIGNATED_SAFEGUARDING_LEAD")
MIDWIFE = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")
R0A_SAFEGUARDING = reader("r0a-sg", "R0A", "SAFEGUARDING_MIDWIFE")
R0A_CALDICOTT = reader("r0a-caldicott", "R0A", "CALDICOTT_GUARDIAN")
R0A_SYSTEM = reader("r0a-system", "R0A", "PARTNER_SYSTEM")
GP = reader("gp-1", "R0A", "GP")
SOCIAL_WORKER = reader("sw-7", SALFORD_COUNCIL, "SOCIAL_WORKER")
COUNCIL_DSL = reader(
    "salford-csc-designated-officer", SALFORD_COUNCIL, "DESIGNATED_SAFEGUARDING_LEAD"
)
STRANGER = in_process_outsider("mw-9", OUTSIDE, "COMMUNITY_MIDWIFE")
STRANGER_DSL = in_process_outsider("rx1-dsl", OUTSIDE, "DESIGNATED_SAFEGUARDING_LEAD")
MOTHER = {"nhs_number": NHS_NUMBER}
SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two bytes").decode()


def consent(recipient: str = HOME_START, **more: Any) -> dict[str, Any]:
    return {
        "subject": MOTHER,
        "recipients": [recipient],
        "categories": ["APPOINTMENTS", "DEMOGRAPHICS"],
        "method": "WRITTEN",
        **more,
    }


def override(override_id: str, recipient: str = HOME_START) -> dict[str, Any]:
    return {
        "subject": MOTHER,
        "override_id": override_id,
        "reason_code": "PRE_BIRTH_CONCERN",
        "reason": "unborn baby at risk",
        "recipients": [recipient],
        "categories": ["APPOINTMENTS"],
        "expires_at": (NOW + timedelta(days=7)).isoformat(),
    }


@pytest.fixture
def client(make_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[TestClient]:
    """The app, with a webhook feed for Home-Start Salford (a party to the agreement)."""
    feeds = tmp_path / "partners"
    feeds.mkdir()
    (feeds / "homestart-salford.toml").write_text(
        f'organisation_code = "{HOME_START}"\nconnector = "voluntary-activity"\n\n'
        f'[config]\nsystem = "homestart-charitylog"\norganisation_code = "{HOME_START}"\n'
        'programme = "Strengthening Families"\n'
    )
    settings = make_settings(partners_dir=feeds, webhook_secrets={HOME_START: SECRET})
    yield from _client(settings, KafkaPublisher(settings.bootstrap_servers()))


def home_start_is_assigned(client: TestClient) -> None:
    """Home-Start's key worker is allocated to the mother: Home-Start is now involved."""
    allocated = practitioner(
        "hs-3", PractitionerRole.KEY_WORKER, organisation=HOME_START, source=HOME_START_SOURCE
    )
    running_hub(client.app).team.apply("more", 0, 0, allocated)


def team_status(client: TestClient, headers: dict[str, str]) -> int:
    return client.get(f"/people/{NHS_NUMBER}/team", headers=headers).status_code


def sees_missed_appointment(client: TestClient, headers: dict[str, str]) -> bool:
    """Whether the reader's view of the mother's team shows her missed appointment."""
    response = client.get(f"/people/{NHS_NUMBER}/team", headers=headers)
    return response.status_code == 200 and bool(response.json()["missed_appointments"])


def test_the_testers_three_attacks_are_refused_and_on_record(client: TestClient) -> None:
    # 1. A key worker records a "consent" naming her own charity for a mother it does not know.
    assert team_status(client, KEY_WORKER) == 404
    refused = client.post("/sharing/consents", headers=KEY_WORKER, json=consent())
    assert refused.status_code == 403, refused.text
    assert "holds no record about this person" in refused.json()["detail"]
    assert team_status(client, KEY_WORKER) == 404  # her view did not open

    # 2. A key worker ends the council's safeguarding override; so does another trust's lead.
    started = client.post("/sharing/overrides", headers=SOCIAL_WORKER, json=override("ovr-1"))
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "applied"
    assert team_status(client, KEY_WORKER) == 200  # the override opens appointments
    for who in (KEY_WORKER, R0A_SAFEGUARDING):
        ended = client.post("/sharing/overrides/ovr-1/end", headers=who, json={"subject": MOTHER})
        assert ended.status_code == 403, ended.text
    assert team_status(client, KEY_WORKER) == 200  # still in force
    ended = client.post(
        "/sharing/overrides/ovr-1/end",
        headers=COUNCIL_DSL,
        json={"subject": MOTHER, "reason": "strategy meeting: no longer needed"},
    )
    assert ended.status_code == 202, ended.text
    assert team_status(client, KEY_WORKER) == 404

    # 3. An organisation outside the agreement withdraws all her consents and records new ones.
    given = client.post("/sharing/consents", headers=MIDWIFE, json=consent())
    assert given.status_code == 202, given.text
    assert team_status(client, KEY_WORKER) == 200
    withdrawn = client.post("/sharing/withdrawals", headers=STRANGER, json={"subject": MOTHER})
    assert withdrawn.status_code == 403, withdrawn.text
    assert "not party to agreement" in withdrawn.json()["detail"]
    assert client.post("/sharing/consents", headers=STRANGER, json=consent()).status_code == 403
    assert team_status(client, KEY_WORKER) == 200  # the mother's consent stands

    # Never silent: each refusal is listed for the safeguarding lead of the organisation that
    # tried, and is in the mother's audit report with who, as what, and why it was refused.
    mine = client.get("/sharing/refused-changes", headers=HOME_START_DSL).json()
    assert [(c["kind"], c["outcome"], c["user_id"]) for c in mine] == [
        ("CONSENT_RECORDED", "DENY", "hs-3"),
        ("OVERRIDE_ENDED", "DENY", "hs-3"),
    ]
    assert client.get("/sharing/refused-changes", headers=KEY_WORKER).status_code == 403
    outside = client.get("/sharing/refused-changes", headers=STRANGER_DSL).json()
    assert [c["kind"] for c in outside] == ["CONSENT_WITHDRAWN", "CONSENT_RECORDED"]
    report = client.get(f"/people/{NHS_NUMBER}/disclosures", headers=R0A_CALDICOTT)
    assert report.status_code == 200, report.text
    changes = [
        (c["organisation_code"], c["role"], c["kind"], c["outcome"])
        for c in report.json()["changes"]
    ]
    assert changes == [
        (HOME_START, "KEY_WORKER", "CONSENT_RECORDED", "DENY"),
        (SALFORD_COUNCIL, "SOCIAL_WORKER", "OVERRIDE_STARTED", "PERMIT"),
        (HOME_START, "KEY_WORKER", "OVERRIDE_ENDED", "DENY"),
        ("R0A", "SAFEGUARDING_MIDWIFE", "OVERRIDE_ENDED", "DENY"),
        (SALFORD_COUNCIL, "DESIGNATED_SAFEGUARDING_LEAD", "OVERRIDE_ENDED", "PERMIT"),
        ("R0A", "COMMUNITY_MIDWIFE", "CONSENT_RECORDED", "PERMIT"),
        (OUTSIDE, "COMMUNITY_MIDWIFE", "CONSENT_WITHDRAWN", "DENY"),
        (OUTSIDE, "COMMUNITY_MIDWIFE", "CONSENT_RECORDED", "DENY"),
    ]
    applied = report.json()["changes"][5]
    assert applied["evidence"]["method"] == "WRITTEN"
    assert applied["evidence"]["obtained_by"] == "mw-1"
    assert applied["event_id"] == given.json()["event_id"]
    assert report.json()["changes"][4]["justification"] == "strategy meeting: no longer needed"


# route, body -> who calls it -> status (403: the policy refused it; 202: applied or held)
def _routes(override_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "consent for Women's Aid": ("/sharing/consents", consent(WOMENS_AID)),
        "withdrawal": ("/sharing/withdrawals", {"subject": MOTHER, "recipients": [WOMENS_AID]}),
        "override for Women's Aid": ("/sharing/overrides", override(f"{override_id}-new")),
        "end of the council's override": (
            f"/sharing/overrides/{override_id}/end",
            {"subject": MOTHER},
        ),
    }


CALLERS: dict[str, tuple[dict[str, str], dict[str, int]]] = {
    "an involved trust's midwife": (
        MIDWIFE,
        {"consent": 202, "withdrawal": 202, "override": 403, "end": 403},
    ),
    "an involved trust's safeguarding midwife": (
        R0A_SAFEGUARDING,
        {"consent": 202, "withdrawal": 202, "override": 202, "end": 403},
    ),
    "an involved trust's system, naming no practitioner": (
        R0A_SYSTEM,
        {"consent": 403, "withdrawal": 202, "override": 403, "end": 403},
    ),
    "an involved trust's Caldicott guardian": (
        R0A_CALDICOTT,
        {"consent": 403, "withdrawal": 202, "override": 403, "end": 403},
    ),
    "the council's social worker (its override)": (
        SOCIAL_WORKER,
        {"consent": 202, "withdrawal": 202, "override": 202, "end": 202},
    ),
    "an uninvolved charity's key worker": (
        KEY_WORKER,
        {"consent": 403, "withdrawal": 403, "override": 403, "end": 403},
    ),
    "an uninvolved charity's safeguarding lead": (
        HOME_START_DSL,
        {"consent": 403, "withdrawal": 403, "override": 403, "end": 403},
    ),
    "a trust outside the agreement": (
        STRANGER,
        {"consent": 403, "withdrawal": 403, "override": 403, "end": 403},
    ),
    "its safeguarding lead": (
        STRANGER_DSL,
        {"consent": 403, "withdrawal": 403, "override": 403, "end": 403},
    ),
}


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_every_change_route_by_every_kind_of_caller(client: TestClient, caller: str) -> None:
    headers, statuses = CALLERS[caller]
    override_id = f"ovr-{uuid.uuid4().hex[:6]}"
    started = client.post("/sharing/overrides", headers=SOCIAL_WORKER, json=override(override_id))
    assert started.status_code == 202, started.text
    for name, (path, body) in _routes(override_id).items():
        response = client.post(path, headers=headers, json=body)
        want = statuses[name.split()[0]]
        assert response.status_code == want, f"{caller}: {name} -> {response.text}"
        if want == 403:
            assert response.json()["detail"]  # the reason
        else:
            assert response.json()["status"] == "applied"


def test_a_charity_widening_its_own_access_is_held_for_review(client: TestClient) -> None:
    home_start_is_assigned(client)
    held = client.post("/sharing/consents", headers=KEY_WORKER, json=consent())
    assert held.status_code == 202, held.text
    assert held.json()["status"] == "review"
    assert held.json()["event_id"] is None
    assert not sees_missed_appointment(client, KEY_WORKER)  # not applied
    [listed] = client.get("/sharing/refused-changes", headers=HOME_START_DSL).json()
    assert listed["outcome"] == "REVIEW"
    assert listed["held_event"]["payload"]["recipients"] == [HOME_START]
    # Reviewed by a statutory party involved with her, never by the charity itself or outsiders.
    assert client.get("/sharing/held-changes", headers=HOME_START_DSL).json() == []
    assert client.get("/sharing/held-changes", headers=STRANGER_DSL).json() == []
    [waiting] = client.get("/sharing/held-changes", headers=R0A_CALDICOTT).json()
    assert waiting["change_id"] == held.json()["change_id"]
    path = f"/sharing/held-changes/{waiting['change_id']}"
    apply = {"decision": "APPLY", "reason": "confirmed with the mother at her booking visit"}
    for who in (KEY_WORKER, HOME_START_DSL, STRANGER_DSL, MIDWIFE):
        refused = client.post(path, headers=who, json=apply)
        assert refused.status_code == 403, refused.text
    assert not sees_missed_appointment(client, KEY_WORKER)
    applied = client.post(path, headers=R0A_CALDICOTT, json=apply)
    assert applied.status_code == 202, applied.text
    assert applied.json()["status"] == "applied"
    assert sees_missed_appointment(client, KEY_WORKER)  # the consent is in force now
    again = client.post(path, headers=COUNCIL_DSL, json={**apply, "decision": "REJECT"})
    assert again.status_code == 409, again.text
    assert client.get("/sharing/held-changes", headers=R0A_CALDICOTT).json() == []
    report = client.get(f"/people/{NHS_NUMBER}/disclosures", headers=R0A_CALDICOTT).json()
    [review] = [c for c in report["changes"] if c["review_of"] == waiting["change_id"]]
    assert (review["organisation_code"], review["outcome"]) == ("R0A", "PERMIT")
    assert review["justification"] == apply["reason"]
    assert review["event_id"] == applied.json()["event_id"]

    # Another held consent, rejected: nothing applied.
    second = client.post("/sharing/consents", headers=KEY_WORKER, json=consent(consent_id="c-2"))
    assert second.json()["status"] == "review", second.text
    rejected = client.post(
        f"/sharing/held-changes/{second.json()['change_id']}",
        headers=COUNCIL_DSL,
        json={"decision": "REJECT", "reason": "the mother says she did not agree to this"},
    )
    assert rejected.json()["status"] == "rejected", rejected.text
    assert client.get("/sharing/held-changes", headers=COUNCIL_DSL).json() == []

    # The key worker may record a consent she obtained for another charity, and a withdrawal.
    other = client.post("/sharing/consents", headers=KEY_WORKER, json=consent(WOMENS_AID))
    assert other.json()["status"] == "applied", other.text
    withdrawn = client.post("/sharing/withdrawals", headers=KEY_WORKER, json={"subject": MOTHER})
    assert withdrawn.json()["status"] == "applied", withdrawn.text


def test_a_consent_obtained_in_the_future_is_refused(client: TestClient) -> None:
    tomorrow = (NOW + timedelta(days=1)).isoformat()
    response = client.post("/sharing/consents", headers=MIDWIFE, json=consent(obtained_at=tomorrow))
    assert response.status_code == 403
    assert "in the future" in response.json()["detail"]
    no_method = consent()
    del no_method["method"]
    assert client.post("/sharing/consents", headers=MIDWIFE, json=no_method).status_code == 422


def _webhook(client: TestClient, event: str, **data: str) -> Any:
    body = json.dumps(
        {
            "type": event,
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "record_id": f"c-{uuid.uuid4().hex[:6]}",
                "occurred_on": "2026-03-01",
                "nhs_number": NHS_NUMBER,
                "recorded_by": "hs-3",
                **data,
            },
        }
    )
    message_id, at = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(message_id, at, body),
        "content-type": "application/json",
    }
    return client.post(f"/partners/{HOME_START}/webhooks", content=body, headers=headers)


def test_a_charitys_webhook_consents_pass_the_same_decision(client: TestClient) -> None:
    fields = {"recipients": HOME_START, "categories": "APPOINTMENTS;DEMOGRAPHICS"}
    fields["purposes"] = "DIRECT_CARE"
    refused = _webhook(client, "consent_recorded", **fields)
    assert refused.status_code == 422, refused.text  # Home-Start is not involved with her
    assert "refused by the sharing policy" in json.dumps(refused.json()["errors"])
    assert team_status(client, KEY_WORKER) == 404

    home_start_is_assigned(client)
    held = _webhook(client, "consent_recorded", **fields)
    assert held.status_code == 202, held.text
    assert held.json()["event_ids"] == []  # held for review, not published
    assert not sees_missed_appointment(client, KEY_WORKER)
    other = _webhook(client, "consent_recorded", **{**fields, "recipients": WOMENS_AID})
    assert len(other.json()["event_ids"]) == 1, other.text
    withdrawn = _webhook(client, "consent_withdrawn")
    assert len(withdrawn.json()["event_ids"]) == 1, withdrawn.text
    listed = client.get("/sharing/refused-changes", headers=HOME_START_DSL).json()
    assert [(c["outcome"], c["channel"], c["role"]) for c in listed] == [
        ("DENY", "webhook", "PARTNER_SYSTEM"),
        ("REVIEW", "webhook", "PARTNER_SYSTEM"),
    ]


def test_a_charitys_uploaded_consents_pass_the_same_decision(client: TestClient) -> None:
    csv = (
        "record_id,event,occurred_on,nhs_number,recorded_by,recipients,categories,purposes\n"
        f"CON-1,consent_recorded,2026-03-01,{NHS_NUMBER},hs-3,{HOME_START},APPOINTMENTS,"
        "DIRECT_CARE\n"
    )
    headers = {**KEY_WORKER, "content-type": "text/csv"}
    uploaded = client.post(f"/partners/{HOME_START}/uploads", content=csv, headers=headers)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["published"] == 0  # Home-Start is not involved with her
    [refusal] = uploaded.json()["refused"]
    assert "refused by the sharing policy" in json.dumps(refusal["errors"])
    assert team_status(client, KEY_WORKER) == 404
    listed = client.get("/sharing/refused-changes", headers=HOME_START_DSL).json()
    assert [(c["outcome"], c["channel"]) for c in listed] == [("DENY", "upload")]


def test_an_identity_link_is_confirmed_only_by_the_roles_the_agreement_names(
    client: TestClient,
) -> None:
    council_record = mother_registered(source=COUNCIL).model_copy(
        update={"subject": (PersonIdentifier(system="urn:council:355:person", value="P77"),)}
    )
    running_hub(client.app).identity.apply("more", 0, 0, council_record)
    [review] = client.get("/identity/reviews", headers=SOCIAL_WORKER).json()
    path = f"/identity/reviews/{review['review_id']}"
    for who in (GP, MIDWIFE, R0A_SYSTEM):
        refused = client.post(path, headers=who, json={"decision": "LINK"})
        assert refused.status_code == 403, refused.text
        assert "confirm an identity link" in refused.json()["detail"]
    assert client.post(path, headers=KEY_WORKER, json={"decision": "LINK"}).status_code == 403
    assert len(client.get("/identity/reviews", headers=SOCIAL_WORKER).json()) == 1  # still open
    linked = client.post(path, headers=SOCIAL_WORKER, json={"decision": "LINK"})
    assert linked.status_code == 202, linked.text
    assert linked.json()["event_type"] == "PERSON_MERGED"
    listed = client.get("/sharing/refused-changes", headers=R0A_CALDICOTT).json()
    assert [(c["kind"], c["role"]) for c in listed] == [
        ("IDENTITY_LINK_CONFIRMED", "GP"),
        ("IDENTITY_LINK_CONFIRMED", "COMMUNITY_MIDWIFE"),
        ("IDENTITY_LINK_CONFIRMED", "PARTNER_SYSTEM"),
    ]
