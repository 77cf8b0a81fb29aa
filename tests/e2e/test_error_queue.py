"""The integration engineer's day at the error queue, on real processes and the real broker
(issue 22, ADR 0030).

A trust's messages are refused for a clinic code its source configuration does not list; the
engineer lists them, adds the clinic, replays them in bulk (a dry run first), and the midwife's
missed-appointment alert appears — once, however often it is replayed. A charity's CSV row is
corrected and replayed with the correction on record. A dead letter (an entry an earlier
version of a fold refused) is replayed onto its topic and the fixed fold takes it. A council's
extract run has a row refused for a legal-status code its configuration lacks; the engineer adds
the code and replays the row with the extract's connector and settings file, and the next run of
the extract finds the row unchanged. A partner's webhook refused for a mistyped NHS number is
corrected and replayed through the partner's connector.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hl7.client import MLLPClient
from playwright.sync_api import sync_playwright

from hub.connectors.outcomes import Mapped, translate
from hub.connectors.partners import DEFAULT_PARTNERS_DIR, load_partners, webhook_record
from hub.erasure.keystore import open_key_store
from hub.erasure.log import CaseEventLog
from hub.events import utc_now
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.quarantine import quarantine_record
from hub.settings import Settings
from tests.builders import assigned, missed, registered
from tests.e2e.conftest import api_process, reader, status_of
from tests.e2e.test_hl7_noshow_to_inbox import CHROMIUM, artefacts_dir
from tests.e2e.test_partner_ingest import MISSED, SECRET, send
from tests.support.net import free_port, listening
from tests.support.processes import eventually, hub_process, settings_env
from tests.support.topics import disclosures_read, read_case_events, read_topic

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
S26 = REPO / "tests" / "golden" / "hl7v2" / "siu-s26-noshow-start-in-ais.input.hl7"
SOURCE = REPO / "config" / "sources" / "demo-mft-maternity.toml"
MOTHER = "9434765919"
CHARITY = "VCS-HOMESTART-SALFORD"
HEADER = (
    "record_id,event,occurred_on,nhs_number,person_id,programme,session_id,session_start,"
    "worker_id\r\n"
)
BAD_ROW = (
    "HS-3001,session_missed,2026-02-02,9434765918,,Baby and Me,GRP-9,2026-02-02T10:00:00,HS-W-3\r\n"
)
GOOD_ROW = BAD_ROW.replace("9434765918", MOTHER)
LAC_CONFIG = REPO / "hub" / "connectors" / "tabular" / "examples" / "lac-census-episodes.toml"
LAC_EXTRACT = (
    "Child ID,UPN,Episode start date,Reason for new episode,Legal status,Episode end date,"
    "Reason episode ceased\r\n"
    "NP-1001,A123456789012,01/04/2024,S,C2,,\r\n"
    "NP-1002,A123456789013,02/04/2024,S,V2,,\r\n"  # V2: a code the council's file lacks
)


def _source_config(directory: Path, *, with_clinic: bool) -> None:
    """The trust's source file, refusing clinics it does not list; NMGH-ANC listed or not."""
    text = SOURCE.read_text("utf-8").replace(
        'timezone = "Europe/London"', 'timezone = "Europe/London"\nunknown_clinics = "refuse"'
    )
    if not with_clinic:
        text = text.replace('NMGH-ANC = "R0A"\n', "")
    (directory / "mft.toml").write_text(text, "utf-8")


@pytest.fixture
def queue_hub(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, str]]:
    sources = tmp_path / "sources"
    sources.mkdir()
    _source_config(sources, with_clinic=False)
    settings = make_settings(
        api_port=free_port(),
        mllp_port=free_port(),
        sources_dir=sources,
        webhook_secrets={CHARITY: SECRET},
    )
    with (
        api_process(settings, tmp_path) as base,
        hub_process("worker", settings, tmp_path),
        hub_process("mllp", settings, tmp_path),
    ):
        log = tmp_path / "worker.log"
        eventually(
            lambda: status_of(f"{base}/health") == 200, timeout_s=90, what="/health", log=log
        )
        eventually(lambda: listening(settings.mllp_port), timeout_s=60, what="MLLP", log=log)
        yield settings, base


