"""End to end on real processes and the real broker: Newport's Baby and Me (issue 21, "done
when"). Aneurin Bevan University Health Board's PAS (7A6, ``config/sources``) sends the demo's
HL7 v2.3.1 over MLLP — the Welsh-speaking mother's ADT^A28 (PID-15 ``WEL``) and the SIU^S26 of
her missed scan — and the no-show is an alert in the Welsh inbox of her community midwife,
who sees the mother's language and what to write to her in (headless Chromium; screenshots
in the test artefacts)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest
from hl7.client import MLLPClient
from playwright.sync_api import sync_playwright

from hub.processes.demo_newport import (
    NEWPORT_APPOINTMENT_ID,
    NEWPORT_MIDWIFE,
    NEWPORT_NHS_NUMBER,
    abuhb_messages,
)
from hub.settings import Settings
from tests.e2e.conftest import reader
from tests.e2e.test_hl7_noshow_to_inbox import CHROMIUM, artefacts_dir
from tests.support.processes import eventually

pytestmark = pytest.mark.kafka

ORGANISATION, ROLE, MIDWIFE = NEWPORT_MIDWIFE


def _alerts(base: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{base}/practitioners/{MIDWIFE}/alerts",
        headers=reader(MIDWIFE, ORGANISATION, ROLE),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()["alerts"]
    return found


def test_an_abuhb_noshow_over_mllp_reaches_the_welsh_inbox(
    running_hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = running_hub
    with MLLPClient("127.0.0.1", settings.mllp_port) as client:
        acks = [client.send_message(raw) for raw in abuhb_messages(date.today())]
    texts = [ack if isinstance(ack, bytes) else ack.encode() for ack in acks]
    assert [b"MSA|AA|DEMO-NWP-A28" in texts[0], b"MSA|AA|DEMO-NWP-S26" in texts[1]] == [
        True,
        True,
    ], texts

    eventually(
        lambda: len(_alerts(base)) == 1,
        timeout_s=60,
        what="the Aneurin Bevan midwife's alert",
        log=tmp_path / "worker.log",
    )
    [alert] = _alerts(base)
    assert alert["organisation_code"] == "7A6"
    assert alert["appointment"]["appointment_id"] == NEWPORT_APPOINTMENT_ID  # type: ignore[index]
    # The language from PID-15 reaches what the alert is read from (the alerts projection).
    assert alert["person"] == {
        "nhs_number": NEWPORT_NHS_NUMBER,
        "given_name": "Ffion",
        "family_name": "ROBERTS",  # as the PAS sends it
        "birth_date": "1999-06-12",
        "language": "cy",
    }

    api_key = reader(MIDWIFE, ORGANISATION, ROLE)["Authorization"].removeprefix("Bearer ")
    shots = artefacts_dir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
            page.goto(f"{base}/inbox/sign-in")
            page.click("#language")  # Cymraeg
            page.wait_for_url(f"{base}/inbox/sign-in")
            page.fill("#api_key", api_key)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/inbox")
            assert page.locator("html").get_attribute("lang") == "cy"
            assert page.locator("#count").inner_text() == "Mae gennych un rhybudd agored."
            row = page.locator(f"tr[data-alert-id='{alert['alert_id']}']")
            assert row.locator("td").nth(1).inner_text().endswith(f"GIG {NEWPORT_NHS_NUMBER}")
            page.screenshot(path=shots / "newport-inbox-cy.png", full_page=True)

            row.get_by_role("link", name="Agor").click()
            page.wait_for_url(f"**/inbox/alerts/{alert['alert_id']}")
            assert page.locator("h1").inner_text() == "Apwyntiad a gollwyd"
            assert page.locator("#status").inner_text() == "Agored"
            assert "Ffion ROBERTS" in page.locator("#person").inner_text()
            assert page.locator("#person-language").inner_text() == "Dewis iaith: Cymraeg"
            written = page.locator("#person-correspondence")
            assert written.inner_text() == "Ysgrifennwch atynt yn: Cymraeg."
            assert written.get_attribute("data-languages") == "cy"
            assert "The Grange University Hospital" in page.locator("#alert").inner_text()
            team = page.locator(f"#team-practitioners tr[data-practitioner-id='{MIDWIFE}']")
            assert "Eleri Price" in team.inner_text()
            page.screenshot(path=shots / "newport-alert-cy.png", full_page=True)
        finally:
            browser.close()
