"""Reading back what the hub wrote, with a real consumer."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message

from hub.erasure.keystore import SubjectKeyStore
from hub.erasure.log import CaseEventLog
from hub.events import CaseEvent
from hub.projections.store import make_engine
from hub.settings import Settings


def read_topic(
    bootstrap_servers: str, topic: str, *, expect: int, timeout_s: float = 30.0
) -> list[Message]:
    """All records of ``topic`` from the start, once ``expect`` have arrived (or time is up)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < expect and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise RuntimeError(message.error())
            found.append(message)
        # Linger briefly so that tests also notice records beyond those expected.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                found.append(message)
    finally:
        consumer.close()
    return found


def read_case_events(settings: Settings, *, expect: int) -> list[CaseEvent]:
    """The case-events on the topic, unsealed with the hub's key store (ADR 0009)."""
    log = CaseEventLog(
        SubjectKeyStore(make_engine(settings.resolved_database_url())), settings.case_events_topic
    )
    events = []
    for message in read_topic(
        settings.bootstrap_servers(), settings.case_events_topic, expect=expect
    ):
        entry = log.decode(message.value() or b"")
        assert isinstance(entry, CaseEvent), f"not a readable case-event: {entry!r}"
        events.append(entry)
    return events
