"""End to end on real processes: a Welsh-speaking midwife at Aneurin Bevan University Health
Board (7A6) reads a missed-appointment alert in her inbox in Welsh (headless Chromium), her
choice of language kept across signing out and in; screenshots in the test artefacts."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.payloads import Source
from hub.settings import Settings
from tests.builders import assigned, missed, registered
from tests.e2e.conftest import reader
from tests.e2e.test_hl7_noshow_to_inbox import CHROMIUM, artefacts_dir
from tests.support.processes import eventually

pytestmark = pytest.mark.kafka

ABUHB = Source(system="abuhb-wpas", organisation_code="7A6")
MOTHER = "4857773457"
MIDWIFE = ("abuhb-mw-1", "7A6", "COMMUNITY_MIDWIFE")


def _story(settings: Settings) -> None:
    """The health board's record of the mother, her midwife, and a missed antenatal visit."""
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        sink.publish_sync(registered("Cerys", "Jones", nhs_number=MOTHER, source=ABUHB))
        sink.publish_sync(
            assigned("abuhb-mw-1", organisation_code="7A6", nhs_number=MOTHER, source=ABUHB)
        )
        sink.publish_sync(missed("ABUHB-APT-14W", nhs_number=MOTHER, source=ABUHB))
    finally:
        publisher.close()


def _alerts(base: str) -> list[dict[str, object]]:
    user = MIDWIFE[0]
    response = httpx.get(f"{base}/practitioners/{user}/alerts", headers=reader(*MIDWIFE))
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()["alerts"]
    return found


def _sign_in(page: Page, api_key: str) -> None:
    page.fill("#api_key", api_key)
    page.click("#sign-in")


def test_the_welsh_inbox(running_hub: tuple[Settings, str], tmp_path: Path) -> None:
    settings, base = running_hub
    _story(settings)
    eventually(
        lambda: len(_alerts(base)) == 1,
        timeout_s=60,
        what="the health board midwife's alert",
        log=tmp_path / "worker.log",
    )
    [alert] = _alerts(base)
    api_key = reader(*MIDWIFE)["Authorization"].removeprefix("Bearer ")
    shots = artefacts_dir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 800})
            page = context.new_page()
            page.goto(f"{base}/inbox/sign-in")
            assert page.locator("html").get_attribute("lang") == "en-GB"
            # She chooses Welsh on the sign-in page: the page comes back in Welsh.
            page.click("#language")
            page.wait_for_url(f"{base}/inbox/sign-in")
            assert page.locator("html").get_attribute("lang") == "cy"
            assert page.locator("h1").inner_text() == "Mewngofnodi"
            _sign_in(page, "hubk_nobody_not-a-key")
            assert "Nid yw'r allwedd API honno'n hysbys" in page.locator("#error").inner_text()
            _sign_in(page, api_key)
            page.wait_for_url(f"{base}/inbox")
            assert page.locator("html").get_attribute("lang") == "cy"
            assert page.locator("#count").inner_text() == "Mae gennych un rhybudd agored."
            row = page.locator(f"tr[data-alert-id='{alert['alert_id']}']")
            assert row.locator("td").nth(0).inner_text().strip() == "Agored"
            assert row.locator("td").nth(1).inner_text().endswith(f"GIG {MOTHER}")
            page.screenshot(path=shots / "inbox-cy.png", full_page=True)

            row.get_by_role("link", name="Agor").click()
            page.wait_for_url(f"**/inbox/alerts/{alert['alert_id']}")
            assert page.locator("h1").inner_text() == "Apwyntiad a gollwyd"
            assert page.locator("#status").inner_text() == "Agored"
            assert "Mawrth 2026" in page.locator("#alert").inner_text()  # CLDR month names
            assert page.locator("h2").first.inner_text() == "Y tîm o amgylch y teulu"
            page.screenshot(path=shots / "inbox-alert-cy.png", full_page=True)
            page.fill("#note", "Ffoniais Cerys; apwyntiad newydd ddydd Gwener")
            page.click("#acknowledge")
            assert "Cofnodwyd y gydnabyddiaeth" in page.locator("#done").inner_text()

            def acknowledged() -> bool:
                page.reload()
                return page.locator("#status").inner_text() == "Wedi'i gydnabod"

            eventually(acknowledged, timeout_s=60, what="the acknowledgement applied")
            assert "Cydnabuwyd gan abuhb-mw-1" in page.locator("#acknowledged").inner_text()

            # A refusal on a page is a page, in Welsh; the API still answers JSON.
            missing = f"{base}/inbox/alerts/{uuid.uuid4()}"
            refused = page.goto(missing)
            assert refused is not None
            assert refused.status == 404
            assert page.locator("html").get_attribute("lang") == "cy"
            assert "Nid yw hynny yn eich mewnflwch" in page.locator("#error").inner_text()
            page.screenshot(path=shots / "inbox-refused-cy.png", full_page=True)
            session = {c["name"]: c["value"] for c in context.cookies()}
            as_api = httpx.get(missing, cookies=session)
            assert as_api.status_code == 404
            assert "detail" in as_api.json()

            # Her choice outlives the session: a cookie of its own, kept for a year.
            language = next(c for c in context.cookies() if c["name"] == "hub_lang")
            assert (language["value"], language["httpOnly"], language["sameSite"]) == (
                "cy",
                True,
                "Strict",
            )
            assert language["expires"] > time.time() + 300 * 24 * 3600
            page.goto(f"{base}/inbox")
            page.click("#sign-out")
            page.wait_for_url(f"{base}/inbox/sign-in")
            assert page.locator("h1").inner_text() == "Mewngofnodi"

            # And back to English, on the page she is on.
            page.click("#language")
            page.wait_for_url(f"{base}/inbox/sign-in")
            assert page.locator("html").get_attribute("lang") == "en-GB"
            assert page.locator("h1").inner_text() == "Sign in"

            # A browser that asks for Welsh gets Welsh before anyone chooses.
            welsh_browser = browser.new_context(locale="cy-GB").new_page()
            welsh_browser.goto(f"{base}/inbox/sign-in")
            assert welsh_browser.locator("html").get_attribute("lang") == "cy"
        finally:
            browser.close()
