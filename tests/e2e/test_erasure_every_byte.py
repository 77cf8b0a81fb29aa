"""After an erasure no topic, log file or database file yields the person (ADR 0020).

The hub runs as real processes (API, worker) against the real broker, with its state in its own
directory. A person is registered, misses an appointment, is read about (a disclosure, and the
path in the access log) and has input refused about her (quarantine); then a data protection
officer erases her. Afterwards every record of every partition of every one of the hub's topics,
every log file the processes wrote and every file under the state directory is searched, byte
by byte, for her NHS number and names in each encoding they could be written in, and none
holds any. The same search before the erasure finds her in the projections, so the search
itself can fail; the topics and logs name nobody even then.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import keys_table, open_key_store, purges_table
from hub.events import EventType
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.payloads import PersonRegistered
from hub.settings import Settings
from hub.sharing.store import disclosures_table
from hub.storage.engine import make_engine
from tests.builders import NHS_NUMBER, event, missed
from tests.e2e.conftest import api_process, reader, sender, worker_ready_with_midwife
from tests.support.net import free_port
from tests.support.processes import eventually, hub_process
from tests.support.topics import every_byte

pytestmark = pytest.mark.kafka

GIVEN, FAMILY = "Zelphina", "Quorndon"
SOCIAL_WORKER = reader("sw-7", "355", "SOCIAL_WORKER")
DPO = reader("dpo-1", "R0A", "DATA_PROTECTION_OFFICER")
GUARDIAN = reader("cg-1", "R0A", "CALDICOTT_GUARDIAN")
APPOINTMENT = Path(__file__).resolve().parents[1] / "golden" / "fhir_appointment"


def needles() -> dict[str, bytes]:
    """Her identifiers as text could hold them: UTF-8, UTF-16 either way, NHS-number spacings."""
    spelled = [NHS_NUMBER, f"{NHS_NUMBER[:3]} {NHS_NUMBER[3:6]} {NHS_NUMBER[6:]}"]
    spelled += [f"{NHS_NUMBER[:3]}-{NHS_NUMBER[3:6]}-{NHS_NUMBER[6:]}", GIVEN, FAMILY]
    return {
        f"{text!r} in {encoding}": text.encode(encoding)
        for text in spelled
        for encoding in ("utf-8", "utf-16-le", "utf-16-be")
    }


def found(places: dict[str, bytes]) -> list[str]:
    return [
        f"{what} in {place}"
        for place, data in places.items()
        for what, n in needles().items()
        if n in data
    ]


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_after_erasure_no_topic_log_or_database_file_names_her(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    state, logs = tmp_path / "state", tmp_path / "logs"
    logs.mkdir()
    settings = make_settings(api_port=free_port(), state_dir=state)
    suffix = settings.case_events_topic.rsplit(".", 1)[-1]
    topics = [
        settings.case_events_topic,
        settings.family_events_topic,
        settings.quarantine_topic,
        settings.dead_letter_topic,
        settings.disclosures_topic,
    ]
    assert all(t.endswith(suffix) for t in topics)

    def everywhere() -> dict[str, bytes]:
        places = {
            f"topic {t}": data
            for t, data in every_byte(settings.bootstrap_servers(), topics).items()
        }
        places |= {f"log {name}": data for name, data in files_under(logs).items()}
        return places | {f"state {name}": data for name, data in files_under(state).items()}

    with api_process(settings, logs) as base, hub_process("worker", settings, logs):
        worker_ready_with_midwife(settings, base, logs / "worker.log")
        publisher = KafkaPublisher(settings.bootstrap_servers())
        sink = CaseEventSink(publisher, settings, open_key_store(settings))
        try:
            sink.publish_sync(
                event(
                    EventType.PERSON_REGISTERED,
                    PersonRegistered(given_name=GIVEN, family_name=FAMILY),
                    record_id="pas-z",
                )
            )
            sink.publish_sync(missed("APT-1"))
        finally:
            publisher.close()
        engine = make_engine(settings.resolved_database_url())
        alerts = MissedAppointmentStore(engine)
        eventually(
            lambda: len(alerts.alerts_about(NHS_NUMBER)) == 1, timeout_s=30, what="her alert"
        )

        # Read about (a disclosure; her NHS number in the request paths) ...
        read = httpx.get(f"{base}/people/{NHS_NUMBER}/alerts", headers=SOCIAL_WORKER, timeout=30)
        assert read.status_code == 200, read.text
        assert len(read.json()) == 1, read.text
        # ... and input about her refused (quarantine).
        refused = (APPOINTMENT / "proposed-without-start.input.json").read_bytes()
        refused = refused.replace(b"Amy Example", f"{GIVEN} {FAMILY}".encode())
        headers = {
            "Content-Type": "application/fhir+json",
            "X-Source-Organisation": "R0A",
            **sender(),
        }
        assert (
            httpx.post(f"{base}/fhir/Appointment", content=refused, headers=headers).status_code
            == 422
        )

        def disclosures_folded() -> bool:
            with engine.connect() as connection:
                rows = connection.execute(select(disclosures_table.c.subject_key)).scalars().all()
            return NHS_NUMBER in rows

        eventually(disclosures_folded, timeout_s=30, what="the disclosure in the disclosure log")
        report = httpx.get(f"{base}/people/{NHS_NUMBER}/disclosures", headers=GUARDIAN, timeout=30)
        assert report.status_code == 200, report.text
        # The search finds her where she is (the projections), so it can fail; the topics and
        # the logs already name nobody (sealed records, redacted paths).
        before = found(everywhere())
        assert any(" in state projections.sqlite3" in hit for hit in before), before
        assert not [hit for hit in before if " in topic " in hit or " in log " in hit]

        erased = httpx.post(
            f"{base}/people/{NHS_NUMBER}/erasure",
            json={"reason": "Art. 17 request ref SAR-2026-0042"},
            headers=DPO,
            timeout=30,
        )
        assert erased.status_code == 202, erased.text
        key_store = make_engine(settings.resolved_key_store_url())

        def purged() -> bool:
            with key_store.connect() as connection:
                keys = select(keys_table.c.key_id).where(keys_table.c.subject == NHS_NUMBER)
                purges = select(purges_table.c.key_id).where(purges_table.c.subject == NHS_NUMBER)
                left = [*connection.execute(keys), *connection.execute(purges)]
            return not left and not alerts.alerts_about(NHS_NUMBER)

        eventually(purged, timeout_s=30, what="her rows purged and her key forgotten")
        # The worker truncates the SQLite write-ahead logs just after the purge.
        eventually(lambda: not found(everywhere()), timeout_s=30, what="no byte naming her")
        assert found(everywhere()) == []
        with engine.connect() as connection:  # the accountability record is kept, without her
            kept = connection.execute(select(disclosures_table.c.subject_key)).scalars().all()
        assert kept
        assert all(key.startswith("erased:") for key in kept)
        engine.dispose()
        key_store.dispose()

    modes = {
        str(p.relative_to(state)): stat.S_IMODE(p.stat().st_mode)
        for p in [state, *state.rglob("*")]
    }
    assert {p: m for p, m in modes.items() if m not in (0o600, 0o700)} == {}
