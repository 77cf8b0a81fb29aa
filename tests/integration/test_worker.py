"""The Faust worker as a real process, consuming from the real broker into SQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.alerts.store import MissedAppointmentStore
from hub.erasure.keystore import open_key_store
from hub.erasure.log import CaseEventLog
from hub.events import CaseEvent, EventType
from hub.identity.store import IdentityStore
from hub.ingest.sink import CaseEventSink
from hub.kafka.admin import admin
from hub.kafka.codec import quarantine_codec
from hub.kafka.publisher import KafkaPublisher
from hub.payloads import NHS_NUMBER_SYSTEM, PersonIdentifier, RelationshipRecorded
from hub.settings import Settings
from hub.storage.engine import make_engine
from hub.vocabulary import Relationship
from tests.builders import NHS_NUMBER, assigned, event, missed, ref, registered
from tests.support.processes import eventually, hub_process
from tests.support.topics import key_store, read_topic

pytestmark = pytest.mark.kafka

PARTNER_NHS_NUMBER = "9876543210"


def test_the_worker_turns_a_no_show_into_one_alert_and_dead_letters_garbage(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        for event in [registered(), assigned("mw-1"), missed("APT-1"), missed("APT-1")]:
            sink.publish_sync(event)
        # Not Avro at all: must be dead-lettered, not crash the worker or stall the partition.
        publisher.publish_sync(settings.case_events_topic, b"9434765919", b"garbage")
        sink.publish_sync(missed("APT-2"))
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: len(store.open_alerts_for(ref("mw-1"))) == 2,
                timeout_s=90,
                what="two alerts for mw-1",
                log=tmp_path / "worker.log",
            )
        views = store.open_alerts_for(ref("mw-1"))
        assert sorted(v.alert.appointment.appointment_id for v in views) == ["APT-1", "APT-2"]
        assert views[0].person.given_name == "Amy"
        [dead] = read_topic(settings.bootstrap_servers(), settings.dead_letter_topic, expect=1)
        record = quarantine_codec(settings.dead_letter_topic).decode(dead.value() or b"")
        assert record.raw == b"garbage"
        assert "not Avro single-object encoded" in record.reason
    finally:
        publisher.close()


def test_a_restarted_worker_raises_no_duplicate_alerts(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        sink.publish_sync(assigned("mw-1"))
        sink.publish_sync(missed("APT-1"))
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: len(store.open_alerts_for(ref("mw-1"))) == 1,
                timeout_s=90,
                what="first alert",
                log=tmp_path / "worker.log",
            )
        sink.publish_sync(missed("APT-1"))  # re-sent while the worker was down
        sink.publish_sync(missed("APT-3"))
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: len(store.open_alerts_for(ref("mw-1"))) == 2,
                timeout_s=90,
                what="second alert after restart",
                log=tmp_path / "worker.log",
            )
        assert {v.alert.appointment.appointment_id for v in store.open_alerts_for(ref("mw-1"))} == {
            "APT-1",
            "APT-3",
        }
    finally:
        publisher.close()


def test_a_familys_events_reach_the_projections_keyed_by_family(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """ADR 0010: after the relationship, both parents' events share the family's key."""
    settings = make_settings(topic_partitions=4)
    partner = PersonIdentifier(system=NHS_NUMBER_SYSTEM, value=PARTNER_NHS_NUMBER)
    relationship = event(
        EventType.RELATIONSHIP_RECORDED,
        RelationshipRecorded(related=(partner,), relationship=Relationship.FATHER_OR_PARTNER),
        record_id="rel-1",
    )
    before = [registered(), registered("Ben", "Partner", nhs_number=PARTNER_NHS_NUMBER)]
    after = [missed("APT-P", nhs_number=PARTNER_NHS_NUMBER), missed("APT-M")]
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    try:
        for entry in before:
            sink.publish_sync(entry)
        with hub_process("worker", settings, tmp_path):
            sink.publish_sync(relationship)
            # Only once the family exists do the parents' next events follow it.
            identity = IdentityStore(make_engine(settings.resolved_database_url()))
            identity.create_schema()

            def family_formed() -> bool:
                his = identity.family_key_of(partner.key())
                return his is not None and his == identity.family_key_of(NHS_NUMBER)

            eventually(
                family_formed,
                timeout_s=60,
                what="the family formed",
                log=tmp_path / "worker.log",
            )
            for entry in after:
                sink.publish_sync(entry)
            forwarded = read_topic(
                settings.bootstrap_servers(), settings.family_events_topic, expect=5
            )
    finally:
        publisher.close()
    originals = read_topic(settings.bootstrap_servers(), settings.case_events_topic, expect=5)
    assert sorted(m.value() or b"" for m in forwarded) == sorted(
        m.value() or b"" for m in originals
    )
    family = identity.family_key_of(NHS_NUMBER)
    assert family is not None
    log = CaseEventLog(key_store(settings), settings.case_events_topic)
    key_of: dict[tuple[str, str], object] = {}
    for message in forwarded:
        decoded = log.decode(message.value() or b"")
        assert isinstance(decoded, CaseEvent)
        key_of[(decoded.source_record_id, decoded.subject_key())] = message.key()
    # The mother anchors the family, so her events were under its key from the start; the
    # partner's follow it once the relationship is known (his registration went under his own).
    mine, his = NHS_NUMBER, PARTNER_NHS_NUMBER
    in_family = [("pat-1", mine), ("rel-1", mine), ("APT-P", his), ("APT-M", mine)]
    assert {key_of[k] for k in in_family} == {family.encode()}
    assert key_of[("pat-1", his)] not in (family.encode(), None)
    assert len({m.partition() for m in forwarded if m.key() == family.encode()}) == 1


def test_a_worker_started_before_its_topics_exist_makes_them_and_consumes(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Faust ignores a topic missing at start for good ("Ignoring missing topic"): the worker
    makes its topics first, as ``hub run`` does."""
    made = make_settings()
    settings = made.model_copy(
        update={
            name: f"{getattr(made, name)}-late"
            for name in ("case_events_topic", "family_events_topic", "disclosures_topic")
        }
    )
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))
    servers = admin(settings.bootstrap_servers())
    try:
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: settings.case_events_topic in servers.list_topics(timeout=10).topics,
                timeout_s=60,
                what="the worker made its topics",
                log=tmp_path / "worker.log",
            )
            for entry in [registered(), assigned("mw-1"), missed("APT-1")]:
                sink.publish_sync(entry)
            eventually(
                lambda: len(store.open_alerts_for(ref("mw-1"))) == 1,
                timeout_s=90,
                what="an alert from topics made after the worker started",
                log=tmp_path / "worker.log",
            )
    finally:
        publisher.close()
