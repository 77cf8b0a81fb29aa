"""Another organisation's reader gets 403/404 on every route that names a family, person,
practitioner, alert or subscription — and never any of the data (issue 7, security checks).

The mother's story (tests/team_builders.family_story) runs through the real worker and API: her
midwife (R0A) has an alert, her family has a team, her midwife has a webhook subscription. Then
each intruder — a midwife of another trust, a charity worker with no basis, and governance roles
of organisations that hold nothing about her — calls every such route with her identifiers.

``ROUTES`` names every route of the app: a probe, or the reason it takes no one's identifier.
A route added without an entry fails :func:`test_every_route_has_an_entry`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from tests.builders import HOME_START, NHS_NUMBER
from tests.e2e.conftest import api_process, outsider, reader
from tests.e2e.test_authentication import PUBLIC, _routes
from tests.support.net import free_port
from tests.support.processes import eventually, hub_process
from tests.team_builders import family_story

pytestmark = pytest.mark.kafka

MIDWIFE = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")
# Parties to the agreement (RM3, the councils) may lawfully see her routine data for direct care
# (config/sharing/agreement.toml); these may not: a trust that is no party to it, and a charity
# she has not consented to.
OUTSIDE = "RX1"
# Registered once the hub runs (it would refuse to start with them): (user, organisation, role).
OUTSIDERS = {
    "a midwife of a trust outside the agreement": ("mw-9", OUTSIDE, "COMMUNITY_MIDWIFE"),
    "its Caldicott guardian": ("rx1-caldicott", OUTSIDE, "CALDICOTT_GUARDIAN"),
    "its data protection officer": ("rx1-dpo", OUTSIDE, "DATA_PROTECTION_OFFICER"),
}
INTRUDERS = {
    "a charity worker without consent": reader("hs-3", HOME_START, "KEY_WORKER"),
    "the charity's safeguarding lead": reader("hs-dsl", HOME_START, "DESIGNATED_SAFEGUARDING_LEAD"),
}


@dataclass(frozen=True)
class Ids:
    """The mother's identifiers, as an intruder would put them in a URL."""

    person: str
    family: str
    practitioner: str
    alert: str
    subscription: str


# Identifiers of no one: a 200 is allowed only where these get a 200 too (an empty answer that
# does not say whether she exists), and only without any of her data.
NOBODY = Ids(
    person="4010232137",
    family="00000000-0000-0000-0000-000000000000",
    practitioner="mw-nobody",
    alert="00000000-0000-0000-0000-000000000001",
    subscription="0000000000000000",
)


@dataclass(frozen=True)
class Probe:
    """How to call the route with the mother's ids; ``body`` is JSON, ``form`` a web form."""

    path: Callable[[Ids], str]
    body: dict[str, Any] | None = None
    form: dict[str, str] | None = None