def hub_cli(settings: Settings, *args: str, ok: bool = True, group: str = "quarantine") -> str:
    """``hub quarantine ...`` (or another ``group``) as the operator runs it; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "hub", group, *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def listed(settings: Settings, *args: str) -> list[dict[str, object]]:
    out = hub_cli(settings, "list", "--json", *args)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _alerts(base: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{base}/practitioners/mw-1/alerts", headers=reader(), timeout=10)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["alerts"]
    return found


def _queue_page(base: str, row_id: str, others_id: str) -> None:
    """The charity's engineer signs in, finds the refused row, opens it and replays it."""
    key = reader("ie-2", CHARITY, "INTEGRATION_ENGINEER")["Authorization"].removeprefix("Bearer ")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
            page.goto(f"{base}/inbox/sign-in")
            page.fill("#api_key", key)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/queue")  # an engineer's home page is the queue
            row = page.locator(f"tr[data-item-id='{row_id}']")
            assert "is not a valid NHS number" in row.inner_text()
            assert page.locator(f"tr[data-item-id='{others_id}']").count() == 0  # the trust's
            page.screenshot(path=artefacts_dir() / "error-queue.png", full_page=True)
            row.get_by_role("link", name="Open").click()
            page.wait_for_url(f"**/queue/{row_id}")
            assert page.locator("#status").inner_text() == "corrected"
            assert "nhs_number" in page.locator("#errors").inner_text()
            assert "NHS number mistyped" in page.locator(".correction").inner_text()
            page.check("#dry-run")
            page.click("#replay")
            assert page.locator("#done").inner_text() == "Replay: maps"
            page.click("#replay")
            assert page.locator("#done").inner_text() == "Replay: replayed"
            assert page.locator("#status").inner_text() == "replayed"
            page.screenshot(path=artefacts_dir() / "error-queue-item.png", full_page=True)
            # In Welsh, by the header's button: the same item, its codes named in Welsh.
            page.click("#language")
            page.wait_for_url(f"**/queue/{row_id}*")
            assert page.locator("html").get_attribute("lang") == "cy"
            assert page.locator("#status").inner_text() == "wedi'i ail-chwarae"
            assert page.get_by_role("heading", name="Gwallau").count() == 1
            assert "nhs_number" in page.locator("#errors").inner_text()  # data as written
            page.goto(f"{base}/queue")
            assert page.locator("h1").inner_text() == (
                "Yr hyn a anfonodd eich sefydliad ac a wrthodwyd gan yr hwb"
            )
            assert page.locator("html").get_attribute("lang") == "cy"
            page.screenshot(path=artefacts_dir() / "error-queue-cy.png", full_page=True)
            # Another organisation's item is not found, as if it did not exist.
            response = page.goto(f"{base}/queue/{others_id}")
            assert response is not None
            assert response.status == 404
            assert page.locator("html").get_attribute("lang") == "cy"  # a page, in her language
            assert "gwallau eich sefydliad" in page.locator("#error").inner_text()
        finally:
            browser.close()


def _appointments(base: str) -> list[str]:
    return [str(a["appointment"]["appointment_id"]) for a in _alerts(base)]  # type: ignore[index]


def _publish_team(settings: Settings) -> None:
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        sink.publish_sync(registered(nhs_number=MOTHER))
        sink.publish_sync(assigned("mw-1"))
    finally:
        publisher.close()


