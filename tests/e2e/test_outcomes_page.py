"""The programme manager's page in headless Chromium, against the real API process: a synthetic
programme year loaded through the real connectors, the charts drawn server-side (the page reads
with JavaScript off), the numbers in tables beside them, the CSV download; screenshots kept."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from hub.connectors.csc.ssda903 import SSDA903Episodes
from hub.connectors.sdk import ConnectorConfig
from hub.connectors.voluntary.activity import ActivityConfig, VoluntaryActivity
from hub.outcomes import synthetic
from hub.outcomes.store import OutcomesStore
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.storage.positions import BatchEntry
from tests.e2e.conftest import api_process, reader
from tests.e2e.test_hl7_noshow_to_inbox import CHROMIUM, artefacts_dir
from tests.integration.test_programme_year import NOW, mapped
from tests.support.net import free_port

PROGRAMME = synthetic.PROGRAMME


def load_year(settings: Settings) -> None:
    year = synthetic.programme_year(synthetic.YearRates(families=400))
    activity = VoluntaryActivity()
    charity = ActivityConfig(system="hs", organisation_code=synthetic.CHARITY, programme=PROGRAMME)
    clinic = ActivityConfig(
        system="mw",
        organisation_code=synthetic.TRUST,
        programme=PROGRAMME,
        session_service_type="antenatal",
    )
    council = ActivityConfig(system="lcs", organisation_code=synthetic.COUNCIL)
    episodes = ConnectorConfig(system="lac", organisation_code=synthetic.COUNCIL)
    events = [
        *mapped(activity, charity, year.activity),
        *mapped(activity, clinic, year.clinic),
        *mapped(activity, council, year.births),
        *mapped(SSDA903Episodes(), episodes, year.episodes),
    ]
    engine = make_engine(settings.resolved_database_url())
    try:
        store = OutcomesStore(engine)
        store.create_schema()
        store.apply_batch(
            "family-events", 0, [BatchEntry(i, e, None) for i, e in enumerate(events)]
        )
    finally:
        engine.dispose()
    assert NOW  # the year's events were mapped as received then


def sign_in(page: Page, base: str, header: dict[str, str]) -> None:
    page.goto(f"{base}/inbox/sign-in")
    page.fill("#api_key", header["Authorization"].removeprefix("Bearer "))
    page.click("#sign-in")
    page.wait_for_url(f"{base}/inbox")


def test_the_programme_page_with_its_charts_tables_and_csv(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(api_port=free_port())
    load_year(settings)
    manager = reader("pm-1", "355", "PROGRAMME_MANAGER")
    shots = artefacts_dir()
    with api_process(settings, tmp_path) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            context = browser.new_context(
                viewport={"width": 1100, "height": 900}, java_script_enabled=False
            )
            page = context.new_page()
            sign_in(page, base, manager)
            response = page.goto(f"{base}/outcomes?programme={PROGRAMME}&as_of=2026-11-30")
            assert response is not None
            assert response.status == 200
            assert page.locator("h1").inner_text() == PROGRAMME
            for key in ("funnel", "babies", "scores"):
                chart = page.locator(f"#chart-{key} figure svg")
                assert chart.count() == 1, key  # drawn on the server: no script ran
            funnel = page.locator("#table-funnel tr.total")
            assert "400" in funnel.inner_text()  # referred, the year's families
            assert page.locator("#table-funnel caption").inner_text().startswith("Referrals")
            assert page.locator("td.withheld").count() > 0  # small counts hidden, shown as c
            assert page.locator("td.withheld").first.inner_text() == "c"
            page.screenshot(path=shots / "outcomes-page.png", full_page=True)
            page.locator("#chart-babies").screenshot(path=shots / "outcomes-babies.png")

            # The same page in Welsh, by the header's button (a form: no script needed).
            page.click("#language")
            page.wait_for_url(f"{base}/outcomes?programme=*")
            assert page.locator("html").get_attribute("lang") == "cy"
            assert page.locator("#chart-funnel h2").inner_text() == (
                "Atgyfeiriwyd, derbyniwyd, ymgysylltwyd, gadawyd"
            )
            assert page.locator("#table-funnel caption").inner_text().startswith("Atgyfeiriadau")
            assert "Cyfanswm" in page.locator("#table-funnel tr.total").inner_text()
            assert "400" in page.locator("#table-funnel tr.total").inner_text()  # same figures
            assert page.locator("#summary").inner_text().startswith("Ffigurau ar 30 Tachwedd 2026")
            page.locator("#chart-funnel").screenshot(path=shots / "outcomes-funnel-cy.png")
            page.click("#language")  # back to English for the rest
            page.wait_for_url(f"{base}/outcomes?programme=*")
            assert page.locator("html").get_attribute("lang") == "en-GB"

            link = page.locator("#csv").get_attribute("href")
            assert link is not None
            download = context.request.get(f"{base}{link}")
            assert download.status == 200
            lines = list(csv.DictReader(io.StringIO(download.text())))
            total = next(
                line for line in lines
                if (line["table"], line["row"], line["column"]) == ("funnel", "Total", "Referred")
            )  # fmt: skip
            assert total["figure"] == "400"

            midwife = browser.new_context().new_page()
            sign_in(midwife, base, reader("mw-1", "R0A", "COMMUNITY_MIDWIFE"))
            refused = midwife.goto(f"{base}/outcomes?programme={PROGRAMME}")
            assert refused is not None
            assert refused.status == 403
        finally:
            browser.close()
