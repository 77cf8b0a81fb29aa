"""Reading back what the hub wrote, with a real consumer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Generic, TypeVar

from confluent_kafka import Consumer, Message, TopicPartition
from pydantic import BaseModel

from hub.disclosures import Disclosure
from hub.erasure.keystore import SubjectKeyStore, open_key_store
from hub.erasure.log import CaseEventLog
from hub.events import CaseEvent
from hub.ingest.records import SealedTopic, disclosure_log, quarantine_log
from hub.quarantine import QuarantineRecord
from hub.settings import Settings

M = TypeVar("M", bound=BaseModel)


class Unsealed(Generic[M]):
    """A sealed topic's records (ADR 0020) as a test reads them: an erased one fails here."""

    def __init__(self, sealed: SealedTopic[M]) -> None:
        self._sealed = sealed

    def decode(self, value: bytes) -> M:
        record = self._sealed.decode(value)
        assert record is not None, "a record sealed with a destroyed key"
        return record


def disclosures_read(settings: Settings) -> Unsealed[Disclosure]:
    """Decodes ``hub.disclosures.v1`` with the hub's key store."""
    return Unsealed(disclosure_log(key_store(settings), settings.disclosures_topic))


def quarantine_read(settings: Settings) -> Unsealed[QuarantineRecord]:
    """Decodes ``hub.quarantine.v1`` with the hub's key store."""
    return Unsealed(quarantine_log(key_store(settings), settings.quarantine_topic))


def key_store(settings: Settings) -> SubjectKeyStore:
    """The key store the hub's processes with these settings use."""
    return open_key_store(settings)


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
    log = CaseEventLog(key_store(settings), settings.case_events_topic)
    events = []
    for message in read_topic(
        settings.bootstrap_servers(), settings.case_events_topic, expect=expect
    ):
        entry = log.decode(message.value() or b"")
        assert isinstance(entry, CaseEvent), f"not a readable case-event: {entry!r}"
        events.append(entry)
    return events


def written(bootstrap_servers: str, topic: str) -> list[Message]:
    """Every record of ``topic`` up to its high watermarks now, without waiting for more.

    For what an acknowledged write left: the hub answers an HTTP or MLLP sender only after the
    broker acknowledged the records (``acks=all``), so nothing of that request can arrive later.
    ``read_topic`` instead waits for a count, its whole timeout when fewer come (a test asserting
    "nothing" or "all parts, however many" would wait 30 s for nothing).
    """
    return [message for _, message in _to_watermarks(bootstrap_servers, [topic])]


def every_byte(bootstrap_servers: str, topics: list[str]) -> dict[str, bytes]:
    """Per topic, every record's key, value and header values of every partition, from the
    first offset to the high watermark: what a byte search of a topic looks at."""
    chunks: dict[str, list[bytes]] = {topic: [] for topic in topics}
    for topic, message in _to_watermarks(bootstrap_servers, topics):
        chunks[topic] += [message.key() or b"", message.value() or b""]
        for header in message.headers() or []:
            if isinstance(header, tuple) and isinstance(header[1], bytes):
                chunks[topic].append(header[1])
    return {topic: b"\x00".join(found) for topic, found in chunks.items()}


def _to_watermarks(bootstrap_servers: str, topics: list[str]) -> Iterator[tuple[str, Message]]:
    """Each topic's records, partition by partition, from the first offset to the high
    watermark read when the partition is reached (partitions assigned: no group to join)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-search-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10).topics
        for topic in topics:
            for partition in metadata[topic].partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10
                )
                if high <= low:
                    continue
                consumer.assign([TopicPartition(topic, partition, low)])
                offset = low
                while offset < high:
                    message = consumer.poll(5)
                    if message is None:
                        raise RuntimeError(f"{topic}[{partition}] stopped at {offset} of {high}")
                    if message.error():
                        raise RuntimeError(message.error())
                    yield topic, message
                    offset = (message.offset() or 0) + 1
    finally:
        consumer.close()