@pytest.mark.timeout(600)  # three processes, a browser and a dozen CLI runs on a shared machine
def test_the_engineers_day(queue_hub: tuple[Settings, str], tmp_path: Path) -> None:
    settings, base = queue_hub
    log = tmp_path / "worker.log"
    _publish_team(settings)

    # The trust sends the no-show twice (its engine retries an AE); both are refused.
    for _ in range(2):
        with MLLPClient("127.0.0.1", settings.mllp_port) as client:
            ack = client.send_message(S26.read_bytes())
        ack = ack if isinstance(ack, bytes) else ack.encode()
        assert b"MSA|AE|MFT0006" in ack
        assert b"unknown clinic code" in ack

    # The engineer lists them: one item (the same input), refused twice.
    eventually(
        lambda: any(i["times_refused"] == 2 for i in listed(settings, "--reason", "clinic")),
        timeout_s=60,
        what="the refused S26 in the error queue",
        log=log,
    )
    [item] = listed(settings, "--reason", "clinic", "--channel", "mllp")
    assert (item["status"], item["organisation"], item["source_system"]) == (
        "open",
        "R0A",
        "MATPAS@MFT",
    )
    assert item["errors"] == [
        {
            "location": "AIL-3.1",
            "message": "unknown clinic code 'NMGH-ANC': not in [clinics] of source "
            "mft-maternity-pas",
        }
    ]
    item_id = str(item["item_id"])
    shown = hub_cli(settings, "show", item_id)
    assert "AIL-3.1 = 'NMGH-ANC' in: AIL|1||NMGH-ANC^^^North Manchester General" in shown
    assert f"PID|1||M1234567^^^MFT^MR~{MOTHER}" in shown  # the operator sees the input

    # Through the API: the trust's engineer sees it, the charity's does not; a midwife may not.
    trust_engineer = reader("ie-1", "R0A", "INTEGRATION_ENGINEER")
    charity_engineer = reader("ie-2", CHARITY, "INTEGRATION_ENGINEER")
    mine = httpx.get(f"{base}/quarantine", headers=trust_engineer, timeout=10).json()["items"]
    assert [i["item_id"] for i in mine] == [item_id]
    assert httpx.get(f"{base}/quarantine", headers=charity_engineer, timeout=10).json() == {
        "items": []
    }
    assert httpx.get(f"{base}/quarantine/{item_id}", headers=charity_engineer).status_code == 404
    assert httpx.get(f"{base}/quarantine", headers=reader()).status_code == 403
    # Opening the raw input is a disclosure of the mother, recorded before the answer.
    opened = httpx.get(f"{base}/quarantine/{item_id}", headers=trust_engineer, timeout=10)
    assert opened.status_code == 200, opened.text
    assert MOTHER in opened.json()["input"]
    assert opened.json()["located"][0]["value"] == "NMGH-ANC"
    disclosures = [
        disclosures_read(settings).decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.disclosures_topic, expect=1)
    ]
    assert [(d.recipient_role, d.subject_key) for d in disclosures if d is not None] == [
        ("INTEGRATION_ENGINEER", MOTHER)
    ]

    # A replay before the fix still fails and the item stays open.
    out = hub_cli(settings, "replay", "--reason", "clinic", "--dry-run", ok=False)
    assert "still-fails" in out
    assert "unknown clinic code" in out
    # The engineer adds the clinic to the source file; a dry run says it would map.
    _source_config(settings.sources_dir or tmp_path, with_clinic=True)
    out = hub_cli(settings, "replay", "--reason", "clinic", "--dry-run")
    assert f"{item_id}  maps" in out
    assert "dry run: 1 maps" in out
    assert _alerts(base) == []  # a dry run publishes nothing
    out = hub_cli(settings, "replay", "--reason", "clinic")
    assert "1 replayed" in out

    eventually(lambda: len(_alerts(base)) == 1, timeout_s=60, what="the midwife's alert", log=log)
    [alert] = _alerts(base)
    assert alert["appointment"]["appointment_id"] == "APT000123"  # type: ignore[index]
    [item] = listed(settings, "--channel", "mllp")
    assert (item["status"], item["replays"]) == ("replayed", 1)
    # Replaying again publishes the same event ids: still the one alert.
    assert "1 replayed" in hub_cli(settings, "replay", item_id)
    assert "nothing to replay" in hub_cli(settings, "replay", "--reason", "clinic")

    # A charity's CSV row with a wrong NHS number, corrected and replayed.
    upload = httpx.post(
        f"{base}/partners/{CHARITY}/uploads",
        content=(HEADER + BAD_ROW).encode(),
        headers={
            **reader("hs-admin", CHARITY, "KEY_WORKER"),
            "content-type": "text/csv",
            "x-filename": "march.csv",
        },
        timeout=30,
    )
    assert upload.json()["published"] == 0, upload.text
    eventually(
        lambda: bool(listed(settings, "--channel", "upload")),
        timeout_s=60,
        what="the refused row in the queue",
        log=log,
    )
    [row] = listed(settings, "--channel", "upload")
    assert row["organisation"] == CHARITY
    row_id = str(row["item_id"])
    # The charity's own engineer corrects it through the API; the trust's cannot see it.
    assert (
        httpx.post(
            f"{base}/quarantine/{row_id}/corrections",
            json={"content": GOOD_ROW, "why": "x"},
            headers=trust_engineer,
        ).status_code
        == 404
    )
    corrected = httpx.post(
        f"{base}/quarantine/{row_id}/corrections",
        json={"content": GOOD_ROW, "why": "NHS number mistyped; checked with the family"},
        headers=charity_engineer,
        timeout=10,
    )
    assert corrected.status_code == 201, corrected.text
    # The charity's engineer works it on the queue page (headless Chromium): replays it there.
    _queue_page(base, row_id, item_id)
    replayed = httpx.post(
        f"{base}/quarantine/{row_id}/replay", headers=charity_engineer, timeout=30
    ).json()  # again, through the API: the same event id, nothing doubled
    assert replayed["results"] == [
        {"item_id": row_id, "result": "replayed", "events": 1, "corrected": True, "errors": []}
    ]
    shown = hub_cli(settings, "show", row_id)
    assert "by VCS-HOMESTART-SALFORD/ie-2: NHS number mistyped; checked with the family" in shown
    assert BAD_ROW.strip() in shown
    assert GOOD_ROW.strip() in shown

    # A dead letter: an entry an earlier fold refused, as the worker's runner writes one.
    keys = open_key_store(settings)
    dna = missed("APT-DL-1", nhs_number=MOTHER)
    _, entry = CaseEventLog(keys, settings.family_events_topic).encode(dna)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        sink = CaseEventSink(publisher, settings, keys)
        where = f"{settings.family_events_topic}[0]@3"
        reason = "projection failed: KeyError 'antenatal' (fixed in the next release)"
        letter = quarantine_record(
            entry,
            channel="case-event-stream",
            reason=f"{where}: {reason}",
            errors=[(where, reason)],
        )
        asyncio.run(sink.dead_letter(letter, settings.dead_letter_topic))
    finally:
        publisher.close()
    eventually(
        lambda: bool(listed(settings, "--channel", "dead-letter")),
        timeout_s=60,
        what="the dead letter in the queue",
        log=log,
    )
    [dead] = listed(settings, "--channel", "dead-letter")
    assert dead["dead_letter"] == {
        "topic": settings.family_events_topic,
        "partition": 0,
        "offset": 3,
    }
    assert dead["organisation"] is None  # the operators' alone
    assert "APPOINTMENT_MISSED" in hub_cli(settings, "show", str(dead["item_id"]))
    assert "1 replayed" in hub_cli(settings, "replay", "--channel", "dead-letter")
    eventually(
        lambda: "APT-DL-1" in _appointments(base),
        timeout_s=60,
        what="the dead letter's alert",
        log=log,
    )
    assert sorted(_appointments(base)).count("APT000123") == 1  # replayed twice, raised once

    _extract_rows_replayed(settings, tmp_path)
    _webhook_replayed(settings, base)


