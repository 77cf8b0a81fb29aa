"""Erasure on the append-only log, through the real API, worker and broker (ADR 0009).

After a data protection officer erases a person: the projections hold nothing about her, no
record on the topic (key, value or header) carries her identifiers or name, and a replay of the
whole log into fresh projections yields nothing about her — while other people are untouched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import keys_table, open_key_store, purges_table
from hub.erasure.log import CaseEventLog
from hub.erasure.sealing import Erasure, LogEntry
from hub.events import EventType
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.payloads import PersonIdentifier, PersonRegistered
from hub.projections.runner import ProjectionRunner
from hub.settings import Settings
from hub.sharing.policy import Subject
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from tests.builders import NHS_NUMBER, assigned, consented, event, missed
from tests.e2e.conftest import reader, worker_ready_with_midwife
from tests.support.processes import eventually
from tests.support.topics import read_topic

OTHER_NHS_NUMBER = "9876543210"
COUNCIL = PersonIdentifier(system="urn:council:355:person", value="P-ERASE-77")
SOCIAL_WORKER = reader("sw-7", "355", "SOCIAL_WORKER")
DPO = reader("dpo-1", "R0A", "DATA_PROTECTION_OFFICER")
GIVEN, FAMILY = "Zelphina", "Quorndon"
AMY = PersonRegistered(given_name=GIVEN, family_name=FAMILY)
HER_SECRETS = (NHS_NUMBER, COUNCIL.value, GIVEN, FAMILY)


def test_an_erased_person_is_gone_from_projections_log_and_replay(
    hub: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base = hub
    log = tmp_path / "worker.log"
    worker_ready_with_midwife(settings, base, log)
    her_record = event(EventType.PERSON_REGISTERED, AMY, record_id="pas-amy")
    her_record = her_record.model_copy(update={"subject": (*her_record.subject, COUNCIL)})
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        for entry in (her_record, missed("APT-1"), consented()):
            sink.publish_sync(entry)
        sink.publish_sync(assigned("mw-2", nhs_number=OTHER_NHS_NUMBER))
        sink.publish_sync(missed("APT-OTHER", nhs_number=OTHER_NHS_NUMBER))

        def alerts(key: str) -> list[dict[str, Any]] | None:
            """Her alerts; None while her erasure is being applied (503: nothing disclosed)."""
            response = httpx.get(f"{base}/people/{key}/alerts", headers=SOCIAL_WORKER)
            if response.status_code == 503 and "erasure" in response.text:
                return None
            assert response.status_code == 200, response.text
            found: list[dict[str, Any]] = response.json()
            return found

        eventually(
            lambda: len(alerts(NHS_NUMBER) or []) == 1, timeout_s=30, what="her alert", log=log
        )
        eventually(
            lambda: len(alerts(OTHER_NHS_NUMBER) or []) == 1, timeout_s=30, what="other", log=log
        )

        url = f"{base}/people/{NHS_NUMBER}/erasure"
        body = {"reason": "Art. 17 request ref SAR-2026-0042"}
        midwife = reader("mw-1", "R0A", "COMMUNITY_MIDWIFE")
        charity_dpo = reader("dpo-9", "VCS-HOMESTART-SALFORD", "DATA_PROTECTION_OFFICER")
        assert httpx.post(url, json=body, headers=midwife).status_code == 403
        assert httpx.post(url, json=body, headers=charity_dpo).status_code == 403
        assert httpx.post(url, json={"reason": "x"}, headers=DPO).status_code == 422
        erased = httpx.post(url, json=body, headers=DPO, timeout=30)
        assert erased.status_code == 202, erased.text
        assert erased.json()["identifiers"] == 2  # the NHS number and the council id
        assert erased.json()["keys_destroyed"] == 1  # everything was sealed under the NHS number

        engine = make_engine(settings.resolved_database_url())
        identity, sharing = IdentityStore(engine), SharingStore(engine)
        # Each projection purges her when its own agent reaches the erasure marker: wait for all.
        eventually(
            lambda: (
                alerts(NHS_NUMBER) == []
                and identity.person_of(COUNCIL.key()) is None
                and sharing.facts_for(Subject(NHS_NUMBER, None)).consents == ()
            ),
            timeout_s=30,
            what="her rows purged by the worker",
            log=log,
        )
        assert len(alerts(OTHER_NHS_NUMBER) or []) == 1
        keys = open_key_store(settings)

        def her_key_rows() -> list[Any]:
            with keys.engine.connect() as connection:
                keys_ = select(keys_table.c.key_id).where(keys_table.c.subject == NHS_NUMBER)
                purges = select(purges_table.c.key_id).where(purges_table.c.subject == NHS_NUMBER)
                return [*connection.execute(keys_), *connection.execute(purges)]

        eventually(
            lambda: her_key_rows() == [],
            timeout_s=30,
            what="her key's subject forgotten once the marker was applied",
            log=log,
        )
    finally:
        publisher.close()

    # The log itself: nothing about her in clear, and her sealed entries no longer open.
    messages = read_topic(settings.bootstrap_servers(), settings.case_events_topic, expect=7)
    for message in messages:
        parts: list[object] = [message.key(), message.value()]
        headers = message.headers() or []
        parts += [header[1] for header in headers if isinstance(header, tuple)]
        raw = b"".join(part for part in parts if isinstance(part, bytes))
        for secret in HER_SECRETS:
            assert secret.encode() not in raw
    decoded = [
        CaseEventLog(keys, settings.case_events_topic).decode(m.value() or b"") for m in messages
    ]
    assert decoded.count(None) == 4  # her record, appointment, consent and midwife
    assert sum(isinstance(d, Erasure) for d in decoded) == 1

    # A replay of the whole log into fresh projections knows only the other person.
    replayed = make_engine(f"sqlite:///{tmp_path / 'replay.sqlite3'}")
    alerts_store = MissedAppointmentStore(replayed)
    alerts_store.create_schema()
    fresh_identity, fresh_sharing = IdentityStore(replayed), SharingStore(replayed)
    fresh_identity.create_schema()
    fresh_sharing.create_schema()
    runner: ProjectionRunner[LogEntry] = ProjectionRunner(
        [fresh_identity.apply, alerts_store.apply, fresh_sharing.apply],
        CaseEventLog(keys, settings.case_events_topic),
        sink,
        settings.dead_letter_topic,
    )

    async def replay() -> None:
        for m in messages:
            await runner.handle(
                m.topic() or "", m.partition() or 0, m.offset() or 0, m.value() or b""
            )

    asyncio.run(replay())
    assert alerts_store.alerts_about(NHS_NUMBER) == []
    assert fresh_identity.person_of(NHS_NUMBER) is None
    assert fresh_identity.person_of(COUNCIL.key()) is None
    assert [
        v.alert.appointment.appointment_id for v in alerts_store.alerts_about(OTHER_NHS_NUMBER)
    ] == ["APT-OTHER"]
