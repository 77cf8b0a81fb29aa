"""The one producer path, against the real broker."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Callable

import pytest

from hub.erasure.keystore import open_key_store
from hub.ingest.sink import CaseEventSink
from hub.kafka.publisher import KafkaPublisher, PublishError
from hub.quarantine import quarantine_record
from hub.settings import Settings
from tests.builders import missed
from tests.support.topics import quarantine_read, read_case_events, read_topic

pytestmark = pytest.mark.kafka


def test_an_acknowledged_event_is_in_the_log(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    try:
        delivery = asyncio.run(
            CaseEventSink(publisher, settings, open_key_store(settings)).publish(missed("APT-1"))
        )
    finally:
        publisher.close()
    [message] = read_topic(settings.bootstrap_servers(), settings.case_events_topic, expect=1)
    assert (message.partition(), message.offset()) == (delivery.partition, delivery.offset)
    # Keyed by the subject's random data-key id: no identifier in clear, anywhere (ADR 0009).
    assert uuid.UUID((message.key() or b"").decode())
    assert b"9434765919" not in (message.value() or b"")
    assert read_case_events(settings, expect=1) == [missed("APT-1")]
    assert dict(message.headers() or [])["hub-event-type"] == b"APPOINTMENT_MISSED"


def test_one_persons_events_share_a_partition(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(topic_partitions=4)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    sink = CaseEventSink(publisher, settings, open_key_store(settings))

    async def publish_all() -> set[int]:
        deliveries = await asyncio.gather(*(sink.publish(missed(f"APT-{i}")) for i in range(20)))
        return {d.partition for d in deliveries}

    try:
        assert len(asyncio.run(publish_all())) == 1
    finally:
        publisher.close()


def test_quarantine_keeps_the_raw_bytes(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    raw = b"\xff\xfe not what anyone expected"
    record = quarantine_record(raw, channel="test", reason="because", errors=[("here", "bad")])
    try:
        asyncio.run(CaseEventSink(publisher, settings, open_key_store(settings)).quarantine(record))
    finally:
        publisher.close()
    [message] = read_topic(settings.bootstrap_servers(), settings.quarantine_topic, expect=1)
    stored = quarantine_read(settings).decode(message.value() or b"")
    assert stored.raw == raw
    assert stored.errors[0].location == "here"


def test_a_batch_is_confirmed_together_in_order(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(topic_partitions=2)
    publisher = KafkaPublisher(settings.bootstrap_servers())
    records = [(b"family-1" if i % 2 else b"family-2", f"v{i}".encode(), None) for i in range(50)]
    try:
        deliveries = asyncio.run(publisher.publish_many(settings.case_events_topic, records))
    finally:
        publisher.close()
    assert len(deliveries) == 50
    stored = read_topic(settings.bootstrap_servers(), settings.case_events_topic, expect=50)
    for key in (b"family-1", b"family-2"):
        sent = [value for k, value, _ in records if k == key]
        assert [m.value() for m in stored if m.key() == key] == sent  # one key's order kept
        assert (
            len({d.partition for d, r in zip(deliveries, records, strict=True) if r[0] == key}) == 1
        )


def test_no_broker_means_an_error_not_an_acknowledgement() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    publisher = KafkaPublisher(f"127.0.0.1:{port}", timeout_s=2, extra_config={"log_level": 0})
    try:
        with pytest.raises(PublishError, match="did not store"):
            asyncio.run(publisher.publish("anything", b"k", b"v"))
        with pytest.raises(PublishError):
            publisher.publish_sync("anything", b"k", b"v")
        with pytest.raises(PublishError, match="did not store"):
            asyncio.run(publisher.publish_many("anything", [(b"k", b"v", None)] * 3))
    finally:
        publisher.close(timeout_s=1)


def test_reports_reach_each_callers_loop(make_settings: Callable[..., Settings]) -> None:
    """Reports are handed over once per poll, grouped by the loop that awaits them (ADR 0046):
    callers on two loops at once (two threads, as the API's and a connector's) each get their
    own records' positions, every one of them, and the log holds what each was told."""
    settings = make_settings()
    publisher = KafkaPublisher(settings.bootstrap_servers())
    topic = settings.case_events_topic
    told: dict[str, list[tuple[bytes, int]]] = {}

    def caller(name: str) -> None:
        async def publish() -> list[tuple[bytes, int]]:
            values = [f"{name}-{i}".encode() for i in range(40)]
            batch = publisher.publish_many(topic, [(b"k", v, None) for v in values[:30]])
            alone = [publisher.publish(topic, b"k", v) for v in values[30:]]
            deliveries = [*await batch, *await asyncio.gather(*alone)]
            return [(v, d.offset) for v, d in zip(values, deliveries, strict=True)]

        told[name] = asyncio.run(publish())

    threads = [threading.Thread(target=caller, args=(name,)) for name in ("a", "b")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        publisher.close()
    stored = {
        m.offset(): m.value() for m in read_topic(settings.bootstrap_servers(), topic, expect=80)
    }
    for name in ("a", "b"):
        assert len(told[name]) == 40
        assert all(stored[offset] == value for value, offset in told[name])
