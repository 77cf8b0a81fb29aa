"""End to end on real processes: an HL7 SIU^S26 over MLLP becomes an alert in the midwife's
inbox page (headless Chromium) and in the API — for the right recipients only."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from hl7.client import MLLPClient
from playwright.sync_api import Page, sync_playwright

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.vocabulary import PractitionerRole
from tests.builders import assigned, registered
from tests.e2e.conftest import reader
from tests.support.processes import eventually

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
S26 = REPO / "tests" / "golden" / "hl7v2" / "siu-s26-noshow-start-in-ais.input.hl7"
MOTHER = "9434765919"  # the S26's PID-3 NHS number
OTHER_MOTHER = "4010232137"
CHARITY = "VCS-HOMESTART-SALFORD"
CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")  # Debian's package


def artefacts_dir() -> Path:
    """Where browser screenshots are kept for people to look at (CI can collect the folder)."""
    path = Path(os.environ.get("HUB_TEST_ARTEFACTS", REPO / "test-artefacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _api_key(user: str, organisation: str, role: str) -> str:
    """The API key the e2e helper registered for this reader (as ``hub clients add`` prints)."""
    return reader(user, organisation, role)["Authorization"].removeprefix("Bearer ")


def _sign_in(page: Page, api_key: str) -> None:
    page.fill("#api_key", api_key)
    page.click("#sign-in")


def _team(settings: Settings) -> None:
    """The mother's midwife and a charity key worker; another mother's midwife."""
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        sink.publish_sync(registered(nhs_number=MOTHER))  # the trust's record of the mother
        sink.publish_sync(assigned("mw-1"))
        kw = assigned("kw-1", PractitionerRole.KEY_WORKER, organisation_code=CHARITY)
        sink.publish_sync(kw)
        sink.publish_sync(assigned("mw-other", nhs_number=OTHER_MOTHER))
    finally:
        publisher.close()


def _alerts(base: str, user: str, organisation: str, role: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{base}/practitioners/{user}/alerts",
        headers=reader(user, organisation, role),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()["alerts"]
    return found


def test_an_s26_over_mllp_reaches_the_midwife_and_nobody_else(
    running_hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = running_hub
    _team(settings)
    with MLLPClient("127.0.0.1", settings.mllp_port) as client:
        ack = client.send_message(S26.read_bytes())
    assert b"MSA|AA|MFT0006" in (ack if isinstance(ack, bytes) else ack.encode())

    eventually(
        lambda: len(_alerts(base, "mw-1", "R0A", "COMMUNITY_MIDWIFE")) == 1,
        timeout_s=60,
        what="the alert for the mother's midwife",
        log=tmp_path / "worker.log",
    )
    [alert] = _alerts(base, "mw-1", "R0A", "COMMUNITY_MIDWIFE")
    assert alert["person"]["nhs_number"] == MOTHER  # type: ignore[index]
    assert alert["appointment"]["appointment_id"] == "APT000123"  # type: ignore[index]
    assert alert["recipients"] == [
        {"organisation_code": o, "practitioner_id": p}
        for o, p in sorted([(CHARITY, "kw-1"), ("R0A", "mw-1")])
    ]
    # The charity's key worker is addressed, but without the mother's consent the policy
    # releases nothing to her; another family's midwife is not addressed at all.
    assert _alerts(base, "kw-1", CHARITY, "KEY_WORKER") == []
    assert _alerts(base, "mw-other", "R0A", "COMMUNITY_MIDWIFE") == []

    # The midwife's inbox page in headless Chromium: the alert, its page, acknowledge.
    shots = artefacts_dir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 800})
            page = context.new_page()
            # Not signed in: the inbox sends her to the sign-in page; a wrong key is refused.
            response = page.goto(f"{base}/inbox")
            assert response is not None
            assert response.request.redirected_from is not None
            assert (response.status, page.url) == (200, f"{base}/inbox/sign-in")
            _sign_in(page, "hubk_nobody_not-a-key")
            assert "unknown or has been revoked" in page.locator("#error").inner_text()
            _sign_in(page, _api_key("mw-1", "R0A", "COMMUNITY_MIDWIFE"))
            page.wait_for_url(f"{base}/inbox")
            [cookie] = context.cookies()
            assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
                "hub_session",
                True,
                "Strict",
            )
            assert cookie["value"].startswith("hubt_")  # a session token, not the API key
            row = page.locator(f"tr[data-alert-id='{alert['alert_id']}']")
            assert row.locator("td").nth(1).inner_text().endswith(f"NHS {MOTHER}")
            page.screenshot(path=shots / "inbox.png", full_page=True)
            row.get_by_role("link", name="Open").click()
            page.wait_for_url(f"**/inbox/alerts/{alert['alert_id']}")
            assert page.locator("#status").inner_text() == "Open"
            # Beside the alert, the team around the family as the gate lets her see it.
            team = page.locator("#team-practitioners tr[data-practitioner-id='mw-1']")
            assert "R0A" in team.inner_text()
            assert f"Amy Example, NHS {MOTHER}" in page.locator("#team-members").inner_text()
            page.screenshot(path=shots / "inbox-alert.png", full_page=True)
            page.fill("#note", "Phoned Amy; rebooked for Friday")
            page.click("#acknowledge")
            assert "Acknowledgement recorded" in page.locator("#done").inner_text()

            def acknowledged() -> bool:
                page.reload()
                return page.locator("#status").inner_text() == "Acknowledged"

            eventually(acknowledged, timeout_s=60, what="the acknowledgement applied")
            assert "Acknowledged by mw-1" in page.locator("#acknowledged").inner_text()
            page.screenshot(path=shots / "inbox-alert-acknowledged.png", full_page=True)

            # Signing out revokes the session: the same cookie no longer opens the inbox.
            page.click("#sign-out")
            page.wait_for_url(f"{base}/inbox/sign-in")
            revoked = httpx.get(f"{base}/inbox", cookies={"hub_session": cookie["value"]})
            assert revoked.status_code == 401

            # Another family's midwife cannot open the alert's page.
            other = browser.new_context().new_page()
            other.goto(f"{base}/inbox/sign-in")
            _sign_in(other, _api_key("mw-other", "R0A", "COMMUNITY_MIDWIFE"))
            other.wait_for_url(f"{base}/inbox")
            response = other.goto(f"{base}/inbox/alerts/{alert['alert_id']}")
            assert response is not None
            assert response.status == 404
        finally:
            browser.close()
    [after] = _alerts(base, "mw-1", "R0A", "COMMUNITY_MIDWIFE")
    assert (after["status"], after["acknowledged_by"]) == (
        "ACKNOWLEDGED",
        {"organisation_code": "R0A", "practitioner_id": "mw-1"},
    )