# Every route of the app (method, path) -> a Probe, or why it names nobody else's data.
ROUTES: dict[tuple[str, str], Probe | str] = {
    **dict.fromkeys(PUBLIC, "public (tests/e2e/test_authentication.py)"),
    ("GET", "/people/{person_key:path}/disclosures"): Probe(
        lambda i: f"/people/{i.person}/disclosures"
    ),
    ("POST", "/people/{key:path}/erasure"): Probe(
        lambda i: f"/people/{i.person}/erasure", body={"reason": "an intruder's request"}
    ),
    ("GET", "/practitioners/{practitioner_id}/alerts"): Probe(
        lambda i: f"/practitioners/{i.practitioner}/alerts"
    ),
    ("GET", "/practitioners/{practitioner_id}/alerts/stream"): Probe(
        lambda i: f"/practitioners/{i.practitioner}/alerts/stream"
    ),
    ("GET", "/people/{person_key:path}/alerts"): Probe(lambda i: f"/people/{i.person}/alerts"),
    ("POST", "/alerts/{alert_id}/acknowledge"): Probe(
        lambda i: f"/alerts/{i.alert}/acknowledge", body={"note": "seen"}
    ),
    ("POST", "/alerts/{alert_id}/close"): Probe(
        lambda i: f"/alerts/{i.alert}/close", body={"reason": "closing it"}
    ),
    ("GET", "/families/{family_key}/team"): Probe(lambda i: f"/families/{i.family}/team"),
    ("GET", "/people/{person_key:path}/team"): Probe(lambda i: f"/people/{i.person}/team"),
    ("GET", "/practitioners/{practitioner_id}/caseload"): Probe(
        lambda i: f"/practitioners/{i.practitioner}/caseload"
    ),
    ("DELETE", "/subscriptions/{subscription_id}"): Probe(
        lambda i: f"/subscriptions/{i.subscription}"
    ),
    ("GET", "/subscriptions/{subscription_id}/dead-letters"): Probe(
        lambda i: f"/subscriptions/{i.subscription}/dead-letters"
    ),
    ("POST", "/subscriptions/{subscription_id}/dead-letters/replay"): Probe(
        lambda i: f"/subscriptions/{i.subscription}/dead-letters/replay"
    ),
    ("GET", "/inbox/alerts/{alert_id}"): Probe(lambda i: f"/inbox/alerts/{i.alert}"),
    ("POST", "/inbox/alerts/{alert_id}/acknowledge"): Probe(
        lambda i: f"/inbox/alerts/{i.alert}/acknowledge", form={"note": "seen"}
    ),
    ("POST", "/inbox/alerts/{alert_id}/close"): Probe(
        lambda i: f"/inbox/alerts/{i.alert}/close", form={"reason": "closing it"}
    ),
    # Routes that name no one else's data: the caller's own, or what the caller sends.
    ("POST", "/fhir/{resource_type}"): "writes as the caller's organisation (test_authentication)",
    ("PUT", "/fhir/{resource_type}/{resource_id}"): "writes as the caller's organisation",
    ("POST", "/fhir"): "writes as the caller's organisation",
    ("POST", "/partners/{code}/uploads"): "403 for another organisation (test_partner_ingest)",
    # Changes of sharing: decided by the policy for every caller (test_sharing_change_routes).
    ("POST", "/sharing/consents"): "a change decided by the policy (test_sharing_change_routes)",
    ("POST", "/sharing/withdrawals"): "a change decided by the policy (test_sharing_change_routes)",
    ("POST", "/sharing/overrides"): "a change decided by the policy (test_sharing_change_routes)",
    ("POST", "/sharing/overrides/{override_id}/end"): (
        "ended only by its own organisation (test_sharing_change_routes)"
    ),
    ("GET", "/sharing/refused-changes"): "the caller's organisation's refused and held changes",
    ("GET", "/sharing/held-changes"): "held changes the caller's organisation may review",
    ("POST", "/sharing/held-changes/{change_id}"): (
        "reviewed only by an involved statutory party (test_sharing_change_routes)"
    ),
    ("POST", "/team/assignments"): (
        "403 outside the agreement or for a charity (tests/unit/test_team_change_decision.py)"
    ),
    ("POST", "/team/unassignments"): (
        "ends only the caller's organisation's assignments (test_team_change_decision)"
    ),
    ("GET", "/safeguarding/overrides"): "the caller's organisation's overrides",
    ("GET", "/identity/reviews"): "possible matches for the caller's organisation's records",
    ("POST", "/identity/reviews/{review_id}"): "decided by the reviewing organisation",
    ("POST", "/subscriptions"): "creates the caller's own",
    ("GET", "/subscriptions"): "lists the caller's own",
    ("GET", "/inbox"): "the caller's own alerts",
    ("GET", "/outcomes/report"): "aggregates under disclosure control, programme managers only",
    ("GET", "/outcomes/report.csv"): "the same aggregates as CSV",
    ("GET", "/outcomes"): "the same aggregates as a page",
    ("POST", "/inbox/sign-out"): "the caller's own session",
    # The error queue (ADR 0030): an engineer's own organisation's input only, anything else
    # 404 (tests/unit/test_error_queue_fold.py, tests/e2e/test_error_queue.py).
    ("GET", "/quarantine"): "the caller's organisation's refused input",
    ("GET", "/quarantine/{item_id}"): "404 for another organisation's item (test_error_queue)",
    (
        "POST",
        "/quarantine/{item_id}/corrections",
    ): "404 for another organisation's (test_error_queue)",
    ("POST", "/quarantine/{item_id}/replay"): "404 for another organisation's item",
    ("POST", "/quarantine/{item_id}/dismiss"): "404 for another organisation's item",
    ("POST", "/quarantine/replay"): "replays the caller's organisation's items only",
    ("GET", "/queue"): "the caller's organisation's refused input",
    ("GET", "/queue/{item_id}"): "404 for another organisation's item (test_error_queue)",
    ("POST", "/queue/{item_id}/replay"): "404 for another organisation's item",
    ("POST", "/queue/{item_id}/dismiss"): "404 for another organisation's item",
    ("POST", "/inbox/language"): "sets only the caller's own language cookie, reads nothing",
}


