"""Per-partner compacted Avro topics on the real broker, fed by a real worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]

from hub.alerts.changes import changes_after
from hub.alerts.fold import alert_id_for
from hub.alerts.store import MissedAppointmentStore
from hub.auth.store import ClientStore
from hub.disclosures import Channel
from hub.erasure.keystore import open_key_store
from hub.erasure.sealing import Erasure
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import admin
from hub.kafka.codec import SingleObjectFraming, load_schema
from hub.kafka.publisher import KafkaPublisher
from hub.settings import Settings
from hub.sharing.agreement import DEFAULT_AGREEMENT, load_agreement
from hub.sharing.policy import Subject
from hub.sharing.store import SharingStore
from hub.storage.engine import make_engine
from hub.subscriptions.partner_topics import PartnerTopics, make_partner_topics, topic_for
from hub.vocabulary import PractitionerRole
from tests.builders import (
    HOME_START,
    NHS_NUMBER,
    T0,
    TRUST,
    acknowledged,
    assigned,
    closed,
    consented,
    missed,
    withdrawn,
)
from tests.support.processes import eventually, hub_process
from tests.support.topics import disclosures_read, read_topic

pytestmark = pytest.mark.kafka
FRAMING = SingleObjectFraming(load_schema("partner_alert"))


def _records(settings: Settings, client_id: str, expect: int) -> list[tuple[str, Any]]:
    messages = read_topic(settings.bootstrap_servers(), topic_for(client_id), expect=expect)
    return [
        ((m.key() or b"").decode(), None if m.value() is None else FRAMING.decode(m.value() or b""))
        for m in messages
    ]


def test_each_partner_topic_holds_what_that_partner_may_see(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(subscription_interval_seconds=86_400)  # the test runs the relay
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    clients = ClientStore(store.engine)
    clients.create_schema()
    trust = clients.register(
        TRUST.organisation_code, "PARTNER_SYSTEM", "maternity-epr"
    ).client.client_id
    charity = clients.register(HOME_START, "KEY_WORKER", "hs-3").client.client_id
    settings = settings.model_copy(update={"partner_topic_clients": [trust, charity]})
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    agreement = load_agreement(settings.agreement_path or DEFAULT_AGREEMENT)
    relay: PartnerTopics = make_partner_topics(settings, store, sink, agreement, publisher)
    sharing = SharingStore(store.engine)

    def feed(count: int) -> None:
        eventually(
            lambda: len(changes_after(store.engine, 0)) >= count,
            timeout_s=60,
            what=f"{count} alert changes",
            log=tmp_path / "worker.log",
        )

    def consents(present: bool) -> None:
        def check() -> bool:
            facts = sharing.facts_for(Subject(NHS_NUMBER))
            return bool(facts.consents) if present else bool(facts.withdrawals)

        eventually(check, timeout_s=60, what="the consent fact", log=tmp_path / "worker.log")

    alert = str(alert_id_for(TRUST, "APT-1"))
    try:
        with hub_process("worker", settings, tmp_path):
            for event in (
                assigned("mw-1"),
                assigned("hs-3", PractitionerRole.KEY_WORKER, organisation_code=HOME_START),
            ):
                sink.publish_sync(event)
            sink.publish_sync(missed("APT-1"))
            feed(1)
            first = asyncio.run(relay.run_once())
            # The trust's system sees its own record; the charity, without consent, nothing.
            assert (first.written, first.skipped) == (1, 1)

            sink.publish_sync(consented("sf-consent-1", (HOME_START,)))
            consents(present=True)
            sink.publish_sync(acknowledged(alert_id_for(TRUST, "APT-1")))
            feed(2)
            assert asyncio.run(relay.run_once()).written == 2  # both now

            sink.publish_sync(withdrawn((HOME_START,), at=T0 + timedelta(days=1)))
            consents(present=False)
            sink.publish_sync(closed(alert_id_for(TRUST, "APT-1")))
            feed(3)
            third = asyncio.run(relay.run_once())
            assert (third.written, third.tombstones) == (1, 1)  # the charity's copy removed
            assert asyncio.run(relay.run_once()).written == 0  # nothing twice

            erasure = Erasure(
                key_id="k1",
                erasure_id=uuid.uuid4(),
                erased_at=T0,
                requested_by="dpo",
                reason="subject's request",
                subjects=(NHS_NUMBER,),
            )
            store.apply("direct", 0, 0, erasure)  # as the worker applies an erasure marker
            assert asyncio.run(relay.run_once()).tombstones == 1  # the trust deletes its copy
    finally:
        publisher.close()

    trust_records = _records(settings, trust, expect=4)
    assert [key for key, _ in trust_records] == [alert] * 4
    assert [v["change"] for _, v in trust_records[:3]] == ["raised", "acknowledged", "closed"]
    _, person = trust_records[0][1]["person"]  # a union branch: (record name, record)
    assert person["nhs_number"] == NHS_NUMBER
    assert trust_records[2][1]["status"] == "CLOSED"
    assert trust_records[3][1] is None  # erased: a tombstone
    charity_records = _records(settings, charity, expect=2)
    assert [(k, v and v["change"]) for k, v in charity_records] == [
        (alert, "acknowledged"),
        (alert, None),
    ]

    # Compacted, one partition, and every record written was disclosed first.
    kafka = admin(settings.bootstrap_servers())
    described = kafka.describe_configs([ConfigResource("topic", topic_for(trust))])
    [config] = [future.result(timeout=30) for future in described.values()]
    assert config["cleanup.policy"].value == "compact"
    topic = kafka.list_topics(topic_for(trust), timeout=10)
    assert len(topic.topics[topic_for(trust)].partitions) == 1
    codec = disclosures_read(settings)
    disclosed = [
        codec.decode(m.value() or b"")
        for m in read_topic(settings.bootstrap_servers(), settings.disclosures_topic, expect=6)
    ]
    partner = [d for d in disclosed if d.channel is Channel.PARTNER_TOPIC]
    assert sum(1 for d in partner if d.items) == 4  # 3 to the trust, 1 to the charity
    assert any(d.items == () and d.recipient_organisation == HOME_START for d in partner)