def _logged_ids(settings: Settings) -> set[str]:
    return {str(event.event_id) for event in read_case_events(settings, expect=1)}


def _extract_rows_replayed(settings: Settings, tmp_path: Path) -> None:
    """A council's extract row refused for a legal-status code, replayed after the fix with the
    extract's connector and settings; the next run of the extract finds it unchanged."""
    log = tmp_path / "worker.log"
    extract, config = tmp_path / "lac.csv", tmp_path / "lac.toml"
    extract.write_text(LAC_EXTRACT, "utf-8")
    fixed = LAC_CONFIG.read_text("utf-8")
    config.write_text(fixed.replace('V2 = "V2"', "# V2 left out"), "utf-8")
    out = hub_cli(
        settings,
        "run",
        "tabular",
        str(extract),
        "--config",
        str(config),
        group="connector",
        ok=False,
    )
    assert "1 events published" in out, out
    assert "1 refused" in out, out
    eventually(
        lambda: bool(listed(settings, "--channel", "extract")),
        timeout_s=60,
        what="the refused extract row in the queue",
        log=log,
    )
    [row] = listed(settings, "--channel", "extract")
    assert row["source_system"] == "newport-lac-census"
    assert "'V2' is not in the code list legal_status" in str(row["errors"])
    # Without the extract's connector and settings the queue cannot map it, and says so.
    out = hub_cli(settings, "replay", "--channel", "extract", "--dry-run")
    assert "not-replayable" in out, out
    assert "--connector NAME --config FILE" in out, out
    extract_options = ("--connector", "tabular", "--config", str(config))
    out = hub_cli(settings, "replay", "--channel", "extract", *extract_options, ok=False)
    assert "still-fails" in out, out
    assert "'V2' is not in the code list" in out, out
    config.write_text(fixed, "utf-8")  # the engineer adds the code to the council's file
    dry = hub_cli(settings, "replay", "--channel", "extract", *extract_options, "--dry-run")
    assert "dry run: 1 maps" in dry, dry
    assert "1 replayed" in hub_cli(settings, "replay", "--channel", "extract", *extract_options)
    # Its event is the one the row would have published had it arrived right.
    expected = [
        json.loads(line)["event_id"]
        for line in hub_cli(
            settings, "test", "tabular", str(extract), "--config", str(config), group="connector"
        ).splitlines()
    ]
    assert len(expected) == 2
    eventually(
        lambda: set(expected) <= _logged_ids(settings),
        timeout_s=60,
        what="the replayed row's event on the log",
        log=log,
    )
    # The next run of the same extract publishes nothing: the replayed row is in the cursor.
    out = hub_cli(
        settings, "run", "tabular", str(extract), "--config", str(config), group="connector"
    )
    assert "0 events published, 2 unchanged" in out, out


