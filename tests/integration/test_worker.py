"""The Faust worker as a real process, consuming from the real broker into SQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hub.avro_codec import quarantine_codec
from hub.projections.store import MissedAppointmentStore, make_engine
from hub.publisher import KafkaPublisher
from hub.settings import Settings
from hub.sink import CaseEventSink
from tests.builders import assigned, missed, registered
from tests.support.processes import eventually, hub_process
from tests.support.topics import read_topic

pytestmark = pytest.mark.kafka


def test_the_worker_turns_a_no_show_into_one_alert_and_dead_letters_garbage(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings()
    store = MissedAppointmentStore(make_engine(settings.resolved_database_url()))
    store.create_schema()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings)
    try:
        for event in [registered(), assigned("mw-1"), missed("APT-1"), missed("APT-1")]:
            sink.publish_sync(event)
        # Not Avro at all: must be dead-lettered, not crash the worker or stall the partition.
        publisher.publish_sync(settings.case_events_topic, b"9434765919", b"garbage")
        sink.publish_sync(missed("APT-2"))
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: len(store.open_alerts_for("mw-1")) == 2,
                timeout_s=90,
                what="two alerts for mw-1",
                log=tmp_path / "worker.log",
            )
        views = store.open_alerts_for("mw-1")
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
    sink = CaseEventSink(publisher, settings)
    try:
        sink.publish_sync(assigned("mw-1"))
        sink.publish_sync(missed("APT-1"))
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: len(store.open_alerts_for("mw-1")) == 1,
                timeout_s=90,
                what="first alert",
                log=tmp_path / "worker.log",
            )
        sink.publish_sync(missed("APT-1"))  # re-sent while the worker was down
        sink.publish_sync(missed("APT-3"))
        with hub_process("worker", settings, tmp_path):
            eventually(
                lambda: len(store.open_alerts_for("mw-1")) == 2,
                timeout_s=90,
                what="second alert after restart",
                log=tmp_path / "worker.log",
            )
        assert {v.alert.appointment.appointment_id for v in store.open_alerts_for("mw-1")} == {
            "APT-1",
            "APT-3",
        }
    finally:
        publisher.close()
