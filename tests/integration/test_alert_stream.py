"""The Server-Sent Events loop in-process: a withheld alert sends nothing, consent opens it.

Alerts and consent are applied to the stores directly (as the worker and the API would); each
event's disclosure goes to the real broker before the event is yielded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import open_key_store
from hub.http.stream import alert_events
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher
from hub.services.release import SharingContext
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, load_agreement
from hub.sharing.policy import Recipient
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.vocabulary import PractitionerRole
from tests.builders import HOME_START, T0, assigned, consented, missed
from tests.support.topics import disclosures_read, read_topic

pytestmark = pytest.mark.kafka

KEY_WORKER = Recipient(HOME_START, "KEY_WORKER", "hs-3")


async def _take(stream: AsyncIterator[str], wait_s: float) -> list[str]:
    """What the stream yields until it is quiet for ``wait_s`` (keep-alives excluded)."""
    taken: list[str] = []
    while True:
        try:
            text = await asyncio.wait_for(anext(stream), wait_s)
        except TimeoutError:
            return taken
        if not text.startswith((":", "retry:")):
            taken.append(text)


def test_the_stream_withholds_until_consent_and_records_each_event(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    engine = make_engine(settings.resolved_database_url())
    store = MissedAppointmentStore(engine)
    store.create_schema()
    sharing, identity = SharingStore(engine), IdentityStore(engine)
    sharing.create_schema()
    identity.create_schema()
    for offset, event in enumerate(
        [
            assigned("hs-3", PractitionerRole.KEY_WORKER, organisation_code=HOME_START),
            missed("APT-1"),
        ]
    ):
        store.apply("family-events", 0, offset, event)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    context = SharingContext(
        load_agreement(settings.agreement_path or DEFAULT_AGREEMENT),
        sharing,
        identity,
        CaseEventSink(publisher, settings, open_key_store(settings)),
        lambda: T0,
    )

    def stream() -> AsyncIterator[str]:
        return alert_events(
            store, context, KEY_WORKER, 0, poll_seconds=0.1, reference="test stream"
        )

    try:
        assert asyncio.run(_take(stream(), 2)) == []  # no consent: nothing sent

        sharing.record_now(consented("sf-consent-1", (HOME_START,)))
        store.apply("family-events", 0, 2, missed("APT-2"))
        sent = asyncio.run(_take(stream(), 2))
        assert [text.split("\n")[0] for text in sent] == ["id: 1", "id: 2"]
        bodies = [json.loads(text.split("\n")[2].removeprefix("data: ")) for text in sent]
        assert [b["data"]["alert"]["appointment"]["appointment_id"] for b in bodies] == [
            "APT-1",
            "APT-2",
        ]
    finally:
        publisher.close()

    codec = disclosures_read(settings)
    records = [
        codec.decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.disclosures_topic, expect=3)
    ]
    assert [(d.channel, bool(d.items)) for d in records] == [
        ("ALERT", False),  # withheld, on record, nothing disclosed
        ("ALERT", True),
        ("ALERT", True),
    ]
    assert all(d.recipient_organisation == HOME_START for d in records)