def test_every_route_has_an_entry(make_settings: Callable[..., Settings]) -> None:
    routes = set(_routes(make_settings()))
    assert routes - ROUTES.keys() == set(), "a route without an isolation entry in ROUTES"
    assert ROUTES.keys() - routes == set(), "entries in ROUTES for routes that no longer exist"


@pytest.fixture
def story(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[str, Ids, Settings]]:
    """The API and the worker with the mother's story applied; yields base URL and her ids."""
    settings = make_settings(api_port=free_port())
    log = tmp_path / "worker.log"
    with api_process(settings, tmp_path) as base, hub_process("worker", settings, tmp_path):
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

        def alerts() -> list[dict[str, Any]]:
            url = f"{base}/practitioners/mw-1/alerts"
            found: list[dict[str, Any]] = httpx.get(url, headers=MIDWIFE).json()["alerts"]
            return found

        def team() -> httpx.Response:
            return httpx.get(f"{base}/people/{NHS_NUMBER}/team", headers=MIDWIFE, timeout=30)

        eventually(
            lambda: bool(alerts()) and team().status_code == 200,
            timeout_s=60,
            what="the alert and the team",
            log=log,
        )
        subscription = httpx.post(
            f"{base}/subscriptions", json={"url": "http://127.0.0.1:9/hook"}, headers=MIDWIFE
        )
        assert subscription.status_code == 201, subscription.text
        ids = Ids(
            person=NHS_NUMBER,
            family=team().json()["family_key"],
            practitioner="mw-1",
            alert=alerts()[0]["alert_id"],
            subscription=subscription.json()["subscription_id"],
        )
        yield base, ids, settings


def _call(
    base: str, method: str, probe: Probe, ids: Ids, headers: dict[str, str]
) -> tuple[int, str]:
    """Status and body; of an open event stream, what it sent in its first seconds."""
    url = f"{base}{probe.path(ids)}"
    if probe.form is not None:
        response = httpx.request(method, url, data=probe.form, headers=headers, timeout=30)
        return response.status_code, response.text
    if method == "GET" and url.endswith("/stream"):
        with httpx.stream(method, url, headers=headers, timeout=3) as stream:
            sent = ""
            try:
                for chunk in stream.iter_text():
                    sent += chunk
            except httpx.ReadTimeout:
                pass  # an open stream: what it sent so far is what an intruder got
            return stream.status_code, sent
    response = httpx.request(method, url, json=probe.body, headers=headers, timeout=30)
    return response.status_code, response.text


def test_no_route_gives_an_intruder_the_familys_data(story: tuple[str, Ids, Settings]) -> None:
    base, ids, settings = story
    intruders = {**INTRUDERS, **{who: outsider(settings, *o) for who, o in OUTSIDERS.items()}}
    midwife_view = httpx.get(f"{base}/people/{ids.person}/team", headers=MIDWIFE).json()
    members = midwife_view["members"]
    demographics = [m["demographics"] for m in members if m["demographics"]]
    values = {d[k] for d in demographics for k in ("given_name", "family_name", "postcode")}
    secrets = {ids.person, ids.family, ids.alert} | {m["person_id"] for m in members}
    secrets |= values - {None}
    assert {"Amy", "Example"} <= secrets  # the values looked for below are really there
    failures = []
    probes = [(route, probe) for route, probe in ROUTES.items() if isinstance(probe, Probe)]
    # Erasure last: were it allowed, it would empty what the other probes look for.
    probes.sort(key=lambda item: item[0][1].endswith("/erasure"))
    for who, headers in intruders.items():
        for (method, path), probe in probes:
            status, body = _call(base, method, probe, ids, headers)
            leaked = sorted(s for s in secrets if s in body and s not in probe.path(ids))
            refused = status in (403, 404)
            if not refused and status == 200:
                # Filtered to nothing: the same answer as for nobody, and none of her data.
                refused = _call(base, method, probe, NOBODY, headers)[0] == 200
            if not refused or leaked:
                failures.append(f"{who}: {method} {path} -> {status} {leaked}")
    assert failures == [], json.dumps(failures, indent=1)

    # The intruders changed nothing: the alert is open, the subscription is there.
    [alert] = [
        a
        for a in httpx.get(f"{base}/practitioners/mw-1/alerts", headers=MIDWIFE).json()["alerts"]
        if a["alert_id"] == ids.alert
    ]
    assert alert["status"] == "OPEN", alert
    mine = httpx.get(f"{base}/subscriptions", headers=MIDWIFE).json()
    assert [s["subscription_id"] for s in mine] == [ids.subscription]