def _webhook_replayed(settings: Settings, base: str) -> None:
    """A partner's webhook refused for a mistyped NHS number, corrected by the partner's engineer
    and replayed through the partner's connector, with the id a right delivery would have had."""
    bad = {**MISSED, "data": {**MISSED["data"], "nhs_number": "9434765918"}}  # type: ignore[dict-item]
    refused = send(base, bad, message_id="msg_q1", partner=CHARITY)
    assert refused.status_code == 422, refused.text
    eventually(
        lambda: bool(listed(settings, "--channel", "webhook")),
        timeout_s=60,
        what="the refused webhook in the queue",
    )
    [item] = listed(settings, "--channel", "webhook")
    assert item["organisation"] == CHARITY
    good = json.dumps(MISSED)
    engineer = reader("ie-2", CHARITY, "INTEGRATION_ENGINEER")
    corrected = httpx.post(
        f"{base}/quarantine/{item['item_id']}/corrections",
        json={"content": good, "why": "NHS number mistyped in the charity's system"},
        headers=engineer,
        timeout=10,
    )
    assert corrected.status_code == 201, corrected.text
    replayed = httpx.post(
        f"{base}/quarantine/{item['item_id']}/replay", headers=engineer, timeout=30
    ).json()
    assert replayed["results"][0]["result"] == "replayed", replayed
    feed = load_partners(DEFAULT_PARTNERS_DIR)[CHARITY]
    [right] = translate(
        feed.connector, feed.config, [webhook_record(good.encode(), "msg_q1")], utc_now()
    )
    assert isinstance(right, Mapped)
    ids = {str(event.event_id) for event in right.events}
    eventually(
        lambda: ids <= _logged_ids(settings), timeout_s=60, what="the webhook's replayed event"
    )
