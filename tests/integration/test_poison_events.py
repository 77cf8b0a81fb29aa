"""A poison event goes to the dead-letter topic with its reason, and its partition carries on.

Two kinds (hub/projections/runner.py): bytes that do not decode, and an event a projection's
fold refuses (a ``ValueError``). Either way the raw bytes are written durably to the dead-letter
topic, naming the entry, *before* the position moves past it; the entries after it are applied.
The worker-level case of undecodable bytes is in ``tests/integration/test_worker.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hub.erasure.keystore import open_key_store
from hub.events import CaseEvent
from hub.ingest.sink import CaseEventSink
from hub.kafka.codec import case_event_codec, quarantine_codec
from hub.kafka.publisher import KafkaPublisher
from hub.projections.runner import ProjectionRunner
from hub.settings import Settings
from tests.builders import assigned, missed
from tests.support.topics import read_topic

pytestmark = pytest.mark.kafka


class RefusesOneAppointment:
    """A projection whose fold refuses the no-show of one appointment, and records the rest."""

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.applied: list[tuple[int, CaseEvent | None]] = []

    def __call__(
        self,
        topic: str,
        partition: int,
        offset: int,
        entry: CaseEvent | None,
        key: bytes | None = None,
        /,
    ) -> bool:
        del topic, partition, key
        payload = getattr(entry, "payload", None)
        appointment = getattr(payload, "appointment", None)
        if appointment is not None and appointment.appointment_id == self.poison:
            raise ValueError(f"appointment {self.poison} cannot be missed before it is booked")
        self.applied.append((offset, entry))
        return True


def test_undecodable_and_refused_entries_are_dead_lettered_and_the_partition_goes_on(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    codec = case_event_codec(settings.case_events_topic)
    projection = RefusesOneAppointment("APT-POISON")
    publisher = KafkaPublisher(settings.bootstrap_servers())
    runner = ProjectionRunner(
        [projection],
        codec,
        CaseEventSink(publisher, settings, open_key_store(settings)),
        settings.dead_letter_topic,
    )
    entries = [
        codec.encode(assigned("mw-1")),
        b"\x00not avro at all",
        codec.encode(missed("APT-POISON")),
        codec.encode(missed("APT-2")),
    ]

    async def feed() -> None:
        for offset, value in enumerate(entries):
            await runner.handle(settings.case_events_topic, 0, offset, value)

    try:
        asyncio.run(feed())
    finally:
        publisher.close()

    # Every position moved on (None: only the position), and the entry after the poison applied.
    assert [offset for offset, _ in projection.applied] == [0, 1, 2, 3]
    assert projection.applied[1][1] is None
    assert projection.applied[2][1] is None
    applied_last = projection.applied[3][1]
    assert applied_last is not None
    assert applied_last.event_id == missed("APT-2").event_id

    dead = read_topic(settings.bootstrap_servers(), settings.dead_letter_topic, expect=2)
    records = [quarantine_codec(settings.dead_letter_topic).decode(m.value() or b"") for m in dead]
    # The dead-letter topic has several partitions: order across them is not kept.
    by_raw = {record.raw: record.reason for record in records}
    assert set(by_raw) == {entries[1], entries[2]}
    undecodable, refused = by_raw[entries[1]], by_raw[entries[2]]
    assert f"{settings.case_events_topic}[0]@1" in undecodable
    assert f"{settings.case_events_topic}[0]@2" in refused
    assert "projection failed: appointment APT-POISON cannot be missed" in refused
